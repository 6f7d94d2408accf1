"""The front-end's golden reference against float64 numpy (two precisions: tolerances are right
here); the firmware's bits are checked in tests/firmware/test_frontend.py."""

import numpy as np

from tinyunfold.features import power_spectrogram
from tinyunfold.golden.hostcmsis import rfft_fast_f32
from tinyunfold.golden.spectrogram import band_sums_f32
from tinyunfold.models.frontend import frontend_model
from tinyunfold.tools.deploy import golden_batch


def test_host_rfft_matches_numpy_numerically():
    x = np.random.default_rng(0).standard_normal((3, 128)).astype(np.float32)
    Y = rfft_fast_f32(x)
    ref = np.fft.rfft(x.astype(np.float64), axis=-1)
    assert np.allclose(Y[:, 0], ref[:, 0].real, atol=1e-4)
    assert np.allclose(Y[:, 1], ref[:, 64].real, atol=1e-4)
    assert np.allclose(Y[:, 2::2], ref[:, 1:64].real, atol=1e-4)
    assert np.allclose(Y[:, 3::2], ref[:, 1:64].imag, atol=1e-4)


def test_band_sums_are_sequential():
    P = np.random.default_rng(1).random((2, 9)).astype(np.float32)
    edges = np.array([0, 1, 4, 9])
    out = band_sums_f32(P, edges)
    for b in range(3):
        acc = np.zeros(2, np.float32)
        for k in range(edges[b], edges[b + 1]):
            acc = (acc + P[:, k]).astype(np.float32)
        assert np.array_equal(out[:, b], acc)


def test_golden_front_end_close_to_float64(front_end, frames_of):
    p = front_end
    m = frontend_model(p)
    x = frames_of(p, 0)[0]
    f64 = power_spectrogram(x.astype(np.float64), p)[:, 0]
    assert np.allclose(golden_batch(m, x[None])[0], f64, rtol=1e-5, atol=1e-7 * f64.max())
