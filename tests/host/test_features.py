"""The feature front-end (tinyunfold.features): STFT power, band pooling, Hankel H_T (4.3.1)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from tinyunfold.features import (
    FeatureParamsError,
    SpectrogramParams,
    band_edges,
    band_frequencies,
    band_matrix,
    hankel,
    n_features,
    n_frames,
    power_spectrogram,
    unhankel_last,
    window,
)

PIANO = Path(__file__).resolve().parents[3] / "shared" / "external" / "padnmf-piano"


def _direct_power(x: np.ndarray, n_fft: int, hop: int, w: np.ndarray) -> np.ndarray:
    """Textbook STFT power: explicit frames and an explicit DFT matrix (no rfft)."""
    k = np.arange(n_fft)
    f = np.arange(n_fft // 2 + 1)
    D = np.exp(-2j * np.pi * np.outer(f, k) / n_fft)  # (F, n_fft)
    cols = []
    start = 0
    while start + n_fft <= len(x):
        cols.append(np.abs(D @ (w * x[start : start + n_fft])) ** 2)
        start += hop
    return np.array(cols).T


@pytest.mark.parametrize("win", ["hann", "hamming", "rect"])
def test_power_spectrogram_matches_direct_dft(win: str) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal(1000)
    p = SpectrogramParams(sample_rate=8000, n_fft=128, hop=48, window=win)
    n = np.arange(128)
    raw = {
        "hann": 0.5 - 0.5 * np.cos(2 * np.pi * n / 128),  # periodic (DFT-even) Hann
        "hamming": 0.54 - 0.46 * np.cos(2 * np.pi * n / 128),
        "rect": np.ones(128),
    }[win]
    np.testing.assert_allclose(window(p), raw / raw.sum(), rtol=1e-12, atol=1e-15)
    P = power_spectrogram(x, p)
    ref = _direct_power(x, 128, 48, raw / raw.sum())
    assert P.shape == ref.shape == (65, n_frames(1000, p)) == (65, 1 + (1000 - 128) // 48)
    assert P.dtype == np.float64
    np.testing.assert_allclose(P, ref, rtol=1e-9, atol=1e-15 * ref.max())


def test_power_spectrogram_sine_value() -> None:
    # A bin-centred sine of amplitude a, rectangular window scaled by 1/n_fft: power (a/2)^2 in
    # its bin and ~0 elsewhere; with Hann the neighbours carry (a/4)^2.
    fs, n_fft, a, b = 16000, 256, 0.3, 19
    t = np.arange(4096) / fs
    x = a * np.sin(2 * np.pi * b * fs / n_fft * t + 0.4)
    P = power_spectrogram(x, SpectrogramParams(fs, n_fft, 128, window="rect"))
    np.testing.assert_allclose(P[b], (a / 2) ** 2, rtol=1e-9)
    assert np.delete(P, b, axis=0).max() < 1e-20
    Ph = power_spectrogram(x, SpectrogramParams(fs, n_fft, 128, window="hann"))
    np.testing.assert_allclose(Ph[b], (a / 2) ** 2, rtol=1e-9)
    np.testing.assert_allclose(Ph[[b - 1, b + 1]], (a / 4) ** 2, rtol=1e-9)


def test_band_pooling_and_log() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal(3000)
    full = SpectrogramParams(16000, 256, 100)
    pooled = SpectrogramParams(16000, 256, 100, n_bands=16, log=True, log_floor=1e-6)
    P = power_spectrogram(x, full)
    Q = power_spectrogram(x, pooled)
    assert Q.shape == (16, P.shape[1]) and n_features(pooled) == 16
    np.testing.assert_allclose(Q, np.log1p(band_matrix(pooled) @ P / 1e-6), rtol=1e-12)
    assert np.all(Q >= 0)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"n_bands": 48},
        {"n_bands": 48, "band_scale": "log"},
        {"n_bands": 7, "f_min": 300.0, "f_max": 5000.0},
        {"f_min": 1000.0, "f_max": 2000.0},
        {"n_bands": 513},
        {"n_bands": 1},
    ],
)
def test_band_matrix_properties(kw: dict) -> None:
    p = SpectrogramParams(sample_rate=48000, n_fft=1024, hop=512, **kw)
    B = band_matrix(p)
    F = n_features(p)
    assert B.shape == (F, 513)
    assert set(np.unique(B)) <= {0.0, 1.0}
    freqs = np.arange(513) * 48000 / 1024
    f_max = kw.get("f_max", 24000.0)
    inside = (freqs >= kw.get("f_min", 0.0)) & (freqs <= f_max)
    # every kept bin in exactly one band, every other bin in none
    np.testing.assert_array_equal(B.sum(axis=0), inside.astype(float))
    # every band non-empty and contiguous, bands ordered by frequency
    assert np.all(B.sum(axis=1) >= 1)
    first = np.argmax(B > 0, axis=1)
    last = 512 - np.argmax(B[:, ::-1] > 0, axis=1)
    np.testing.assert_array_equal(last - first + 1, B.sum(axis=1))
    assert np.all(np.diff(first) > 0)
    if "n_bands" in kw:
        assert F == kw["n_bands"]
        widths = B.sum(axis=1)
        if kw.get("band_scale", "linear") == "linear":
            assert widths.max() - widths.min() <= 1
        else:
            assert widths[-1] > 10 * widths[0]  # geometric: much wider at the top
    else:
        assert F == inside.sum()
    e = band_edges(p)
    assert len(e) == F + 1
    fc = band_frequencies(p)
    assert np.all(np.diff(fc) > 0) and fc[0] >= kw.get("f_min", 0.0) - 1e-9


@pytest.mark.parametrize(
    "kw, word",
    [
        ({"n_fft": 1000}, "power of two"),
        ({"n_fft": 16}, "power of two"),
        ({"n_fft": 8192}, "power of two"),
        ({"hop": 0}, "hop"),
        ({"window": "blackman"}, "window"),
        ({"n_bands": 0}, "n_bands"),
        ({"n_bands": 600}, "exceeds"),
        ({"f_min": 5000.0, "f_max": 4000.0}, "frequency range"),
        ({"f_max": 30000.0}, "frequency range"),
        ({"f_min": 100.0, "f_max": 110.0}, "no rfft bin"),
        ({"band_scale": "mel"}, "band_scale"),
        ({"sample_rate": 0}, "sample_rate"),
        ({"log_floor": 0.0}, "log_floor"),
        ({"orders_f0": (600.0, 300.0)}, "orders_f0"),
        ({"orders_f0": (300.0, 30000.0)}, "orders_f0"),
        ({"orders_f0": (300.0, 400.0, 500.0)}, "orders_f0"),
        ({"orders_f0": (float("nan"), 400.0)}, "orders_f0"),
        ({"orders_f0": "300-600"}, "orders_f0"),
        ({"orders_f0": (300.0, 600.0), "orders_step": 1e-6}, "candidate"),
        ({"orders_f0": (300.0, 600.0), "orders_step": 5e-324}, "candidate"),
        ({"orders": 0}, "orders"),
        ({"orders": True}, "orders"),
        ({"orders_width": -1}, "orders_width"),
        ({"orders_step": 0.0}, "orders_step"),
    ],
)
def test_bad_params_are_clear_errors(kw: dict, word: str) -> None:
    args = {"sample_rate": 48000, "n_fft": 1024, "hop": 256} | kw
    with pytest.raises(FeatureParamsError, match=word) as ei:
        SpectrogramParams(**args)
    assert ei.value.fix  # every error says how to fix it


def test_params_roundtrip_through_json() -> None:
    p = SpectrogramParams(44100, 2048, 441, "hamming", 40, True, 50.0, 16000.0, "log", 1e-9)
    d = json.loads(json.dumps(p.to_dict()))
    assert SpectrogramParams.from_dict(d) == p
    with pytest.raises(FeatureParamsError, match="unknown"):
        SpectrogramParams.from_dict(d | {"mel": True})
    with pytest.raises(FeatureParamsError, match="lack"):
        SpectrogramParams.from_dict({"sample_rate": 8000})
    q = SpectrogramParams(48000, 4096, 4096, orders_f0=[300, 600.5], orders=12)  # a TOML array
    assert q.orders_f0 == (300, 600.5) and q.n_orders_grid == 602
    assert SpectrogramParams.from_dict(json.loads(json.dumps(q.to_dict()))) == q


def _orders_signal(n: int, fs: int, hit: bool) -> tuple[np.ndarray, np.ndarray]:
    """(background, hit): ten orders of a fundamental ramping 140 -> 154 Hz over the signal,
    and a decaying 3000 Hz hit from the middle on (above the orders)."""
    t = np.arange(n) / fs
    phase = 2 * np.pi * np.cumsum(140.0 + 14.0 * t / t[-1]) / fs
    bg = sum(np.sin(h * phase + h) / h for h in range(1, 11))
    bg = bg + 1e-4 * np.random.default_rng(1).standard_normal(n)
    tail = np.clip(t - t[n // 2], 0.0, None)
    x = 0.05 * np.exp(-tail / 0.05) * np.sin(2 * np.pi * 3000.0 * tail) * (t >= t[n // 2])
    return bg, x if hit else 0 * x


@pytest.mark.parametrize("f0, removed", [((100.0, 200.0), True), ((300.0, 400.0), False)])
def test_order_notch_takes_the_orders_keeps_the_hit(f0, removed) -> None:
    """``orders_f0``: a ramping series of orders loses > 20 dB of its power while a hit above
    them keeps its band energy to 0.1 dB; a range that misses the fundamental removes
    little (< 6 dB): the notch follows the track, not a fixed comb."""
    fs, n = 16000, 16 * 1024
    kw = {"sample_rate": fs, "n_fft": 1024, "hop": 1024, "n_bands": 32, "band_scale": "log"}
    p0, p = SpectrogramParams(**kw), SpectrogramParams(**kw, orders_f0=f0, orders=10)
    bg, hit = _orders_signal(n, fs, True)
    cut = 10 * np.log10(power_spectrogram(bg, p0).sum() / power_spectrogram(bg, p).sum())
    assert (cut > 20.0) if removed else (cut < 6.0), cut
    if removed:
        b = int(np.argmin(np.abs(band_frequencies(p) - 3000.0)))
        kept = power_spectrogram(bg + hit, p)[b].sum() - power_spectrogram(bg, p)[b].sum()
        alone = power_spectrogram(hit, p0)[b].sum()
        assert abs(10 * np.log10(kept / alone)) < 0.1


def test_order_notch_golden_is_the_float32_of_the_features() -> None:
    """The golden front-end (float32, shared logf, the C's order) notches what the float64
    features notch: the same bands to float32 rounding."""
    from tinyunfold.golden import spectrogram as gspec

    fs = 16000
    p = SpectrogramParams(fs, 1024, 1024, n_bands=32, band_scale="log", orders_f0=(100.0, 200.0),
                          orders=10)  # fmt: skip
    bg, hit = _orders_signal(16 * 1024, fs, True)
    x = (bg + hit).astype(np.float32)
    want = power_spectrogram(x, p)
    got = gspec.frame_power_f32(gspec.constants(p), x.reshape(16, 1024)).T
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-6 * want.max())


def test_short_or_bad_signal() -> None:
    p = SpectrogramParams(8000, 256, 128)
    with pytest.raises(Exception, match="shorter than one frame"):
        power_spectrogram(np.zeros(100), p)
    with pytest.raises(Exception, match="1-D"):
        power_spectrogram(np.zeros((300, 2)), p)
    with pytest.raises(Exception, match="NaN"):
        power_spectrogram(np.full(300, np.nan), p)
    assert power_spectrogram(np.zeros(256), p).shape == (129, 1)


def _hankel_loop(X: np.ndarray, T: int) -> np.ndarray:
    F, N = X.shape
    H = np.zeros((F * T, N), dtype=X.dtype)
    for j in range(N):
        for t in range(T):
            src = j - (T - 1) + t
            if src >= 0:
                H[t * F : (t + 1) * F, j] = X[:, src]
    return H


@pytest.mark.parametrize("F, N, T", [(3, 5, 1), (4, 9, 3), (5, 7, 7), (2, 3, 5), (6, 1, 2)])
def test_hankel_matches_loop(F: int, N: int, T: int) -> None:
    X = np.random.default_rng(3).random((F, N))
    H = hankel(X, T)
    assert H.shape == (F * T, N)
    np.testing.assert_array_equal(H, _hankel_loop(X, T))
    np.testing.assert_array_equal(unhankel_last(H, T), X)
    # batched input: each item extended independently
    Xb = np.random.default_rng(4).random((3, F, N)).astype(np.float32)
    Hb = hankel(Xb, T)
    assert Hb.shape == (3, F * T, N) and Hb.dtype == np.float32
    for b in range(3):
        np.testing.assert_array_equal(Hb[b], _hankel_loop(Xb[b], T))


def test_hankel_eq_4_3_1_layout() -> None:
    # (4.3.1) with m'=1, n=4, T=3: rows oldest block first, zeros on the left.
    A = np.array([[1.0, 2.0, 3.0, 4.0]])
    expected = np.array(
        [
            [0.0, 0.0, 1.0, 2.0],  # 0 ... 0 A_1 ... A_{n-T+1}
            [0.0, 1.0, 2.0, 3.0],
            [1.0, 2.0, 3.0, 4.0],  # A_1 A_2 ... A_n (current frame last)
        ]
    )
    np.testing.assert_array_equal(hankel(A, 3), expected)
    with pytest.raises(Exception, match="positive integer"):
        hankel(A, 0)


def test_hankel_reproduces_the_published_piano_forward_pass() -> None:
    """The authors' forward pass (padnmf-piano README) on one training mixture with our H_T.

    Any other block order or padding side gives a different H^(K); the reference is the
    authors' own float64 output.
    """
    assert PIANO.is_dir(), f"published piano data missing: {PIANO}"
    W = scipy.io.loadmat(PIANO / "NetWeights_ARM.mat")["NetWeights"]
    X = scipy.io.loadmat(PIANO / "TrainingSetPiano_ARM.mat")["TrainingSet"][0, 0].astype(float)
    ref = np.load(PIANO / "reference_outputs_float64.npz")["train_H_final"][0]
    K, C, T, eps = 1000, 3, 7, 1e-16

    def forward(Xh: np.ndarray) -> np.ndarray:
        H = np.ones((77, 7))
        layers = [W[0, 0]] * (K - C) + [W[0, 1], W[0, 2]]
        for Wk in layers:  # H <- max(eps, H * W'(X / (W H + eps)) / sum(W)')
            H = np.maximum(eps, H * (Wk.T @ (Xh / (Wk @ H + eps))) / Wk.sum(axis=0)[:, None])
        return H

    H = forward(hankel(X, T))
    assert np.max(np.abs(H - ref) / ref) < 1e-9
    # the newest-block-first order (a plausible mistake) does not reproduce it
    Hrev = hankel(X, T).reshape(T, 143, 7)[::-1].reshape(T * 143, 7)
    assert np.max(np.abs(forward(Hrev) - ref) / ref) > 1e-3


def test_order_gate_leaves_a_clean_hit_alone() -> None:
    """A hit without orders (a template: four inharmonic modes over a faint floor) is not
    notched: fewer than half of the orders of its best comb stand out; the same hit over a
    machine's ten orders is (the gate opens where orders are)."""
    fs, n = 16000, 8 * 1024
    t = np.arange(n) / fs
    modes = (523.0, 1187.0, 2071.0, 2950.0)
    hit = sum(np.exp(-t / 0.1) * np.sin(2 * np.pi * f * t) for f in modes)
    hit = hit + 1e-3 * np.random.default_rng(0).standard_normal(n)
    kw = {"sample_rate": fs, "n_fft": 1024, "hop": 1024}
    p0, p = SpectrogramParams(**kw), SpectrogramParams(**kw, orders_f0=(100.0, 500.0), orders=10)
    assert np.array_equal(power_spectrogram(hit, p), power_spectrogram(hit, p0))
    orders = sum(0.1 * np.sin(2 * np.pi * 150.0 * h * t) for h in range(1, 11))
    changed = np.any(power_spectrogram(hit + orders, p) != power_spectrogram(hit + orders, p0), 0)
    assert changed.all()
