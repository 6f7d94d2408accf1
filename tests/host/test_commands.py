"""Commands without a test of their own: `model nmf`, `model info`, `setup doctor`,
`dataset modes` (the firmware commands `flash`, `demo`, `bench` are in tests/firmware/test_firmware_commands.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np

from tinyunfold.cli import main
from tinyunfold.datasets.mdof import CHAINS, THESIS_TABLE1
from tinyunfold.kinds import load_model
from tinyunfold.platform.toolchain import TOOLS


def test_model_nmf_random_dictionary_is_the_seeded_one(tmp_path, capsys):
    out = tmp_path / "m.tum"
    argv = "model nmf --features 7 --rank 3 --frames 5 --layers 11 --alpha-h 0.25 --seed 4"
    assert main([*argv.split(), "--out", str(out)]) == 0
    assert f"wrote {out}: nmf F=7 R=3 N=5 K=11" in capsys.readouterr().out
    m = load_model(out, kind="nmf")
    W = np.random.default_rng(4).random((7, 3)).astype(np.float32)
    assert np.array_equal(m.array("W").view(np.uint32), W.view(np.uint32))
    p = m.params
    assert (p["n_layers"], p["n_frames"], p["alpha_h"], p["eps"]) == (11, 5, 0.25, 1e-9)


def test_model_nmf_from_a_dictionary_file_keeps_its_bits(tmp_path, capsys):
    W = np.random.default_rng(9).random((10, 4)).astype(np.float32)
    np.save(tmp_path / "W.npy", W)
    out = tmp_path / "m.tum"
    assert main(["model", "nmf", "--W", str(tmp_path / "W.npy"), "--out", str(out)]) == 0
    assert np.array_equal(load_model(out).array("W").view(np.uint32), W.view(np.uint32))
    np.save(tmp_path / "neg.npy", -W)  # a dictionary the model refuses
    assert main(["model", "nmf", "--W", str(tmp_path / "neg.npy"), "--out", str(out)]) == 2
    assert "nonnegative" in capsys.readouterr().err


def test_model_info_prints_kind_params_and_arrays(tmp_path, capsys):
    out = tmp_path / "m.tum"
    main(["model", "nmf", "--features", "6", "--rank", "2", "--layers", "3", "--out", str(out)])
    capsys.readouterr()
    assert main(["model", "info", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "nmf"
    assert info["arrays"] == {"W": "float32[6, 2]"}
    assert info["params"] == load_model(out).params and info["params"]["n_layers"] == 3


def _doctor(path: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": path}
    return subprocess.run(
        [sys.executable, "-m", "tinyunfold", "setup", "doctor"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_setup_doctor_lists_each_tool_and_fails_when_one_is_missing(tmp_path):
    proc = _doctor(os.environ["PATH"])
    rows = dict(line.split(None, 1) for line in proc.stdout.splitlines())
    assert sorted(rows) == sorted(TOOLS)
    assert all(rows[t].strip() == (shutil.which(t) or rows[t].strip()) for t in TOOLS)
    assert proc.returncode == (0 if all(shutil.which(t) for t in TOOLS) else 3)
    # a PATH holding only cmake: every other tool is named missing with its package, exit 3
    (tmp_path / "cmake").symlink_to(shutil.which("cmake") or "/bin/true")
    proc = _doctor(str(tmp_path))
    assert proc.returncode == 3
    rows = dict(line.split(None, 1) for line in proc.stdout.splitlines())
    assert rows["cmake"].strip() == str(tmp_path / "cmake")
    assert rows["qemu-system-arm"].strip() == "MISSING (apt package qemu-system-arm)"


def test_dataset_modes_prints_the_chain_modes_next_to_table1(capsys):
    assert main(["dataset", "modes", "--preset", "dataset1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    f, xi = CHAINS["dataset1"].modes()
    rows = [ln.split() for ln in lines[2 : 2 + len(f)]]
    assert [int(r[0]) for r in rows] == list(range(1, len(f) + 1))
    assert [r[1] for r in rows] == [f"{v:.1f}" for v in f]  # the model's modes, as printed
    assert [float(r[4]) for r in rows] == [float(f"{ft:.0f}") for ft, _ in THESIS_TABLE1]
    # measured: modes 4-6 of the model reproduce the thesis (64.4, 180.6, 2229.0 Hz vs 64, 180,
    # 2229) and the last line is the relative distance of each thesis frequency, in %
    assert [float(r[1]) for r in rows[3:6]] == [64.4, 180.6, 2229.0]
    dist = [float(v) for v in lines[-1].split()]
    assert len(dist) == len(THESIS_TABLE1) and dist[3:6] == [0.63, 0.35, 0.0]
