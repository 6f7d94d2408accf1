"""The DKF command line: simulate -> train dkf -> evaluate, and clear errors on bad input."""

from __future__ import annotations

import json

import numpy as np

from tinyunfold.cli import main
from tinyunfold.kinds import load_model

SYSTEM = """
name = "cli"
kind = "continuous"
dt = 0.1
steps = 12
x0 = [1.0, 0.0]
C = [[1.0, 0.0]]

[model]
M = [[1.0, 0.0], [0.0, 1.0]]
K = [[-0.5, 1.0], [-1.0, -0.2]]

[noise]
sigma_q = 0.05
sigma_r = 0.1
sigma_p = 0.1
"""


def test_simulate_train_evaluate(tmp_path, capsys):
    sysf = tmp_path / "system.toml"
    sysf.write_text(SYSTEM)
    tr, te, m = tmp_path / "train.npz", tmp_path / "test.npz", tmp_path / "m.tum"
    assert (
        main(["simulate", "--system", str(sysf), "--n", "6", "--seed", "0", "--out", str(tr)]) == 0
    )
    assert main(["simulate", "--system", str(sysf), "--n", "5", "--steps", "20", "--seed", "1",
                 "--out", str(te)]) == 0  # fmt: skip
    with np.load(tr) as z:
        assert z["x"].shape == (6, 13, 2) and z["y"].shape == (6, 12, 1)
    rc = main(["train", "dkf", "--system", str(sysf), "--trajectories", str(tr), "--out", str(m),
               "--epochs", "3", "--batch-size", "3", "--backprop", "complete"])  # fmt: skip
    assert rc == 0
    model = load_model(m, kind="dkf")
    assert model.array("gains").shape == (12, 2, 1)
    out = tmp_path / "eval"
    rc = main(["evaluate", "--model", str(m), "--trajectories", str(te), "--out", str(out),
               "--no-plots"])  # fmt: skip
    assert rc == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["steps"] == 20 and rep["K"] == 12  # streams beyond K with gain_beyond
    assert set(rep["mse"]) >= {"dkf", "kf_assumed", "kf_true", "rts_true"}
    assert all(np.isfinite(v) for v in rep["mse"].values())


def test_bad_system_file_is_a_clear_error(tmp_path, capsys):
    sysf = tmp_path / "system.toml"
    sysf.write_text(SYSTEM.replace('kind = "continuous"', 'kind = "banana"'))
    rc = main(["simulate", "--system", str(sysf), "--out", str(tmp_path / "x.npz")])
    assert rc == 2
    assert "kind must be one of" in capsys.readouterr().err
