"""Engine orders out before the readout looks: an order-tracking canceller, measured (issue 11).

docs/padnmf.md, "Where the accuracy goes", item 11. A machine's background is largely its engine
orders: harmonics h f0(t) of a speed that may change within a window (dataset2-hard: 25 orders of
a 445 Hz fundamental, the speed ramping linearly by up to ±15% across each window). Item 9 found
the fine features lost to unseen backgrounds, item 10 that most of a weak hit's information sits
where those backgrounds are quiet. This script removes the orders from each window, tracked in
that window alone, and asks what the shipped readout's decision reaches on what is left:

1. **Track** (:func:`track_f0`): the window's STFT (8192-sample frames at 48 kHz, hop 2048), in each frame the
   f0 on a 0.25 Hz grid over ``--f0 LO HI`` whose harmonics 1..H collect the most log power
   (linear interpolation between bins, a parabola through the best three grid points), then a
   polynomial of degree 2 in time fitted to the frames' f0 (a linear speed ramp is its f' term).
2. **Cancel** (:func:`cancel_orders`): the phase φ(t) = 2π ∫ f0 is integrated from the
   polynomial; each order h is demodulated, x(t) e^{-i h φ(t)}, averaged over blocks of
   ``--block`` seconds, the block means smoothed by a Hann window of ``--smooth`` seconds (its
   amplitude and phase may drift as the order sweeps through a resonance; 20 ms passes about
   ±40 Hz around each order, -7.5 dB at 50 Hz), interpolated linearly back to every sample,
   and 2 Re(·e^{i h φ}) subtracted. The blocks alias: what lies 1/block Hz from an order is
   subtracted too, at -44 dB with 0.25 ms blocks (at -33 dB with 1 ms blocks, which cost the
   loud hits of one draw 8 points).
   Given the track the operation is linear, so the same one applied to a mixture's stem tells
   how much of the hit it keeps.
3. **Screen** (``--screen N``): the shipped readout's input and decision (128 log band energies
   of n_fft = hop = 4096, each band's excess over the no-hit training windows in their standard
   deviations clipped at ±10; one multinomial logistic regression over label sets of ≤ 2
   classes, argmax), fitted on the dataset's training recordings + N synthetic mixtures (the
   shipped options: the unit's own clean hits as templates, ±12 dB gains, stretched
   backgrounds), once on the windows as they are and once with the orders cancelled in every
   window (training and test alike); set-exact % on the test split, per SNR, two-hit, false
   positives on no-hit mixtures. It also prints how many dB of the test backgrounds (a mixture
   minus its stem) the canceller removes.

4. **Product** (``cli [--f0 LO HI] [--harmonics H] [--smooth S] [--block B] -- ARGS``):
   ``tinyunfold ARGS`` with the orders cancelled in every window before its spectrogram
   (:func:`orders_out_front_end`: the recorded and synthetic training windows, the readout's
   and the evaluation's alike), so a shipped configuration is trained and evaluated as it
   would run behind the canceller.

Host only and one-off: the canceller is not in any model's front-end and does not run on the
device (docs/padnmf.md, "Not done"); a model trained through ``cli`` is only meaningful when
evaluated through ``cli``.

    python examples/diagnostics/order_cancel.py data/d2h16 --screen 2000     # ~10 min, 2 cores
    python examples/diagnostics/order_cancel.py cli -- train padnmf --dataset data/d2h16 \
        --config examples/padnmf/dataset2-hard-deploy.toml --out oc.tum        # 16-25 min
    python examples/diagnostics/order_cancel.py cli -- evaluate --model oc.tum \
        --dataset data/d2h16 --out rep_oc
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import multiprocessing
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import scipy.signal

sys.path.insert(0, str(Path(__file__).resolve().parent))


def track_f0(
    x: np.ndarray,
    fs: float,
    f0_range: tuple[float, float],
    n_harmonics: int,
    frame_s: float = 0.17,
    degree: int = 2,
) -> np.ndarray:
    """The fundamental of ``x``'s orders over time, as polynomial coefficients (np.polyval
    order, time in seconds from the first sample). Frames of the power of two nearest
    ``frame_s`` seconds (8192 samples at 48 kHz), hop a quarter of that."""
    n_fft = min(2 ** int(round(np.log2(frame_s * fs))), len(x))
    hop = max(1, n_fft // 4)
    f, t, Z = scipy.signal.stft(
        x, fs, nperseg=n_fft, noverlap=n_fft - hop, boundary=None, padded=False
    )
    L = np.log(np.abs(Z) ** 2 + 1e-30)
    step = 0.25
    grid = np.arange(f0_range[0], f0_range[1] + step / 2, step)
    score = np.zeros((len(grid), L.shape[1]))
    for h in range(1, n_harmonics + 1):
        idx = h * grid / f[1]
        ok = idx < len(f) - 1
        i0 = np.floor(idx[ok]).astype(int)
        w = (idx[ok] - i0)[:, None]
        score[ok] += (1 - w) * L[i0] + w * L[i0 + 1]
    k = np.clip(np.argmax(score, 0), 1, len(grid) - 2)
    cols = np.arange(score.shape[1])
    a, b, c = score[k - 1, cols], score[k, cols], score[k + 1, cols]
    den = a - 2 * b + c
    off = np.where(den < 0, 0.5 * (a - c) / np.where(den == 0, 1.0, den), 0.0)
    f0 = grid[k] + step * np.clip(off, -1.0, 1.0)
    deg = min(degree, len(f0) - 1)
    return np.polyfit(t, f0, deg)


def cancel_orders(
    x: np.ndarray,
    fs: float,
    poly: np.ndarray,
    n_harmonics: int,
    smooth_s: float = 0.02,
    also: np.ndarray | None = None,
    block_s: float = 0.00025,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``x`` without its orders 1..H along the track ``poly`` (see :func:`track_f0`), and the
    same linear operation applied to ``also`` (e.g. the mixture's stem) when given.

    Each order's demodulated signal is averaged over blocks of ``block_s`` seconds, the block
    means smoothed by a Hann window of ``smooth_s`` seconds (normalised at the window's edges),
    and interpolated linearly back to every sample."""
    n = len(x)
    tt = np.arange(n) / fs
    P = np.polyint(poly)
    phi = 2 * np.pi * (np.polyval(P, tt) - np.polyval(P, 0.0))
    top = float(np.max(np.polyval(poly, tt)))
    H = int(min(n_harmonics, np.ceil((fs / 2 - 2.0 / smooth_s) / top) - 1))
    B = max(1, int(round(block_s * fs)))
    nb = -(-n // B)
    L = max(3, int(round(smooth_s / (B / fs))) | 1)
    win = np.hanning(L + 2)[1:-1]
    block = np.arange(n) // B
    counts = np.bincount(block, minlength=nb).astype(float)
    norm = np.convolve(counts, win, "same")
    centre_of_block = np.bincount(block, weights=np.arange(n), minlength=nb) / counts
    base = np.exp(-1j * phi)
    outs: list[np.ndarray] = []
    for v in [x] if also is None else [x, also]:
        v = np.asarray(v, dtype=np.float64)
        r = v.copy()
        e = np.ones(n, dtype=complex)
        for _h in range(H):
            e = e * base
            y = v * e
            re = np.bincount(block, weights=y.real, minlength=nb)
            sums = re + 1j * np.bincount(block, weights=y.imag, minlength=nb)
            d = np.convolve(sums, win, "same") / norm
            dr = np.interp(np.arange(n), centre_of_block, d.real)
            di = np.interp(np.arange(n), centre_of_block, d.imag)
            r -= 2.0 * (dr * e.real + di * e.imag)  # 2 Re(d conj(e))
        outs.append(r)
    return outs[0], (outs[1] if also is not None else None)


def orders_out(
    x: np.ndarray,
    fs: float,
    f0_range: tuple[float, float] = (300.0, 600.0),
    n_harmonics: int = 25,
    smooth_s: float = 0.02,
    block_s: float = 0.00025,
    frame_s: float = 0.17,
) -> np.ndarray:
    """``x`` without its orders, tracked in ``x`` alone (:func:`track_f0`, :func:`cancel_orders`)."""
    poly = track_f0(x, fs, f0_range, n_harmonics, frame_s)
    return cancel_orders(x, fs, poly, n_harmonics, smooth_s, block_s=block_s)[0]


class Canceller:
    """Picklable per-window job: track, cancel, band energies (for a process pool)."""

    def __init__(self, args: argparse.Namespace, fs: float, fe: Any):
        self.fs, self.f0, self.harmonics = fs, tuple(args.f0), args.harmonics
        self.smooth, self.frame, self.fe = args.smooth, args.track_frame, fe
        self.block = args.block

    def track(self, x: np.ndarray) -> np.ndarray:
        return track_f0(x, self.fs, self.f0, self.harmonics, self.frame)  # type: ignore[arg-type]

    def clean(self, x: np.ndarray) -> np.ndarray:
        return orders_out(
            x,
            self.fs,
            self.f0,
            self.harmonics,
            self.smooth,
            self.block,
            self.frame,  # type: ignore[arg-type]
        )

    def energies(self, args: tuple[np.ndarray, bool]) -> np.ndarray:
        from tinyunfold.features import power_spectrogram

        x, cancel = args
        return power_spectrogram(self.clean(x) if cancel else x, self.fe).sum(1)


@contextlib.contextmanager
def orders_out_front_end(
    f0_range: tuple[float, float] = (300.0, 600.0),
    n_harmonics: int = 25,
    smooth_s: float = 0.02,
    block_s: float = 0.00025,
) -> Iterator[None]:
    """Within the block every spectrogram the pipelines take (``datasets.prep.spectrogram``:
    training, synthetic and evaluation windows) is taken of the window with its orders
    cancelled (:func:`track_f0` on that window, then :func:`cancel_orders`)."""
    import tinyunfold.datasets.prep as prep

    original = prep.power_spectrogram

    def spectrogram(x: np.ndarray, p: Any) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            x = orders_out(x, p.sample_rate, f0_range, n_harmonics, smooth_s, block_s)
        return original(x, p)

    prep.power_spectrogram = spectrogram
    try:
        yield
    finally:
        prep.power_spectrogram = original


def _cli(argv: list[str]) -> int:
    """``cli [canceller options] -- ARGS``: ``tinyunfold ARGS`` behind the canceller."""
    from tinyunfold.cli import main as tinyunfold_main

    if "--" not in argv:
        raise SystemExit("cli: put `--` before the tinyunfold arguments (cli -- train padnmf ...)")
    cut = argv.index("--")
    ap = argparse.ArgumentParser(prog="order_cancel.py cli")
    opts = _canceller_options(ap).parse_args(argv[:cut])
    _check_f0(opts.f0)
    with orders_out_front_end(tuple(opts.f0), opts.harmonics, opts.smooth, opts.block):
        return tinyunfold_main(argv[cut + 1 :])


def _canceller_options(ap: argparse.ArgumentParser) -> argparse.ArgumentParser:
    ap.add_argument(
        "--f0",
        type=float,
        nargs=2,
        default=(300.0, 600.0),
        metavar=("LO", "HI"),
        help="range of the orders' fundamental in Hz (default 300 600: dataset2's engine, "
        "445 Hz ± 30%%)",
    )
    ap.add_argument("--harmonics", type=int, default=25, help="orders to cancel (default 25)")
    ap.add_argument("--smooth", type=float, default=0.02, help="Hann smoother, s (default 0.02)")
    ap.add_argument(
        "--block", type=float, default=0.00025, help="demodulated blocks, s (default 0.00025)"
    )
    return ap


def _check_f0(f0: Any) -> None:
    if not f0[0] > 0 or not f0[1] > f0[0]:
        raise SystemExit(f"--f0 {f0[0]:g} {f0[1]:g}: need 0 < LO < HI (Hz)")


def _readout(F_tr: np.ndarray, y_tr: np.ndarray, n_sets: int, l2: float, clip: float) -> Any:
    """The readout's input map and a fitted multinomial regression over the label sets."""
    import torch
    from linear_probe import lbfgs_fit

    mu, sd = F_tr.mean(0), F_tr.std(0) + 1e-9
    bg = y_tr == 0
    mb, sb = F_tr[bg].mean(0), np.maximum(F_tr[bg].std(0), 0.1)

    def inputs(F: np.ndarray) -> Any:
        Z = np.concatenate([(F - mu) / sd, np.clip((F - mb) / sb, -clip, clip) / clip], 1)
        return torch.tensor(Z)

    torch.manual_seed(0)
    net = torch.nn.Linear(2 * F_tr.shape[1], n_sets).double()
    Y = torch.tensor(y_tr)
    lbfgs_fit(net, inputs(F_tr), lambda z: torch.nn.functional.cross_entropy(z, Y), l2, 500)
    return lambda F: net(inputs(F)).argmax(1).detach().numpy()


def screen(args: argparse.Namespace) -> None:
    from tinyunfold.datasets.io import load_dataset
    from tinyunfold.datasets.prep import augment_mixtures, train_split, with_in_situ_targets
    from tinyunfold.features import SpectrogramParams

    ds = load_dataset(args.dataset)
    fs = ds.sample_rate
    tr, te = train_split(ds)
    if not te or not any(not m.classes for m in tr):
        raise SystemExit(
            f"{args.dataset}: the screen needs a test split and no-hit training mixtures"
        )
    fe = SpectrogramParams(
        n_fft=args.n_fft, hop=args.n_fft, n_bands=args.n_bands, band_scale="log", sample_rate=fs
    )
    job = Canceller(args, fs, fe)
    classes = list(ds.classes)
    sets: list[tuple[int, ...]] = [()] + [(c,) for c in range(len(classes))]
    sets += list(itertools.combinations(range(len(classes)), 2))

    def label(m: Any) -> int:
        return sets.index(tuple(sorted(classes.index(c) for c in m.classes)))

    aug = augment_mixtures(
        with_in_situ_targets(ds, 0.0), args.screen, seed=1, gain_db=12.0, noise_stretch=True
    )
    train = list(tr) + aug
    y_tr = np.array([label(m) for m in train])
    y_te = np.array([label(m) for m in te])
    e = lambda v: 10 * np.log10(max(float(np.sum(v**2)), 1e-300))  # noqa: E731
    red = []
    for m in te:  # the track of the mixture, the same linear cancellation of its background
        if m.classes and m.target_stem is None:
            continue
        bg = m.audio - m.target_stem if m.classes else m.audio
        poly = job.track(m.audio)
        kept = cancel_orders(m.audio, fs, poly, job.harmonics, job.smooth, bg, job.block)[1]
        assert kept is not None
        red.append(e(bg) - e(kept))
    if red:
        print(
            f"test backgrounds: orders cancelled by {np.median(red):.1f} dB (median), "
            f"{np.percentile(red, 10):.1f} dB (10th percentile) of {len(red)}"
        )
    keys = sorted({_key(m) for m in te}, key=_order)
    print("input        l2      overall " + " ".join(f"{k:>7}" for k in keys))
    with multiprocessing.Pool(args.jobs) as pool:
        for cancel in (False, True):
            E_tr = np.array(pool.map(job.energies, [(m.audio, cancel) for m in train], 16))
            E_te = np.array(pool.map(job.energies, [(m.audio, cancel) for m in te], 16))
            scale = 1.0 / np.mean(E_tr[: len(tr)][y_tr[: len(tr)] == 0])
            F_tr = np.log(np.maximum(E_tr * scale, 1e-6))
            F_te = np.log(np.maximum(E_te * scale, 1e-6))
            for l2 in args.l2:
                ok = _readout(F_tr, y_tr, len(sets), l2, 10.0)(F_te) == y_te
                per = {
                    k: np.mean([o for m, o in zip(te, ok, strict=True) if _key(m) == k])
                    for k in keys
                }
                name = "orders-out" if cancel else "as-recorded"
                print(
                    f"{name:12} {l2:<7g} {100 * ok.mean():7.1f} "
                    + " ".join(f"{100 * per[k]:7.1f}" for k in keys),
                    flush=True,
                )


def _key(m: Any) -> str:
    if not m.classes:
        return "no-hit"
    if len(m.classes) > 1:
        return "two-hit"
    return f"{m.snr_db:g}dB" if m.snr_db is not None else "one-hit"


def _order(k: str) -> tuple[int, float]:
    if k.endswith("dB"):
        return (0, float(k[:-2]))
    return (1, 0.0) if k == "two-hit" else (2, 0.0)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["cli"]:
        raise SystemExit(_cli(argv[1:]))
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="or: order_cancel.py cli [--f0 LO HI] [--harmonics H] [--smooth S] [--block B] "
        "-- TINYUNFOLD-ARGS "
        "(tinyunfold behind the canceller, e.g. cli -- train padnmf ...; see the module help)",
    )
    ap.add_argument("dataset", type=Path, help="a dataset folder (docs/datasets.md layout)")
    _canceller_options(ap)
    ap.add_argument(
        "--track-frame", type=float, default=0.17, help="tracker's STFT frame, s (default 0.17)"
    )
    ap.add_argument("--screen", type=int, default=2000, help="synthetic training mixtures")
    ap.add_argument("--l2", type=float, nargs="+", default=[1e-3], help="readout L2 weights")
    ap.add_argument("--n-fft", type=int, default=4096, help="front-end frame (= hop)")
    ap.add_argument("--n-bands", type=int, default=128, help="log bands")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes")
    args = ap.parse_args(argv)
    _check_f0(args.f0)
    screen(args)


if __name__ == "__main__":
    main()
