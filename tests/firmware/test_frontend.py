"""The feature front-end on the boards: window, arm_rfft_fast_f32, power, band sums — bit-exact
with the golden reference, which reaches the rfft through the host build of the same CMSIS-DSP."""

import numpy as np
import pytest

from tinyunfold.codegen import generate
from tinyunfold.errors import ModelFileError
from tinyunfold.features import SpectrogramParams
from tinyunfold.models.frontend import frontend_model
from tinyunfold.tools.deploy import check_model


@pytest.mark.parametrize("board", ["mps2-an386", "mps2-an500", "stm32f405", "host"])
def test_front_end_firmware_bits(board, front_end, frames_of):
    res = check_model(frontend_model(front_end), board, frames_of(front_end, 1))
    assert np.array_equal(res.outputs.view(np.uint32), res.reference.view(np.uint32))


def test_log_features_are_refused_by_codegen():
    p = SpectrogramParams(sample_rate=8000, n_fft=256, hop=128, log=True)
    with pytest.raises(ModelFileError, match="log compression"):
        generate(frontend_model(p))


def _orders_front_end():
    """A 16 kHz front-end with the order notch, and six consecutive frames of its stream: ten
    orders (amplitude 1/sqrt(h)) of a fundamental ramping 140 -> 150 Hz, a 1234.5 Hz tone between orders 8 and 9,
    faint noise; frame 3 is the tone and the noise alone (no orders: the gate leaves it
    alone) (float32, (6, n_fft))."""
    p = SpectrogramParams(sample_rate=16000, n_fft=512, hop=512, n_bands=24, band_scale="log",
                          orders_f0=(100.0, 200.0), orders=10, orders_width=2)  # fmt: skip
    n = 6 * p.n_fft
    t = np.arange(n) / p.sample_rate
    phase = 2 * np.pi * np.cumsum(140.0 + 10.0 * t / t[-1]) / p.sample_rate
    x = sum(np.sin(h * phase) / np.sqrt(h) for h in range(1, 11)) + 0.3 * np.sin(
        2 * np.pi * 1234.5 * t
    )
    x = x + 0.01 * np.random.default_rng(0).standard_normal(n)
    quiet = slice(3 * p.n_fft, 4 * p.n_fft)
    x[quiet] = 0.3 * np.sin(2 * np.pi * 1234.5 * t[quiet]) + 0.01 * np.random.default_rng(
        1
    ).standard_normal(p.n_fft)
    return p, x.astype(np.float32).reshape(6, p.n_fft)


@pytest.mark.parametrize("board", ["mps2-an386", "mps2-an500", "stm32f405", "host"])
def test_order_notch_firmware_bits(board):
    """tu_orders_notch_f32 in the front-end (tracked, swept, notched, state carried from frame to
    frame) equals the golden's bits on every board, and the check is not vacuous: the notch
    takes the orders out (the output differs from the plain front-end's by > 20 dB) and leaves
    the frame without orders as it is (the gate), and a golden that forgets the previous frame
    (no sweep), notches one bin less or gates at 40 dB does not match."""
    from dataclasses import replace

    from tinyunfold.golden import spectrogram as gspec

    p, frames = _orders_front_end()
    res = check_model(frontend_model(p), board, frames)
    bits = res.outputs.view(np.uint32)
    assert np.array_equal(bits, res.reference.view(np.uint32))
    plain = gspec.frame_power_f32(gspec.constants(replace(p, orders_f0=None)), frames)
    out = res.outputs.reshape(plain.shape)
    keep = [0, 1, 2, 4, 5]
    assert 10 * np.log10(plain[keep].sum() / out[keep].sum()) > 20.0
    gated = [np.array_equal(out[j].view(np.uint32), plain[j].view(np.uint32)) for j in range(6)]
    assert gated == [False, False, False, True, False, False]
    gated_out = gspec.frame_power_f32(gspec.constants(replace(p, orders_gate_db=40.0)), frames)
    stateless = np.stack([gspec.frame_power_f32(gspec.constants(p), f[None])[0] for f in frames])
    narrower = gspec.frame_power_f32(gspec.constants(replace(p, orders_width=1)), frames)
    for wrong in (stateless, narrower, gated_out):
        assert not np.array_equal(bits.reshape(wrong.shape), wrong.view(np.uint32))
