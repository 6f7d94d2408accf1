"""KalmanNet baseline (6.3): trains by BPTT and beats its untrained self."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tinyunfold.errors import ShapeError
from tinyunfold.models.kalmannet import KalmanNet
from tinyunfold.models.systems import simulate, system_from_toml


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny matrices: torch's thread pool only adds overhead (and contention on shared CPUs)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


DOC = {
    "name": "kn",
    "kind": "linear",
    "steps": 15,
    "x0": [1.0, 1.0],
    "C": [[1.0, 0.0], [0.0, 1.0]],
    "model": {"A": [[1.01, -0.002], [0.0, 1.005]]},
    "noise": {"sigma_q": 2e-2, "sigma_r": 1e-1, "sigma_p": 1e-1},
}


def test_kalmannet_training_lowers_state_mse():
    s = system_from_toml(DOC)
    data = simulate(s, 12, None, seed=0)
    kn = KalmanNet(s, epochs=1, lr=1e-2, batch_size=12).fit(data)
    mse0 = np.mean((kn.transform(data["y"], data["x0_hat"]) - data["x"]) ** 2)
    kn = KalmanNet(s, epochs=25, lr=1e-2, batch_size=12).fit(data)
    mse1 = np.mean((kn.transform(data["y"], data["x0_hat"]) - data["x"]) ** 2)
    assert kn.loss_[-1] < kn.loss_[0]
    # measured (seed 0): MSE 7.8e-3 after 1 epoch, 2.7e-3 after 25 (2.9x lower); reading the
    # states off the observations (C = I) gives 9.8e-3, 3.6x worse than the trained filter
    assert mse1 < mse0 / 2
    obs = np.mean((data["y"] - data["x"][:, 1:]) ** 2)
    assert mse1 < obs / 3
    # the architecture of the module docstring: h = c_h (n² + m²) = 16, inputs n + m = 4;
    # Linear(4, h) + GRUCell(h, h) (3 gates: input and hidden weights and biases) + Linear(h, n m)
    n, m, h = 2, 2, 2 * (2 * 2 + 2 * 2)
    assert kn.n_params_ == (n + m) * h + h + 3 * (2 * h * h + 2 * h) + h * n * m + n * m == 1780


def test_kalmannet_needs_states():
    s = system_from_toml(DOC)
    data = simulate(s, 2, None, seed=0)
    del data["x"]
    with pytest.raises(ShapeError):
        KalmanNet(s, epochs=1).fit(data)


def test_kalmannet_model_file_round_trip(tmp_path):
    """to_modelfile / save_model / load_model (kind ``kalmannet`` of the registry) / validator."""
    from tinyunfold.errors import ModelFileError
    from tinyunfold.kinds import load_model, save_model
    from tinyunfold.modelfile import ModelFile
    from tinyunfold.models.kalmannet import validate_modelfile

    s = system_from_toml(DOC)
    data = simulate(s, 6, None, seed=0)
    kn = KalmanNet(s, epochs=2, lr=1e-2, batch_size=3).fit(data)
    model = kn.to_modelfile()
    save_model(tmp_path / "kn.tum", model)
    back = KalmanNet.from_modelfile(load_model(tmp_path / "kn.tum", kind="kalmannet"))
    a = kn.transform(data["y"], data["x0_hat"])
    np.testing.assert_array_equal(back.transform(data["y"], data["x0_hat"]), a)
    assert back.n_params_ == kn.n_params_
    # the validator names the defect
    bad = ModelFile(model.kind, dict(model.params), dict(model.arrays))
    bad.arrays["gru.weight_hh"] = bad.arrays["gru.weight_hh"][:, :-1]
    with pytest.raises(ModelFileError, match="gru.weight_hh"):
        validate_modelfile(bad)
    bad = ModelFile(model.kind, {**model.params, "hidden": 7}, dict(model.arrays))
    with pytest.raises(ModelFileError, match="hidden"):
        validate_modelfile(bad)
    bad = ModelFile(model.kind, dict(model.params), {**model.arrays})
    bad.arrays["fc_out.bias"] = bad.arrays["fc_out.bias"].copy()
    bad.arrays["fc_out.bias"][0] = np.nan
    with pytest.raises(ModelFileError, match="NaN"):
        validate_modelfile(bad)


def test_train_and_evaluate_kalmannet_from_the_cli(tmp_path, capsys):
    """`train kalmannet` writes a registry model file; `evaluate` compares it with the KF, and
    the learned filter beats the raw observations (a measured figure, not a constant)."""
    import json
    from pathlib import Path

    from tinyunfold.cli import main

    system = Path(__file__).resolve().parents[2] / "examples" / "dkf" / "strong2.toml"
    traj = tmp_path / "t.npz"
    assert main(["simulate", "--system", str(system), "--n", "12", "--seed", "0",
                 "--out", str(traj)]) == 0  # fmt: skip
    model = tmp_path / "kn.tum"
    rc = main(["train", "kalmannet", "--system", str(system), "--trajectories", str(traj),
               "--out", str(model), "--epochs", "8", "--lr", "1e-2", "--batch-size", "4"])  # fmt: skip
    assert rc == 0 and model.is_file()
    assert main(["model", "info", str(model)]) == 0
    assert '"kind": "kalmannet"' in capsys.readouterr().out
    out = tmp_path / "eval"
    rc = main(["evaluate", "--model", str(model), "--trajectories", str(traj),
               "--out", str(out), "--no-plots"])  # fmt: skip
    assert rc == 0
    rep = json.loads((out / "report.json").read_text())
    assert set(rep["mse"]) >= {"kalmannet", "kf_assumed", "kf_true"}
    data = np.load(traj)
    x, y = data["x"][:, 1:], data["y"]
    raw = float(np.mean((y - x[..., : y.shape[-1]]) ** 2))  # C = [I 0]: the noisy observations
    assert rep["mse"]["kalmannet"] < raw
    # KalmanNet does not deploy, and the registry says why
    rc = main(["build", "--model", str(model), "--board", "host"])
    assert rc != 0 and "does not deploy" in capsys.readouterr().err
