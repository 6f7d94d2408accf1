"""The feature front-end: STFT power spectrogram, optional band pooling, Hankel extension.

Defined once here and stored in every model file (``SpectrogramParams.to_dict()``), so training,
evaluation, detection and the firmware compute the same features. The chain is the one a Cortex-M
runs with CMSIS-DSP::

    frame n (n_fft samples, hop ``hop``)  x[n*hop : n*hop + n_fft]
      -> multiply by the scaled window     w[k] / sum(w)               (arm_mult_f32)
      -> real FFT                           arm_rfft_fast_f32 (n_fft a power of two, 32..4096)
      -> power |X_f|^2, f = 0..n_fft/2      (arm_cmplx_mag_squared_f32; DC and Nyquist are real)
      -> optional order notch               ``orders_f0``: :func:`notch_orders` (tu_orders_notch_f32)
      -> pooling B @ P                      fixed nonnegative (n_features x n_fft/2+1) matrix
      -> optional log compression           log1p(P / log_floor)

Band layout (``band_matrix``): first the rfft bins whose centre frequency
``f * sample_rate / n_fft`` lies in ``[f_min, f_max]`` are kept (all bins by default). Without
``n_bands`` the matrix is that 0/1 selection (one row per kept bin). With ``n_bands`` the kept
bins are split into ``n_bands`` contiguous, non-overlapping rectangular bands and each band is
the *sum* of the powers of its bins (a 0/1 matrix; every kept bin belongs to exactly one band,
so total power is preserved). ``band_scale="linear"`` gives bands of (nearly) equal numbers of
bins; ``"log"`` places the band edges geometrically between the first and the last kept bin (at
least one bin per band), i.e. finer bands at low frequency.

The Hankel (context) extension H_T of thesis eq. (4.3.1) stacks T consecutive frames per column.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from tinyunfold.errors import ShapeError, TinyUnfoldError, ValueDomainError

WINDOWS = ("hann", "hamming", "rect")
BAND_SCALES = ("linear", "log")
MIN_FFT, MAX_FFT = 32, 4096  # the sizes arm_rfft_fast_f32 supports


class FeatureParamsError(TinyUnfoldError):
    """Front-end parameters that cannot be computed (or not on a Cortex-M)."""


@dataclass(frozen=True)
class SpectrogramParams:
    """Parameters of the STFT power-spectrogram front-end (stored in model files).

    Parameters
    ----------
    sample_rate : int
        Sample rate of the audio in Hz (the features are only valid for this rate).
    n_fft : int
        Frame length = FFT size, a power of two in [32, 4096] (``arm_rfft_fast_f32`` sizes).
    hop : int
        Frame advance in samples, 1 <= hop (hop > n_fft skips samples, which is allowed).
    window : str
        ``"hann"`` (periodic), ``"hamming"`` (periodic) or ``"rect"``.
    n_bands : int or None
        Pool the kept rfft bins into this many rectangular bands (see the module docstring);
        None keeps every bin.
    log : bool
        Apply ``log1p(P / log_floor)`` after pooling (nonnegative, monotone).
    f_min, f_max : float
        Keep only bins with centre frequency in [f_min, f_max] Hz (f_max None = Nyquist).
    band_scale : str
        ``"linear"`` or ``"log"`` band edges (only used with ``n_bands``).
    log_floor : float
        Power level mapped to log1p(1) = 0.69; powers far below it map to ~0.
    orders_f0 : (float, float) or None
        Range in Hz of the fundamental of a machine's orders (its shaft or engine speed times
        the orders per revolution). Given, every frame's orders are tracked and notched out of
        its power before pooling (:func:`notch_orders`); None (default) leaves the power alone.
    orders : int
        Orders (harmonics 1..orders of the fundamental) notched per frame.
    orders_width : int
        Bins notched on each side of an order's sweep (a Hann main lobe is 2 bins wide).
    orders_step : float
        The tracker's grid spacing in Hz over ``orders_f0``.
    orders_gate_db : float
        A frame is notched only when at least half of the orders of its best comb stand this
        many dB above the average comb point (orders present); a hit's few partials do not.
    """

    sample_rate: int
    n_fft: int
    hop: int
    window: str = "hann"
    n_bands: int | None = None
    log: bool = False
    f_min: float = 0.0
    f_max: float | None = None
    band_scale: str = "linear"
    log_floor: float = 1e-8
    orders_f0: tuple[float, float] | None = None
    orders: int = 25
    orders_width: int = 3
    orders_step: float = 0.5
    orders_gate_db: float = 12.0

    def __post_init__(self) -> None:
        if isinstance(self.orders_f0, list):  # a TOML or JSON array
            object.__setattr__(self, "orders_f0", tuple(self.orders_f0))
        validate_params(self)

    @property
    def n_orders_grid(self) -> int:
        """Candidate fundamentals of the order tracker: orders_f0[0] + g * orders_step."""
        if self.orders_f0 is None:
            return 0
        span = (self.orders_f0[1] - self.orders_f0[0]) / self.orders_step
        if not math.isfinite(span) or span > MAX_ORDERS_GRID:  # validate_params refuses it
            return MAX_ORDERS_GRID + 1
        return int(round(span)) + 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (the ``features`` entry of a model file's params)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SpectrogramParams:
        """Inverse of :meth:`to_dict`; unknown keys are an error (a newer format)."""
        if not isinstance(d, dict):
            raise FeatureParamsError(
                f"feature parameters must be a dict, got {type(d).__name__}",
                "store SpectrogramParams.to_dict() in the model params",
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise FeatureParamsError(
                f"unknown feature parameter(s) {unknown}",
                "the model was written by a newer tinyunfold; upgrade tinyunfold",
            )
        missing = [k for k in ("sample_rate", "n_fft", "hop") if k not in d]
        if missing:
            raise FeatureParamsError(
                f"feature parameters lack {missing}",
                "store SpectrogramParams.to_dict() in the model params",
            )
        return cls(**d)

    @property
    def n_bins(self) -> int:
        """Number of rfft bins, n_fft/2 + 1."""
        return self.n_fft // 2 + 1

    @property
    def frame_rate(self) -> float:
        """Frames per second."""
        return self.sample_rate / self.hop

    @property
    def coverage(self) -> float:
        """Share of the audio the frames see: min(1, n_fft / hop). Below 1 the samples between
        two frames are never analysed, so a short hit that starts there is seen only by its
        decaying tail in the next frame."""
        return min(1.0, self.n_fft / self.hop)

    def gap_warning(self) -> str | None:
        """One line when the frames skip audio (:attr:`coverage` < 1), else None."""
        if self.coverage >= 1.0:
            return None
        return (
            f"the front-end frames see {self.coverage:.0%} of the audio (n_fft {self.n_fft} < "
            f"hop {self.hop}): a hit that starts between two frames is seen only by its tail; "
            f"set features.n_fft = features.hop (docs/padnmf.md, 'Frames that skip audio')"
        )


class FrontEndWarning(UserWarning):
    """The front-end configuration loses information a hit detector needs."""


def _fail(cause: str, fix: str) -> None:
    raise FeatureParamsError(cause, fix)


MAX_SAMPLE_RATE = 10_000_000
MAX_HOP = 1 << 20


def _is_int(v: Any) -> bool:
    """An integer that is not a bool (JSON ``true`` must never become 1)."""
    return isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_)


def _is_num(v: Any) -> bool:
    return (_is_int(v) or isinstance(v, float | np.floating)) and math.isfinite(v)


def validate_params(p: SpectrogramParams) -> None:
    """Raise :class:`FeatureParamsError` naming the bad field and the fix (nothing is coerced)."""
    if not _is_int(p.sample_rate) or not 0 < p.sample_rate <= MAX_SAMPLE_RATE:
        _fail(
            f"sample_rate must be an integer in [1, {MAX_SAMPLE_RATE}], got {p.sample_rate!r}",
            "use e.g. 48000",
        )
    n = p.n_fft
    if not _is_int(n) or n < MIN_FFT or n > MAX_FFT or n & (n - 1):
        _fail(
            f"n_fft={n!r} is not a power of two in [{MIN_FFT}, {MAX_FFT}]",
            "arm_rfft_fast_f32 needs a power-of-two size: use 256, 512, 1024, ...",
        )
    if not _is_int(p.hop) or not 1 <= p.hop <= MAX_HOP:
        _fail(f"hop must be an integer in [1, {MAX_HOP}], got {p.hop!r}", "use e.g. n_fft // 2")
    if not isinstance(p.log, bool):
        _fail(f"log must be true or false, got {p.log!r}", "use true or false")
    for name in ("f_min", "f_max", "log_floor"):
        v = getattr(p, name)
        if not (v is None and name == "f_max") and not _is_num(v):
            _fail(f"{name} must be a finite number, got {v!r}", "write a number (Hz)")
    if not isinstance(p.window, str) or p.window not in WINDOWS:
        _fail(f"unknown window {p.window!r}", f"use one of {', '.join(WINDOWS)}")
    if not isinstance(p.band_scale, str) or p.band_scale not in BAND_SCALES:
        _fail(f"unknown band_scale {p.band_scale!r}", f"use one of {', '.join(BAND_SCALES)}")
    nyq = p.sample_rate / 2
    f_max = nyq if p.f_max is None else p.f_max
    if not (0.0 <= p.f_min < f_max <= nyq) or not math.isfinite(p.f_min):
        _fail(
            f"frequency range [f_min={p.f_min}, f_max={p.f_max}] is empty or outside [0, {nyq}]",
            "choose 0 <= f_min < f_max <= sample_rate / 2",
        )
    n_kept = len(kept_bins(p))
    if n_kept == 0:
        _fail(
            f"no rfft bin lies in [{p.f_min}, {f_max}] Hz (bin spacing {p.sample_rate / n} Hz)",
            "widen the frequency range or increase n_fft",
        )
    if p.n_bands is not None:
        if not _is_int(p.n_bands) or p.n_bands < 1:
            _fail(f"n_bands must be a positive integer or None, got {p.n_bands!r}", "e.g. 32")
        if p.n_bands > n_kept:
            _fail(
                f"n_bands={p.n_bands} exceeds the {n_kept} rfft bins in the frequency range",
                "use fewer bands, a larger n_fft or a wider [f_min, f_max]",
            )
    if not (p.log_floor > 0 and math.isfinite(p.log_floor)):
        _fail(f"log_floor must be positive and finite, got {p.log_floor!r}", "use e.g. 1e-8")
    _validate_orders(p, nyq)


MAX_ORDERS, MAX_ORDERS_WIDTH, MAX_ORDERS_GRID = 64, 64, 8192
ORDERS_COARSE = 4  # the order tracker's first pass takes every 4th candidate


def _validate_orders(p: SpectrogramParams, nyq: float) -> None:
    if not _is_int(p.orders) or not 1 <= p.orders <= MAX_ORDERS:
        _fail(f"orders must be an integer in [1, {MAX_ORDERS}], got {p.orders!r}", "use e.g. 25")
    if not _is_int(p.orders_width) or not 0 <= p.orders_width <= MAX_ORDERS_WIDTH:
        _fail(
            f"orders_width must be an integer in [0, {MAX_ORDERS_WIDTH}], got {p.orders_width!r}",
            "use e.g. 3 (bins each side of an order)",
        )
    if not _is_num(p.orders_gate_db) or not 0 <= p.orders_gate_db <= 100:
        _fail(
            f"orders_gate_db must be a number in [0, 100], got {p.orders_gate_db!r}",
            "use e.g. 12 (dB per order above the average comb)",
        )
    if not _is_num(p.orders_step) or not p.orders_step > 0:
        _fail(f"orders_step must be a positive number, got {p.orders_step!r}", "use e.g. 0.5 (Hz)")
    f0 = p.orders_f0
    if f0 is None:
        return
    if not isinstance(f0, tuple) or len(f0) != 2 or not all(_is_num(v) for v in f0):
        _fail(f"orders_f0 must be two numbers [lo, hi] in Hz, got {f0!r}", "e.g. [300, 600]")
    if not 0 < f0[0] < f0[1] < nyq:
        _fail(
            f"orders_f0 = [{f0[0]}, {f0[1]}] is not a range inside (0, {nyq}) Hz",
            "give the lowest and highest fundamental of the orders, lo < hi < sample_rate / 2",
        )
    if not 3 <= p.n_orders_grid <= MAX_ORDERS_GRID:
        _fail(
            f"orders_f0 / orders_step give {p.n_orders_grid} candidate fundamentals",
            f"choose a step that gives 3 to {MAX_ORDERS_GRID} (e.g. 0.5 Hz over a few hundred Hz)",
        )


def kept_bins(p: SpectrogramParams) -> np.ndarray:
    """Indices of the rfft bins whose centre frequency lies in [f_min, f_max]."""
    freqs = np.arange(p.n_fft // 2 + 1) * (p.sample_rate / p.n_fft)
    f_max = p.sample_rate / 2 if p.f_max is None else p.f_max
    return np.flatnonzero((freqs >= p.f_min - 1e-9) & (freqs <= f_max + 1e-9))


def band_edges(p: SpectrogramParams) -> np.ndarray:
    """Band boundaries as rfft bin indices, shape (n_features + 1,).

    Band b holds the bins [e_b, e_{b+1}).
    """
    bins = kept_bins(p)
    lo, n_kept = int(bins[0]), len(bins)
    if p.n_bands is None:
        return np.arange(lo, lo + n_kept + 1)
    nb = int(p.n_bands)
    if p.band_scale == "linear":
        rel = np.round(np.linspace(0, n_kept, nb + 1)).astype(np.int64)
    else:
        # geometric edges between the first and the last kept bin (offset 1 so bin 0 is allowed)
        rel_f = np.geomspace(1.0, n_kept + 1.0, nb + 1) - 1.0
        rel = np.round(rel_f).astype(np.int64)
        rel[0], rel[-1] = 0, n_kept
        for b in range(1, nb + 1):  # at least one bin per band, keep room for the rest
            rel[b] = min(max(rel[b], rel[b - 1] + 1), n_kept - (nb - b))
    return lo + rel


def band_matrix(p: SpectrogramParams) -> np.ndarray:
    """Fixed nonnegative pooling matrix B, shape (n_features(p), n_fft//2 + 1), float64.

    ``features = B @ |rfft|^2``. Entries are 0 or 1; each kept bin is in exactly one row; bins
    outside [f_min, f_max] have an all-zero column.
    """
    e = band_edges(p)
    B = np.zeros((len(e) - 1, p.n_fft // 2 + 1))
    for b in range(len(e) - 1):
        B[b, e[b] : e[b + 1]] = 1.0
    return B


def band_frequencies(p: SpectrogramParams) -> np.ndarray:
    """Centre frequency in Hz of each feature row (mean of its bins' frequencies)."""
    e = band_edges(p)
    df = p.sample_rate / p.n_fft
    return np.array([(e[b] + e[b + 1] - 1) / 2 * df for b in range(len(e) - 1)])


def n_features(p: SpectrogramParams) -> int:
    """Number of feature rows F = n_bands, or the number of kept rfft bins."""
    return len(band_edges(p)) - 1


def window(p: SpectrogramParams) -> np.ndarray:
    """The scaled analysis window w / sum(w), shape (n_fft,), float64 (periodic/DFT-even)."""
    if p.window == "rect":
        w = np.ones(p.n_fft)
    else:
        import scipy.signal  # imported here: it costs seconds at start-up of every command

        w = scipy.signal.get_window(p.window, p.n_fft, fftbins=True)
    return w / np.sum(w)


def n_frames(n_samples: int, p: SpectrogramParams) -> int:
    """Frames from ``n_samples`` samples: 1 + (n_samples - n_fft) // hop (no padding), or 0."""
    if n_samples < p.n_fft:
        return 0
    return 1 + (n_samples - p.n_fft) // p.hop


def power_spectrogram(x: np.ndarray, p: SpectrogramParams) -> np.ndarray:
    """STFT power spectrogram of one signal (see the module docstring for the exact chain).

    Parameters
    ----------
    x : ndarray, shape (n_samples,)
        Audio samples (any float dtype; computed in float64). Needs n_samples >= n_fft.
    p : SpectrogramParams

    Returns
    -------
    ndarray, shape (F, N), float64, nonnegative
        F = n_features(p), N = n_frames(n_samples, p). Frame j starts at sample j * hop.
    """
    x = np.asarray(x)
    if x.ndim != 1:
        raise ShapeError(
            f"power_spectrogram expects a 1-D signal, got shape {x.shape}",
            "pass one mono channel (e.g. audio[:, 0])",
        )
    if not np.issubdtype(x.dtype, np.floating) and not np.issubdtype(x.dtype, np.integer):
        raise ValueDomainError(f"audio has dtype {x.dtype}", "pass real-valued samples")
    x = x.astype(np.float64, copy=False)
    if not np.all(np.isfinite(x)):
        raise ValueDomainError("audio contains NaN or Inf", "clean the recording")
    n = n_frames(len(x), p)
    if n == 0:
        raise ShapeError(
            f"signal of {len(x)} samples is shorter than one frame (n_fft={p.n_fft})",
            "use a longer signal or a smaller n_fft",
        )
    frames = np.lib.stride_tricks.sliding_window_view(x, p.n_fft)[:: p.hop][:n]  # (N, n_fft)
    spec = np.fft.rfft(frames * window(p), axis=1)  # (N, n_fft/2+1)
    power = spec.real**2 + spec.imag**2
    if p.orders_f0 is not None:
        power = notch_orders(power, p)
    B = band_matrix(p)
    out = B @ power.T  # (F, N)
    if p.log:
        out = np.log1p(out / p.log_floor)
    return out


def orders_terms(p: SpectrogramParams, T: Any = np.float64) -> tuple[Any, Any, Any, int, int, int]:
    """The order notch's constants in the arithmetic ``T``: (lo, step, r = n_fft / sample_rate,
    candidates G, orders H, width) — what :func:`notch_orders` computes with and the firmware
    stores (float32)."""
    assert p.orders_f0 is not None
    return (
        T(p.orders_f0[0]),
        T(p.orders_step),
        T(p.n_fft / p.sample_rate),
        p.n_orders_grid,
        int(p.orders),
        int(p.orders_width),
    )


def orders_gate(p: SpectrogramParams, T: Any = np.float64) -> Any:
    """The presence gate of one order in nepers of power: ``orders_gate_db x ln 10 / 10``."""
    return T(p.orders_gate_db * math.log(10.0) / 10.0)


def notch_orders(P: np.ndarray, p: SpectrogramParams, log: Any = np.log) -> np.ndarray:
    """Track each frame's orders and notch them out of its power, frames in order.

    The one definition of the order notch (``orders_f0``); in float64 for the features, and in
    float32 with the shared ``logf`` for the golden reference of ``tu_orders_notch_f32``, whose
    every operation it performs in the C's order (``P.dtype`` sets the arithmetic). Per frame,
    with ``K = n_fft/2 + 1`` bins, ``r = n_fft / sample_rate`` (bins per Hz):

    1. **Track**: ``L_k = ln(P_k + 1e-30)`` (for the bins ``k < min(K, floor(H f_(G-1) r)
       + 2)`` that the sums read); the harmonic sum of candidate ``f_g = lo + g step``,
       ``S_g = Σ_{h=1..H} (1 - w) L_i + w L_(i+1)``, ``i + w = (h f_g) r`` (orders with
       ``i + 1 >= K`` skipped); the first argmax ``g_c`` over every 4th candidate
       (``ORDERS_COARSE``: g = 0, 4, 8, ...), then the first argmax ``g*`` over the candidates
       within 4 of ``g_c``. **Gate**: the orders are present when at least half of the terms
       of ``S_g*`` (the orders in range) stand ``orders_gate_db`` above the average term of
       the first pass, ``m / H + gate`` with ``m`` the mean of its sums (added in ascending
       g): a machine's orders all stand out, a hit's few partials do not make half of a comb.
       Without them the frame is left alone and the sweep's memory cleared. Else ``g*`` is
       kept in ``[1, G - 2]`` and refined by the parabola through ``S_(g*-1), S_g*, S_(g*+1)``
       (offset ``(S_- - S_+) / 2 / (S_- - 2 S_g* + S_+)`` when that curvature is negative,
       clipped to ±1 step): ``f0``.
    2. **Sweep**: the fundamental moves within a frame when the speed ramps; its half-range
       is taken as ``d = |f0 - f0_prev| / 2`` (the previous frame of the same signal or
       stream; 0 on the first).
    3. **Notch**, orders ``h = 1..H`` in turn, in place: bins ``a0 = floor(h (f0 - d) r) -
       width`` to ``a1 = ceil(h (f0 + d) r) + width`` are set to ``min(P_(a0-1), P_(a1+1))``
       (the lower of the power just outside; orders whose notch would touch bin 0 or K - 1 are
       left alone).

    A hit's resonance that sits on an order loses those bins, one that does not keeps all of
    its power; the machine's tonal background loses most of its own (docs/padnmf.md,
    "Where the accuracy goes", item 12).

    Parameters
    ----------
    P : ndarray, shape (N, K), float32 or float64
        Power rows of N consecutive frames (not modified).
    p : SpectrogramParams
        With ``orders_f0`` set.
    log : callable
        Elementwise natural logarithm of ``P``'s dtype (``golden.mathf.logf`` for float32).

    Returns
    -------
    ndarray, shape (N, K)
        The notched powers, P's dtype; the frames are one signal or stream from its start.
    """
    if p.orders_f0 is None:
        return P
    T = P.dtype.type
    Q = np.array(P, copy=True)
    K = Q.shape[1]
    lo, step, r, G, H, wd = orders_terms(p, T)
    gate = orders_gate(p, T)
    grid = lo + np.arange(G).astype(T) * step
    tiny, one, half, two = T(1e-30), T(1.0), T(0.5), T(2.0)
    prev = None  # the previous notched frame's f0
    n_log = min(K, int((T(H) * grid[-1]) * r) + 2)  # the bins the harmonic sums read

    hs = np.arange(1, H + 1).astype(T)

    def terms(g: np.ndarray, L: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Candidates g x orders: the terms (1 - w) L_i + w L_(i+1) of S_g, and which are in
        range (the others are 0)."""
        pos = (hs[None, :] * grid[g][:, None]) * r
        i0 = pos.astype(np.int64)
        ok = i0 + 1 < K
        i0 = np.where(ok, i0, 0)
        w = pos - i0.astype(T)
        return np.where(ok, (one - w) * L[i0] + w * L[i0 + 1], T(0.0)), ok

    def sums(g: np.ndarray, L: np.ndarray) -> np.ndarray:  # S_g, orders added in turn
        return np.cumsum(terms(g, L)[0], axis=1, dtype=T)[:, -1]

    for j in range(Q.shape[0]):
        L = np.asarray(log(Q[j, :n_log] + tiny), dtype=T)
        coarse = np.arange(0, G, ORDERS_COARSE)
        sc = sums(coarse, L)
        gc = int(coarse[np.argmax(sc)])
        mean = np.cumsum(sc, dtype=T)[-1] / T(len(coarse))  # sequential, as the C adds
        fine = np.arange(max(gc - ORDERS_COARSE, 0), min(gc + ORDERS_COARSE, G - 1) + 1)
        k = int(fine[np.argmax(sums(fine, L))])
        e, ok = terms(np.array([k]), L)
        if 2 * int(np.sum(ok & (e >= mean / T(H) + gate))) < int(ok.sum()):  # under half the orders
            prev = None  # stand out: no orders in this frame
            continue
        k = min(max(k, 1), G - 2)
        a, b, c = sums(np.arange(k - 1, k + 2), L)
        den = (a - two * b) + c
        off = T(0.0)
        if den < 0:
            off = min(max((half * (a - c)) / den, T(-1.0)), one)
        f0 = grid[k] + step * off
        d = T(0.0) if prev is None else abs(f0 - prev) * half
        prev = f0
        for h in range(1, H + 1):
            a0 = int(np.floor((T(h) * (f0 - d)) * r)) - wd
            a1 = int(np.ceil((T(h) * (f0 + d)) * r)) + wd
            if a0 < 1 or a1 > K - 2:
                continue
            Q[j, a0 : a1 + 1] = min(Q[j, a0 - 1], Q[j, a1 + 1])
    return Q


def hankel(X: np.ndarray, T: int) -> np.ndarray:
    """Column-wise Hankel (context) extension H_T of thesis eq. (4.3.1).

    Block t (t = 0..T-1, rows ``t*F:(t+1)*F``) of column j holds frame ``j - (T-1) + t`` of X,
    zero when that index is negative: rows are ordered oldest block first, the last block is the
    current frame, and the first T-1 columns are zero-padded on the left::

        H_T(A) = [[0 ... 0  A_1 ... A_{n-T+1}],
                  ...
                  [A_1 A_2 ... A_T ... A_n   ]]                                # eq. (4.3.1)

    Parameters
    ----------
    X : ndarray, shape (..., F, N)
        One spectrogram or a batch (leading axes are kept).
    T : int
        Context length, 1 <= T (T > N is allowed: the missing frames are zeros).

    Returns
    -------
    ndarray, shape (..., F*T, N), same dtype as X
    """
    X = np.asarray(X)
    if X.ndim < 2:
        raise ShapeError(f"hankel expects (..., F, N), got shape {X.shape}", "pass a spectrogram")
    if not isinstance(T, int | np.integer) or T < 1:
        raise ShapeError(f"context length T must be a positive integer, got {T!r}", "e.g. T=7")
    F, N = X.shape[-2:]
    pad = np.zeros(X.shape[:-1] + (T - 1,), dtype=X.dtype)
    Xp = np.concatenate([pad, X], axis=-1)  # (..., F, N+T-1)
    win = np.lib.stride_tricks.sliding_window_view(Xp, T, axis=-1)  # (..., F, N, T): [f,j,t]
    out = np.moveaxis(win, -1, -3)  # (..., T, F, N): [t, f, j] = Xp[f, j + t]
    return np.ascontiguousarray(out).reshape(X.shape[:-2] + (T * F, N))


def unhankel_last(HX: np.ndarray, T: int) -> np.ndarray:
    """Inverse view of :func:`hankel`: the current-frame (last) block, shape (..., F, N)."""
    HX = np.asarray(HX)
    FT = HX.shape[-2]
    if FT % T:
        raise ShapeError(f"{FT} rows are not a multiple of T={T}", "pass hankel(X, T) output")
    F = FT // T
    return HX[..., (T - 1) * F :, :]
