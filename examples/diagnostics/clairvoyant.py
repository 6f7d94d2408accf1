"""How well could ANY detector do on a dataset's test split?  A clairvoyant bound (diagnostic).

For each test hit, a detector that knows the hit's exact waveform and onset, and its window's
background as Gaussian noise of a known time-frequency power, decides between "background" and
"background + hit" with the deflection d, d² = Σ_{t,f} |S(t, f)|² / N(t, f) (S the hit's STFT,
N the background's power per cell, both over ``--frame``-sample Hann frames at a quarter-frame
hop, the signal zero-padded by half a frame at both ends; N smoothed over ``--smooth`` x ``--smooth`` cells and floored at the recording's
quantisation floor; the sum calibrated on white noise so that d² = ‖s‖² / σ² there). Its power
at a false-positive rate α is Φ(d − z_α): no detector beats it under this model. For the class:
against a hit of any other class at the same onset with the best amplitude, the part of the hit
that the other one cannot explain has deflection d_c, and the binary error is Q(d_c / 2); one
minus the largest such error bounds being right about the class. The model is optimistic (it is
given the waveform and the local background power, which a detector has to learn): a small d
says a hit cannot be found; a large one only that the window holds it.

The hits are rebuilt from the dataset's labels (``dataset mdof`` datasets: ``sources``,
``onset_s`` and ``impulse_Ns`` per hit): each source's response to a unit impulse is its
loudest test single hit's stem divided by that hit's impulse, so every hit (two-hit mixtures
too) is that response shifted to its onset and scaled by its impulse; the background is the
mixture minus its stem. The quantisation floor is the power of uniform rounding at the
recording's smallest sample step (none for float recordings). docs/padnmf.md, "Where the
accuracy goes", item 10.

    python examples/diagnostics/clairvoyant.py DATASET [--band 0 400] [--floor-db 20]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import scipy.ndimage as nd
import scipy.signal as ss
from scipy.stats import norm

from tinyunfold.datasets.io import load_dataset
from tinyunfold.errors import TinyUnfoldError


def sample_step(x: np.ndarray) -> float:
    """The smallest step between distinct sample values (the LSB of PCM audio), or 0 when the
    values are not on a grid (float recordings: more distinct steps than a 16-bit grid has)."""
    u = np.unique(np.asarray(x, dtype=np.float64))
    d = np.diff(u)
    d = d[d > 0]
    if d.size == 0:
        return 0.0
    step = float(d.min())
    on_grid = np.allclose(np.round(u / step) * step, u, rtol=0, atol=step * 1e-6)
    return step if on_grid else 0.0


class Bound:
    """The deflections of hits against one window's background (see the module docstring)."""

    def __init__(self, fs: int, frame: int, smooth: int, band: tuple[float, float], lsb: float,
                 floor_gain: float) -> None:  # fmt: skip
        self.fs, self.frame, self.smooth = fs, frame, smooth
        f = np.fft.rfftfreq(frame, 1 / fs)
        self.inband = (f >= band[0]) & (f < band[1])
        w = ss.get_window("hann", frame)
        # uniform rounding noise of step lsb: lsb²/12 per sample, through scipy's STFT scaling
        self.qfloor = floor_gain * (lsb**2 / 12) * np.sum(w**2) / np.sum(w) ** 2
        rng = np.random.default_rng(0)
        n = 8 * frame
        s = np.sin(2 * np.pi * 0.01 * np.arange(n // 2)) * np.hanning(n // 2)
        s = np.pad(s, (n // 4, n - n // 4 - len(s)))
        Nw = np.maximum(nd.uniform_filter(np.abs(self.stft(rng.standard_normal(n))) ** 2, smooth),
                        1e-300)  # fmt: skip
        self.K = float(s @ s) / float(np.sum(np.abs(self.stft(s)) ** 2 / Nw))
        self.N: np.ndarray | None = None

    def stft(self, x: np.ndarray) -> np.ndarray:
        fr = self.frame
        return ss.stft(x, self.fs, nperseg=fr, noverlap=fr * 3 // 4, boundary="zeros", padded=True)[
            2
        ]

    def background(self, b: np.ndarray) -> None:
        N = nd.uniform_filter(np.abs(self.stft(b)) ** 2, self.smooth)
        self.N = np.maximum(N, max(self.qfloor, 1e-300))

    def inner(self, A: np.ndarray, B: np.ndarray) -> float:
        assert self.N is not None
        return self.K * float(np.real(np.sum((A * np.conj(B) / self.N)[self.inband])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dataset")
    ap.add_argument("--frame", type=int, default=2048, help="STFT frame (samples)")
    ap.add_argument("--smooth", type=int, default=5, help="cells of the background power smoothing")
    ap.add_argument("--band", type=float, nargs=2, default=(0.0, 1e12), metavar=("LO", "HI"),
                    help="only frequencies in [LO, HI) Hz count")  # fmt: skip
    ap.add_argument("--floor-db", type=float, default=0.0,
                    help="raise the quantisation floor by this much")  # fmt: skip
    ap.add_argument("--alpha", type=float, default=0.05, help="false-positive rate of the bound")
    a = ap.parse_args()
    try:
        ds = load_dataset(a.dataset)
    except TinyUnfoldError as bad:
        ap.error(str(bad))
    with open(Path(a.dataset) / "labels.csv", newline="") as fh:
        lab = {r["file"]: r for r in csv.DictReader(fh)}
    if not lab or "impulse_Ns" not in next(iter(lab.values())):
        ap.error("needs the impulse of every hit (labels.csv column impulse_Ns): a dataset of "
                 "`tinyunfold dataset mdof`")  # fmt: skip
    test = [m for m in ds.mixtures if m.split == "test" and m.has_hit]
    fs, n = ds.sample_rate, len(ds.mixtures[0].audio)
    unit: dict[str, np.ndarray] = {}
    level: dict[str, float] = {}
    for m in test:  # each source's unit-impulse response: its loudest test single hit
        if len(m.classes) == 1 and m.target_stem is not None:
            src, o = m.sources[0], int(round(m.onsets_s[0] * fs))
            energy = float(np.sum(m.target_stem**2))
            if energy > level.get(src, -1.0):
                level[src] = energy
                unit[src] = m.target_stem[o:] / float(lab[m.name]["impulse_Ns"])
    bound = Bound(fs, a.frame, a.smooth, tuple(a.band), sample_step(ds.mixtures[0].audio),
                  10 ** (a.floor_db / 10))  # fmt: skip
    za = norm.ppf(1 - a.alpha)
    rows: dict[str, list[tuple[float, float]]] = {}
    for m in test:
        r = lab[m.name]
        srcs = r["sources"].split(";")
        if any(s not in unit for s in srcs) or m.target_stem is None:
            continue  # a source without a single test hit: its response is unknown
        bound.background(m.audio - m.target_stem)
        worst: list[tuple[float, float]] = []
        for src, on, imp in zip(srcs, r["onset_s"].split(";"), r["impulse_Ns"].split(";"),
                                strict=True):  # fmt: skip
            o = int(round(float(on) * fs))

            def placed(g: np.ndarray, o: int = o) -> np.ndarray:
                h = np.zeros(n)
                seg = g[: n - o]
                h[o : o + len(seg)] = seg
                return h

            A = bound.stft(placed(unit[src] * float(imp)))
            aa = bound.inner(A, A)
            err = 0.0
            for other, g in unit.items():
                if other.split("/")[0] == src.split("/")[0]:
                    continue
                B = bound.stft(placed(g))
                bb = bound.inner(B, B)
                dc = np.sqrt(max(aa - bound.inner(A, B) ** 2 / bb, 0.0)) if bb > 0 else np.inf
                err = max(err, float(norm.sf(dc / 2)))
            worst.append((float(np.sqrt(aa)), err))
        key = "two-hit" if len(srcs) == 2 else f"{float(r['snr_db']):g} dB"
        rows.setdefault(key, []).append(min(worst))  # the weaker hit
    print(f"clairvoyant bound, {a.dataset}: frames {a.frame}, band {a.band[0]:g}-{a.band[1]:g} "
          f"Hz, floor +{a.floor_db:g} dB, alpha {a.alpha:g}")  # fmt: skip
    print(f"{'hits':>10} {'n':>4} {'d median':>10} {'d p10':>9} {'detect <=':>10} {'class <=':>9}")
    keys = sorted((k for k in rows if k != "two-hit"), key=lambda k: float(k.split()[0]))
    for k in [*keys, *(["two-hit"] if "two-hit" in rows else [])]:
        d = np.array([v[0] for v in rows[k]])
        errs = np.array([v[1] for v in rows[k]])
        print(f"{k:>10} {len(d):>4} {np.median(d):>10.3g} {np.percentile(d, 10):>9.3g} "
              f"{100 * norm.cdf(d - za).mean():>9.1f}% {100 * (1 - errs).mean():>8.1f}%")  # fmt: skip


if __name__ == "__main__":
    main()
