"""The feature front-end on the boards: window, arm_rfft_fast_f32, power, band sums — bit-exact
with the golden reference, which reaches the rfft through the host build of the same CMSIS-DSP."""

import numpy as np
import pytest

from tinyunfold.codegen import generate
from tinyunfold.errors import ModelFileError
from tinyunfold.features import SpectrogramParams
from tinyunfold.models.frontend import frontend_model
from tinyunfold.tools.deploy import check_model

PARAMS = [
    SpectrogramParams(sample_rate=8000, n_fft=256, hop=128),
    SpectrogramParams(sample_rate=16000, n_fft=512, hop=256, n_bands=24, band_scale="log"),
    SpectrogramParams(sample_rate=48000, n_fft=64, hop=32, window="hamming", n_bands=5,
                      f_min=1000.0, f_max=20000.0),
]  # fmt: skip


def _frames(p, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(p.n_fft) / p.sample_rate
    tone = np.sin(2 * np.pi * 1234.5 * t)
    return np.stack([rng.standard_normal(p.n_fft), tone, np.zeros(p.n_fft)]).astype(np.float32)


@pytest.mark.parametrize("board", ["mps2-an386", "mps2-an500", "host"])
@pytest.mark.parametrize("p", PARAMS, ids=lambda p: f"n{p.n_fft}-b{p.n_bands}")
def test_front_end_firmware_bits(board, p):
    res = check_model(frontend_model(p), board, _frames(p, 1))
    assert np.array_equal(res.outputs.view(np.uint32), res.reference.view(np.uint32))


def test_log_features_are_refused_by_codegen():
    p = SpectrogramParams(sample_rate=8000, n_fft=256, hop=128, log=True)
    with pytest.raises(ModelFileError, match="log compression"):
        generate(frontend_model(p))
