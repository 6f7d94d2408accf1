"""examples/diagnostics/clairvoyant.py: the deflection of a known hit against its window's
background (docs/padnmf.md, "Where the accuracy goes", item 10): calibrated on white noise,
linear in the hit's amplitude on a real dataset, cut by a higher quantisation floor, and one
line for a dataset without the hits' impulses."""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import diagnostic_scripts
import numpy as np
import pytest

from tinyunfold.cli import main


def _module():  # type: ignore[no-untyped-def]
    return diagnostic_scripts.load("clairvoyant")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return diagnostic_scripts.run("clairvoyant", *args)


def _rows(out: str) -> dict[str, tuple[float, float, float]]:
    """hits -> (d median, detect bound %, class bound %)."""
    rows = {}
    for ln in out.splitlines():
        p = ln.split()
        if len(p) >= 6 and p[-1].endswith("%") and p[0] != "hits":
            key = " ".join(p[:-5])
            rows[key] = (float(p[-4]), float(p[-2][:-1]), float(p[-1][:-1]))
    return rows


def test_white_noise_calibration() -> None:
    """Against white noise of σ = 1 (no quantisation floor) the deflection of a hit s is ‖s‖
    (d² = ‖s‖² / σ²): within 10% over six noise windows (one window's smoothed power is itself
    a noisy estimate), for a short and a long hit; twice the hit, twice d."""
    cv = _module()
    fs, n = 8000, 16384
    rng = np.random.default_rng(1)
    b = cv.Bound(fs, 512, 5, (0.0, 1e12), 0.0, 1.0)
    t = np.arange(n) / fs
    for s in (
        0.3 * np.exp(-30 * t) * np.sin(2 * np.pi * 440 * t),
        0.05 * np.exp(-3 * t) * np.sin(2 * np.pi * 1500 * t),
    ):
        A = b.stft(s)
        d = []
        for _ in range(6):
            b.background(rng.standard_normal(n))
            d.append(np.sqrt(b.inner(A, A)))
        assert abs(np.mean(d) / np.linalg.norm(s) - 1) < 0.1, (d, np.linalg.norm(s))
        assert abs(np.sqrt(b.inner(2 * A, 2 * A)) / d[-1] - 2) < 1e-9
    assert cv.sample_step(np.round(rng.standard_normal(4000) * 20) / 32768) == 2.0**-15  # PCM
    assert cv.sample_step(rng.standard_normal(100)) == 0.0  # float audio: no grid


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clairvoyant") / "d"
    argv = ["dataset", "mdof", "--preset", "dataset2-hard", "--out", str(out),
            "--snr-db=-30,0,20", "--duration-s", "0.25", "--onset-s", "0.01,0.1",
            "--n-nohit-train", "1", "--n-nohit-test", "1", "--n-two-hit", "2", "--pcm16",
            "--no-progress", "--seed", "3"]  # fmt: skip
    assert main(argv) == 0
    return out


def test_deflection_scales_with_the_hit_and_the_floor_cuts_it(tiny: Path) -> None:
    plain = _run(str(tiny))
    assert plain.returncode == 0, plain.stderr
    rows = _rows(plain.stdout)
    assert {"-30 dB", "20 dB", "two-hit"} <= set(rows), plain.stdout
    # 50 dB between the SNRs: the hits' deflections differ by about 10^(50/20) = 316
    ratio = rows["20 dB"][0] / rows["-30 dB"][0]
    assert 100 < ratio < 1000, ratio
    # a quantisation floor 60 dB higher hides the quiet hits: d and the bound fall
    high = _rows(_run(str(tiny), "--floor-db", "60").stdout)
    assert high["-30 dB"][0] < rows["-30 dB"][0] / 10
    assert high["-30 dB"][1] < rows["-30 dB"][1] and high["20 dB"][1] == 100.0


def test_a_dataset_without_impulses_is_one_line(tiny: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    shutil.copytree(tiny, bare)
    with open(bare / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    with open(bare / "labels.csv", "w", newline="") as fh:
        cols = [c for c in rows[0] if c != "impulse_Ns"]
        w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    for args, word in (([str(bare)], "impulse_Ns"), ([str(tmp_path / "none")], "does not exist")):
        res = _run(*args)
        err = [ln for ln in res.stderr.splitlines() if "error:" in ln]  # after argparse's usage
        assert res.returncode == 2 and len(err) == 1 and word in err[0], res.stderr
        assert "Traceback" not in res.stderr
