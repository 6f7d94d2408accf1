"""`tinyunfold nmfd ...` commands and the swimmer data set."""

from __future__ import annotations

import json

import numpy as np

from tinyunfold.cli import main
from tinyunfold.datasets import swimmer


def test_swimmer_data_set():
    images, codes = swimmer.swimmer_images()
    assert images.shape == (256, 20, 11)
    assert len({tuple(c) for c in codes}) == 256  # every limb combination once
    assert len({im.tobytes() for im in images}) == 256  # all images distinct
    assert np.all(images[:, 6:14, 5] == 1)  # the torso is in every image
    assert np.all(images.sum(axis=(1, 2)) == 8 + 4 * 3)  # torso + 4 disjoint 3-pixel limbs
    # limbs in one position are identical across images with that code
    Xv = swimmer.swimmer_vectorised(noise=False, intensity=1.0)
    assert Xv.shape == (220, 256) and set(np.unique(Xv)) == {0.0, 1.0}
    Xc = swimmer.swimmer_concatenated(noise=False, intensity=1.0)
    assert Xc.shape == (20, 256 * 11)
    np.testing.assert_array_equal(Xc[:, 11:22], images[1])
    noisy = swimmer.swimmer_concatenated(intensity=20.0, seed=3)
    assert np.all(noisy == np.round(noisy)) and abs(noisy.mean() / (20 * Xc.mean()) - 1) < 0.05
    assert swimmer.distinct_patterns()["nmfd_dictionaries"] == 13
    assert len(swimmer.pattern_templates()) == 13


def test_recovered_patterns_matches_up_to_shift_only():
    T = swimmer.pattern_templates()
    W = np.zeros((3, 20, 6))
    for r, c in T[4]:
        W[0, r, c + 2] = 1.0  # shifted copy: found
    for r, c in T[5]:
        W[1, r, c] = 1.0
    W[1, 0, 0] = 1.0  # an extra pixel: not a whole part
    W[2, 0, 0] = 1.0
    assert swimmer.recovered_patterns(W, np.array([True, True, True])) == [4]
    assert swimmer.recovered_patterns(W, np.array([False, True, True])) == []


def test_cli_complexity(capsys):
    assert main(["nmfd", "complexity"]) == 0
    out = capsys.readouterr().out
    assert "437.99 [437.99]" in out and "Machine monitoring" in out
    assert main(["nmfd", "complexity", "--variant", "printed", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3 and abs(rows[1]["C_dnmfd_mflops"] - 25.63) < 0.005


def test_cli_swimmer_short_run(tmp_path, capsys):
    out = tmp_path / "sw"
    rc = main(["nmfd", "swimmer", "--out", str(out), "--nmf-iter", "10", "--nmfd-iter", "3"])
    assert rc == 0
    rep = json.loads((out / "report.json").read_text())
    nmf, nmfd = rep["ard_nmf"], rep["ard_nmfd"]
    # measured (seed 0): after 10 ARD-NMF iterations the relevances (λ_s - B)/B of (3.2.46) span
    # 17.9 ... 81.7, all far above τ = 1e-3: nothing is pruned yet (the thesis prunes to 16 after
    # thousands of iterations, `make bench`), and r-hat counts exactly the relevances above τ
    rel = np.array(nmf["lambda_rel_to_bound"])
    assert rel.shape == (32,) and np.all(np.diff(rel) <= 0)
    assert 15 < rel[-1] < 20 and 75 < rel[0] < 90
    assert nmf["r_hat"] == int(np.sum(rel > 1e-3)) == 32
    # ARD-NMFD after 3 iterations: (μ(j) - B(j))/B(j) are all 3.7e-3 ... 4.9e-3, just above τ,
    # so J-hat is still 26 and no dictionary holds one whole swimmer part yet
    mu = np.array(nmfd["mu_rel_to_bound"])
    assert mu.shape == (26,) and np.all((3e-3 < mu) & (mu < 6e-3))
    assert nmfd["J_hat"] == sum(nmfd["relevant"]) == int(np.sum(mu > 1e-3)) == 26
    assert nmfd["parts_recovered"] == 0
    assert (out / "ard_nmf.png").stat().st_size > 0 and (out / "ard_nmfd.png").is_file()
    assert "thesis 13" in capsys.readouterr().out


def test_cli_ard_on_a_dataset_folder(tmp_path):
    """Two sources (decaying tone bursts) in a dataset folder: J-hat = 2 of 6."""
    from tinyunfold.datasets import Dataset, Mixture, write_dataset

    sr, n = 8000, 8000
    t = np.arange(n) / sr
    rng = np.random.default_rng(0)

    def bursts(f, every):
        x = np.zeros(n)
        for k in range(0, n - 800, every):
            x[k : k + 800] += np.sin(2 * np.pi * f * t[:800]) * np.exp(-t[:800] * 30)
        return x

    ds = Dataset(
        sample_rate=sr,
        classes=["a"],
        targets={"a": [bursts(440.0, 1600)]},
        noise=[bursts(2500.0, 2300) + 1e-4 * rng.standard_normal(n)],
        mixtures=[Mixture(name="m0.wav", audio=bursts(440.0, 2000), classes=("a",))],
    )
    root = write_dataset(tmp_path / "ds", ds)
    out = tmp_path / "ard"
    rc = main(
        [
            "nmfd",
            "ard",
            "--dataset",
            str(root),
            "--max-dicts",
            "6",
            "--max-rank",
            "4",
            "--n-fft",
            "256",
            "--hop",
            "128",
            "--n-bands",
            "16",
            "--iter",
            "300",
            "--out",
            str(out),
            "--no-plots",
        ]
    )
    assert rc == 0
    rep = json.loads((out / "report.json").read_text())
    # defaults a = 5e4, tau = 1e-3 (the thesis' swimmer setting): one dictionary per source
    assert rep["J_hat"] == 2 and len(rep["ranks_hat"]) == 2
    assert rep["features"]["n_fft"] == 256
