"""examples/diagnostics/order_cancel.py (docs/padnmf.md, "Where the accuracy goes", item 11): the
order tracker follows a ramping speed, the canceller removes the orders and keeps a hit, a wrong
track does not, and the screen's readout finds weak hits under ramping orders once they are out."""

from __future__ import annotations

from pathlib import Path

import diagnostic_scripts
import numpy as np


def _module():  # type: ignore[no-untyped-def]
    return diagnostic_scripts.load("order_cancel")


def _orders(t: np.ndarray, f_start: float, f_end: float, amps: np.ndarray, rng) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Orders 1..len(amps) of a fundamental ramping linearly from f_start to f_end over t."""
    T = t[-1] + (t[1] - t[0])
    phase = 2 * np.pi * (f_start * t + (f_end - f_start) * t**2 / (2 * T))
    return sum(a * np.sin(h * phase + rng.uniform(0, 6)) for h, a in enumerate(amps, 1))


def _hit(t: np.ndarray, f: float, onset: float) -> np.ndarray:
    tau = np.clip(t - onset, 0.0, None)
    return np.where(t >= onset, np.exp(-tau / 0.08) * np.sin(2 * np.pi * f * tau), 0.0)


def test_track_and_cancel_ramping_orders() -> None:
    """Twelve orders of a fundamental ramping 200 -> 226 Hz over 2 s (8 kHz): the track is within
    0.1 Hz at both ends, the canceller removes >= 30 dB of them and keeps a hit above the
    highest order within 1 dB; the same canceller along a track 5% off removes < 10 dB."""
    oc = _module()
    fs = 8000.0
    t = np.arange(16384) / fs
    rng = np.random.default_rng(0)
    bg = _orders(t, 200.0, 226.0, rng.uniform(0.2, 1.0, 12), rng) + 1e-4 * rng.normal(size=len(t))
    hit = 0.05 * _hit(t, 3100.0, 0.6)
    x = bg + hit
    poly = oc.track_f0(x, fs, (150.0, 300.0), 12)
    T = len(t) / fs
    assert abs(np.polyval(poly, 0.0) - 200.0) < 0.1
    assert abs(np.polyval(poly, T) - 226.0) < 0.1

    def removed_and_kept(p: np.ndarray) -> tuple[float, float]:
        _, kept_bg = oc.cancel_orders(x, fs, p, 12, 0.02, also=bg)
        _, kept_hit = oc.cancel_orders(x, fs, p, 12, 0.02, also=hit)
        db = lambda a, b: 10 * np.log10(np.sum(a**2) / np.sum(b**2))  # noqa: E731
        return db(bg, kept_bg), db(hit, kept_hit)

    removed, lost = removed_and_kept(poly)
    assert removed >= 30.0 and abs(lost) <= 1.0
    assert removed_and_kept(poly * 1.05)[0] < 10.0


def test_cancel_passes_what_is_not_an_order() -> None:
    """One order tracked at 1 kHz (48 kHz): a tone on it is removed, one 50 Hz off is mostly
    kept, and tones 950-1050 Hz off (where 1 ms blocks alias) are subtracted at < -40 dB."""
    oc = _module()
    fs = 48000.0
    t = np.arange(48000) / fs

    def subtracted_db(df: float, block_s: float = 0.00025) -> float:
        x = np.cos(2 * np.pi * (1000.0 + df) * t)
        r, _ = oc.cancel_orders(x, fs, np.array([1000.0]), 1, 0.02, block_s=block_s)
        mid = slice(4800, -4800)  # away from the window's edges
        return float(10 * np.log10(np.sum((x - r)[mid] ** 2) / np.sum(x[mid] ** 2)))

    assert subtracted_db(0.0) > -0.5
    assert -12.0 < subtracted_db(50.0) < -3.0
    assert all(subtracted_db(df) < -40.0 for df in (500.0, 950.0, 1050.0, 2000.0))
    assert subtracted_db(950.0, block_s=0.001) > -40.0  # the check sees 1 ms blocks alias


def _order_dataset(root: Path) -> Path:
    """Three tone classes (1310, 2030, 2770 Hz) under orders of a fundamental ramping within
    180-260 Hz (a new ramp per window, 2 s at 8 kHz), loud enough to bury the -20 dB tones;
    training mixtures at 0 and -20 dB and two no-hit ones; a test split of the same kinds."""
    from tinyunfold.datasets import Dataset, Mixture, write_dataset

    fs, n = 8000, 16384
    t = np.arange(n) / fs
    rng = np.random.default_rng(5)

    def background() -> np.ndarray:
        f0, f1 = rng.uniform(180.0, 260.0, 2)
        amps = rng.uniform(0.2, 1.0, 14) * (1.0 + 3.0 * (np.arange(1, 15) % 5 == 0))
        return _orders(t, f0, f1, amps, rng) + 1e-3 * rng.normal(size=n)

    classes = {"a": 1310.0, "b": 2030.0, "c": 2770.0}
    mixtures = []
    for split, reps in (("train", 1), ("test", 3)):
        for c, f in classes.items():
            for snr in (0.0, -20.0):
                for k in range(reps):
                    s, nz = _hit(t, f, rng.uniform(0.1, 1.0)), background()
                    s *= np.sqrt(10 ** (snr / 10) * np.sum(nz**2) / np.sum(s**2))
                    name = f"{split}_{c}_{int(-snr)}_{k}.wav"
                    mixtures.append(Mixture(name, nz + s, (c,), snr, target_stem=s, split=split))
        for k in range(2):
            mixtures.append(Mixture(f"{split}_none_{k}.wav", background(), split=split))
    ds = Dataset(
        sample_rate=fs,
        classes=list(classes),
        targets={c: [_hit(t, f, 0.0)] for c, f in classes.items()},
        noise=[background() for _ in range(3)],
        mixtures=mixtures,
    )
    return write_dataset(root, ds)


def test_screen_finds_weak_hits_once_the_orders_are_out(tmp_path: Path) -> None:
    """The screen on a dataset whose -20 dB tones sit under ramping orders: with the orders
    cancelled the readout finds more of them than on the windows as recorded, and the
    backgrounds are reported >= 20 dB lower."""
    root = _order_dataset(tmp_path / "ds")
    r = diagnostic_scripts.run(
        "order_cancel", str(root), "--f0", "150", "300", "--harmonics", "14", "--screen", "300",
        "--n-fft", "256", "--n-bands", "16", "--l2", "1e-3",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("test backgrounds: orders cancelled by")
    assert float(lines[0].split("by ")[1].split(" dB")[0]) >= 20.0
    head = lines[1].split()
    assert head[:3] == ["input", "l2", "overall"] and "-20dB" in head
    rows = {ln.split()[0]: [float(v) for v in ln.split()[2:]] for ln in lines[2:]}
    col = head.index("-20dB") - 2
    assert rows["orders-out"][col] > rows["as-recorded"][col] + 10.0
    assert rows["orders-out"][0] > rows["as-recorded"][0]


def test_bad_f0_range_is_one_line(tmp_path: Path) -> None:
    r = diagnostic_scripts.run("order_cancel", str(tmp_path), "--f0", "300", "100")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1] == "--f0 300 100: need 0 < LO < HI (Hz)"


def test_orders_out_front_end_and_cli(tmp_path: Path) -> None:
    """Inside ``orders_out_front_end`` the pipelines' spectrogram of ramping orders is >= 20 dB
    lower and a hit's is kept within 1 dB; outside it is the plain one again. ``cli`` without
    ``--`` is one line."""
    import tinyunfold.datasets.prep as prep
    from tinyunfold.features import SpectrogramParams

    oc = _module()
    fs, n = 8000, 16384
    t = np.arange(n) / fs
    x = _orders(t, 200.0, 230.0, np.linspace(1.0, 0.3, 12), np.random.default_rng(2))
    hit = _hit(t, 3500.0, 0.5)  # above the 12 orders
    p = SpectrogramParams(n_fft=256, hop=256, sample_rate=fs)
    db = lambda S: 10 * np.log10(float(np.sum(S)))  # noqa: E731
    plain = prep.spectrogram(x, p, 1.0)
    with oc.orders_out_front_end((150.0, 300.0), 14):
        out = prep.spectrogram(x, p, 1.0)
        kept = prep.spectrogram(x + 10.0 * hit, p, 1.0) - out
    assert db(plain) - db(out) >= 20.0
    assert abs(db(kept) - db(prep.spectrogram(10.0 * hit, p, 1.0))) < 1.0
    np.testing.assert_array_equal(prep.spectrogram(x, p, 1.0), plain)
    r = diagnostic_scripts.run("order_cancel", "cli", "train", "padnmf")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("cli: put `--` before")
