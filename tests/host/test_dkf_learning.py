"""The DKF learns from data what the assumed covariances get wrong (Table 2), and training guards.

* The innovation loss with Riccati-structured gains moves the gains from the wrong-covariance
  Kalman gains to the true-covariance ones; the thesis' loss (6.4.6) does not (its minimiser is
  the MAP trade-off of the assumed R and P).
* Divergence stops training with one clear error and writes no model; impossible options are
  errors; NaN inputs are refused by ``train`` and ``evaluate``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tinyunfold.cli import main
from tinyunfold.errors import TrainingError, ValueDomainError
from tinyunfold.kinds import load_model, save_model
from tinyunfold.models.dkf import (
    DeepKalmanFilter,
    TorchPredictor,
    innovation_unroll,
    riccati_gains,
)
from tinyunfold.models.kalman import (
    gain_error_covariances,
    gain_sequence_mse,
    kalman_filter,
    kalman_gain_sequence,
)
from tinyunfold.models.systems import load_system, simulate

ROOT = Path(__file__).resolve().parents[2]
WRONG = ROOT / "examples" / "dkf" / "strong2_wrong.toml"


@pytest.fixture(autouse=True)
def _one_torch_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _gain_dist(G: np.ndarray, Kt: np.ndarray) -> float:
    """Relative Frobenius distance over the steady part k = 11..K."""
    return float(np.linalg.norm(G[10:] - Kt[10:]) / np.linalg.norm(Kt[10:]))


# ------------------------------------------------------------------ exact MSE of given gains
def test_gain_error_covariances_match_kalman_filter_and_monte_carlo():
    s = load_system(WRONG)
    A, C = s.model["A"], s.C
    Kt, _, Pf = kalman_gain_sequence(A, C, s.Q, s.R, s.P0, 30)
    # with the true-covariance gains the recursion is P(k|k) of the filter
    np.testing.assert_allclose(gain_error_covariances(A, C, s.Q, s.R, s.P0, Kt), Pf, rtol=1e-12)
    # with any other gains it is the Monte-Carlo error covariance of that filter
    Kw = kalman_gain_sequence(A, C, s.Qf, s.Rf, s.P0f, 30)[0]
    data = simulate(s, 4000, 30, seed=3)
    x = data["x0_hat"].copy()
    err = np.zeros(30)
    for k in range(30):
        xp = x @ A.T
        x = xp + (data["y"][:, k] - xp @ C.T) @ Kw[k].T
        err[k] = np.mean((x - data["x"][:, k + 1]) ** 2)
    exact = np.trace(gain_error_covariances(A, C, s.Q, s.R, s.P0, Kw), axis1=1, axis2=2) / 2
    np.testing.assert_allclose(err, exact, rtol=0.1)  # 4000 draws: ~5% sampling error
    # the KF with true covariances is optimal; a perturbed gain sequence is worse
    assert gain_sequence_mse(A, C, s.Q, s.R, s.P0, Kt) < gain_sequence_mse(
        A, C, s.Q, s.R, s.P0, Kt * 1.05
    )


def test_riccati_gains_equal_the_kalman_gain_sequence():
    s = load_system(WRONG)
    A, C = s.model["A"], s.C
    G = riccati_gains(*(torch.tensor(v) for v in (A, C, s.Qf, s.Rf, s.P0f)), 20).numpy()
    np.testing.assert_allclose(G, kalman_gain_sequence(A, C, s.Qf, s.Rf, s.P0f, 20)[0],
                               rtol=1e-10, atol=1e-14)  # fmt: skip


def test_innovation_loss_gradient_matches_finite_differences():
    s = load_system(WRONG)
    rng = np.random.default_rng(0)
    K = 6
    g0 = rng.standard_normal((K, 2, 2)) * 0.3
    y = torch.tensor(rng.standard_normal((3, K, 2)))
    x0 = torch.tensor(rng.standard_normal((3, 2)))
    xK = torch.tensor(rng.standard_normal((3, 2)))
    W = torch.tensor([[2.0, 0.3], [0.3, 1.0]], dtype=torch.float64)
    pred = TorchPredictor(s)
    p = torch.zeros(0, dtype=torch.float64)
    C = torch.tensor(s.C)

    def loss(g: np.ndarray) -> float:
        out = innovation_unroll(torch.tensor(g), C, pred, p, x0, y, W, 3.0, 2.0, xK)
        return float(out["loss"])

    g = torch.tensor(g0, requires_grad=True)
    innovation_unroll(g, C, pred, p, x0, y, W, 3.0, 2.0, xK)["loss"].backward()
    num = np.zeros_like(g0)
    for idx in np.ndindex(*g0.shape):
        d = np.zeros_like(g0)
        d[idx] = 1e-6
        num[idx] = (loss(g0 + d) - loss(g0 - d)) / 2e-6
    np.testing.assert_allclose(g.grad.numpy(), num, rtol=1e-6, atol=1e-8)
    # the innovation e_y(k) does not depend on K_G^(k): without λ_K and H the last gain is free
    g2 = torch.tensor(g0, requires_grad=True)
    innovation_unroll(g2, C, pred, p, x0, y, W)["loss"].backward()
    assert np.all(g2.grad.numpy()[-1] == 0.0) and np.any(g2.grad.numpy()[-2] != 0.0)


# ------------------------------------------------------------------ learning from data
def test_learned_gains_move_from_the_wrong_to_the_true_covariance_gains():
    """Assumed Q̃ = 0.1Q, R̃ = 5R, P̃0 = 0.1P0 (Table 2): the gains must approach the true KF's."""
    s = load_system(WRONG)
    A = s.model["A"]
    data = simulate(s, 40, None, seed=0)
    Kt = kalman_gain_sequence(A, s.C, s.Q, s.R, s.P0, s.steps)[0]
    Kw = kalman_gain_sequence(A, s.C, s.Qf, s.Rf, s.P0f, s.steps)[0]
    m = DeepKalmanFilter(s, loss="innovation", gain_param="riccati", backprop="complete",
                         lr=3e-2, epochs=12, batch_size=4).fit(data)  # fmt: skip
    d_wrong, d_dkf = _gain_dist(Kw, Kt), _gain_dist(m.gains_, Kt)
    mse = {k: gain_sequence_mse(A, s.C, s.Q, s.R, s.P0, G) for k, G in
           (("true", Kt), ("wrong", Kw), ("dkf", m.gains_))}  # fmt: skip
    assert d_wrong > 0.7  # the assumed covariances are far off (80%)
    assert d_dkf < 0.25 * d_wrong, (d_dkf, d_wrong)
    assert mse["dkf"] < 1.2 * mse["true"] < 0.3 * mse["wrong"], mse
    # the learned covariances are not the assumed ones: Q/R moved toward the true ratio 0.33
    cov = m.covariances_
    assert cov is not None
    ratio = np.trace(cov["Q"]) / np.trace(cov["R"])
    assert 0.15 < ratio < 0.6, ratio  # assumed: 0.1 Q / 5 R = 0.0065


def test_free_gains_with_the_innovation_loss_also_move_toward_the_true_gains():
    s = load_system(WRONG)
    A = s.model["A"]
    data = simulate(s, 40, None, seed=0)
    Kt = kalman_gain_sequence(A, s.C, s.Q, s.R, s.P0, s.steps)[0]
    G0 = DeepKalmanFilter(s).initial_gains()  # (6.4.24) with the assumed covariances
    m = DeepKalmanFilter(s, loss="innovation", gain_param="free", backprop="complete",
                         lambda_d=100.0, lr=2e-2, epochs=10, batch_size=10).fit(data)  # fmt: skip
    # mid-sequence gains (the last one only sees H): from 0.15 to near the KF's 0.435
    mid = slice(10, 40)
    d0 = np.linalg.norm(G0[mid] - Kt[mid]) / np.linalg.norm(Kt[mid])
    d1 = np.linalg.norm(m.gains_[mid] - Kt[mid]) / np.linalg.norm(Kt[mid])
    assert d0 > 0.6 and d1 < 0.5 * d0, (d0, d1)


def test_map_loss_with_wrong_weights_stays_at_the_wrong_kalman_gains():
    """The cause: (6.4.6) with R̃, P̃(k|k-1) and truncated backprop is minimised by the KF gains
    of R̃, P̃ whatever the data — the learned gains stay at the wrong-covariance KF."""
    s = load_system(WRONG)
    A = s.model["A"]
    data = simulate(s, 20, None, seed=0)
    Kt = kalman_gain_sequence(A, s.C, s.Q, s.R, s.P0, s.steps)[0]
    Kw = kalman_gain_sequence(A, s.C, s.Qf, s.Rf, s.P0f, s.steps)[0]
    m = DeepKalmanFilter(s, loss="map", backprop="truncated", lambda_d=10.0, lr=1e-2, epochs=15,
                         batch_size=10).fit(data)  # fmt: skip
    assert _gain_dist(m.gains_, Kw) < 0.1 < 0.7 < _gain_dist(m.gains_, Kt)


def test_model_file_keeps_the_learned_covariances(tmp_path):
    s = load_system(WRONG)
    data = simulate(s, 10, None, seed=0)
    m = DeepKalmanFilter(s, loss="innovation", gain_param="riccati", backprop="complete",
                         epochs=1, batch_size=5, beyond="kalman", lr=1e-2).fit(data)  # fmt: skip
    save_model(tmp_path / "m.tum", m.to_modelfile())
    back = DeepKalmanFilter.from_modelfile(load_model(tmp_path / "m.tum", kind="dkf"))
    assert back.loss == "innovation" and back.gain_param == "riccati"
    assert back.covariances_ is not None
    for k in ("Q", "R", "P0"):
        np.testing.assert_array_equal(back.covariances_[k], m.covariances_[k])
    # beyond="kalman" with Riccati gains: the stationary gain of the *learned* covariances
    res = kalman_filter(np.zeros((400, 2)), s.model["A"], s.C, m.covariances_["Q"],
                        m.covariances_["R"], np.zeros(2), m.covariances_["P0"])  # fmt: skip
    np.testing.assert_allclose(m.gain_beyond_, res.gains[-1], rtol=1e-8)


@pytest.mark.slow
def test_cli_default_options_reach_the_table2_targets(tmp_path, capsys):
    """`train dkf` with default options on 100 trajectories: exact MSE <= 8e-4, gains within 5%."""
    tr, te, mf = tmp_path / "train.npz", tmp_path / "test.npz", tmp_path / "m.tum"
    assert main(["simulate", "--system", str(WRONG), "--n", "100", "--seed", "0", "--out",
                 str(tr)]) == 0  # fmt: skip
    assert main(["simulate", "--system", str(WRONG), "--n", "100", "--seed", "1", "--out",
                 str(te)]) == 0  # fmt: skip
    assert main(["train", "dkf", "--system", str(WRONG), "--trajectories", str(tr), "--out",
                 str(mf)]) == 0  # fmt: skip
    out = tmp_path / "ev"
    assert main(["evaluate", "--model", str(mf), "--trajectories", str(te), "--out", str(out),
                 "--no-plots"]) == 0  # fmt: skip
    rep = json.loads((out / "report.json").read_text())
    assert rep["exact_mse"]["dkf"] <= 8e-4
    assert rep["gain_dist_steady"]["dkf"] <= 0.05
    assert rep["mse"]["dkf"] < 0.3 * rep["mse"]["kf_assumed"]


# ------------------------------------------------------------------ guards
def _files(tmp_path: Path) -> tuple[Path, Path]:
    tr = tmp_path / "train.npz"
    assert main(["simulate", "--system", str(WRONG), "--n", "6", "--steps", "12", "--seed", "0",
                 "--out", str(tr)]) == 0  # fmt: skip
    return tr, tmp_path / "m.tum"


def _train(tr: Path, out: Path, *extra: str) -> int:
    return main(["train", "dkf", "--system", str(WRONG), "--trajectories", str(tr), "--out",
                 str(out), "--layers", "12", "--epochs", "3", "--batch-size", "3", *extra])  # fmt: skip


@pytest.mark.parametrize("extra", [
    ("--lr", "10", "--gains", "free"), ("--lr", "50", "--gains", "free"), ("--lr", "1e3", "--loss", "map",
                                                        "--gains", "free"),
])  # fmt: skip
def test_divergence_stops_training_and_saves_nothing(tmp_path, capsys, extra):
    tr, out = _files(tmp_path)
    assert _train(tr, out, *extra) == 2
    err = capsys.readouterr().err
    assert "training diverged" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "msg"),
    [
        (("--lr", "-1"), "learning rate must be positive"),
        (("--lr", "0"), "learning rate must be positive"),
        (("--epochs", "0"), "epochs must be positive"),
        (("--batch-size", "7"), "batch size 7 is larger than the 6 training trajectories"),
        (("--batch-size", "0"), "batch size must be positive"),
        (("--lambda-d", "-1"), "lambda_d must be positive"),
        (("--backprop", "truncated"), "truncated backprop"),
        (("--gains", "riccati", "--whiteness-control"), "gain mask"),
    ],
)
def test_impossible_options_are_errors(tmp_path, capsys, extra, msg):
    tr, out = _files(tmp_path)
    assert _train(tr, out, *extra) == 2
    err = capsys.readouterr().err
    assert msg in err and "fix:" in err and "Traceback" not in err
    assert not out.exists()


def test_divergence_check_catches_nan_and_growth():
    with pytest.raises(TrainingError, match="nan"):
        DeepKalmanFilter._check_divergence(float("nan"), 1.0)
    with pytest.raises(TrainingError, match="grew"):
        DeepKalmanFilter._check_divergence(2e4, 1.0)
    DeepKalmanFilter._check_divergence(9e3, 1.0)  # below the factor: no error


@pytest.mark.parametrize("name", ["x", "x0_hat", "y"])
def test_nan_inputs_are_refused_by_train_and_evaluate(tmp_path, capsys, name):
    tr, out = _files(tmp_path)
    assert _train(tr, out) == 0
    with np.load(tr) as z:
        d = {k: z[k] for k in z.files}
    d[name] = d[name].astype(np.float64)
    d[name].reshape(-1)[3] = np.nan
    bad = tmp_path / "bad.npz"
    np.savez(bad, **d)
    capsys.readouterr()
    assert main(["evaluate", "--model", str(out), "--trajectories", str(bad), "--out",
                 str(tmp_path / "ev"), "--no-plots"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert f"[{name}] contains NaN or Inf" in err and "Traceback" not in err
    assert not (tmp_path / "ev" / "report.json").exists()
    assert _train(bad, tmp_path / "m2.tum", "--lambda-k", "1") == 2
    assert f"[{name}] contains NaN or Inf" in capsys.readouterr().err
    assert not (tmp_path / "m2.tum").exists()


def test_estimator_rejects_bad_options_before_training():
    s = load_system(WRONG)
    data = simulate(s, 4, None, seed=0)
    with pytest.raises(ValueDomainError, match="loss must be one of"):
        DeepKalmanFilter(s, loss="mse").fit(data)
    with pytest.raises(ValueDomainError, match="gain_param must be one of"):
        DeepKalmanFilter(s, gain_param="diag").fit(data)
    with pytest.raises(ValueDomainError, match="batch size 5 is larger"):
        DeepKalmanFilter(s, batch_size=5).fit(data)


WEAK = ROOT / "examples" / "dkf" / "weak3.toml"


def test_weak3_riccati_gains_stay_within_2x_of_the_kalman_filter():
    """Weakly observable 3-state model (Table 3): Riccati gains keep the row-3 gain near 124
    (free gains from (6.4.24) stay near 0.14 and give 35x the KF's MSE, docs/dkf.md)."""
    s = load_system(WEAK)
    A = s.model["A"]
    data = simulate(s, 20, None, seed=0)
    Kt = kalman_gain_sequence(A, s.C, s.Q, s.R, s.P0, s.steps)[0]
    m = DeepKalmanFilter(s, loss="innovation", gain_param="riccati", backprop="complete",
                         lr=5e-2, epochs=10, batch_size=2).fit(data)  # fmt: skip
    kf = gain_sequence_mse(A, s.C, s.Q, s.R, s.P0, Kt)
    dkf = gain_sequence_mse(A, s.C, s.Q, s.R, s.P0, m.gains_)
    assert dkf < 2.0 * kf, (dkf, kf)
    assert 60 < m.gains_[-1, 2].mean() < 200  # KF: 124


def test_smoothing_term_biases_riccati_gains_on_weak3():
    """Why λ_D defaults to 0 with Riccati gains: H penalises the KF's own fast rise of the
    row-3 gain (0 -> 124 in a few layers) and pulls the filter away from the KF."""
    s = load_system(WEAK)
    A = s.model["A"]
    data = simulate(s, 20, None, seed=0)
    Kt = kalman_gain_sequence(A, s.C, s.Q, s.R, s.P0, s.steps)[0]
    m = DeepKalmanFilter(s, loss="innovation", gain_param="riccati", backprop="complete",
                         lambda_d=10.0, lr=5e-2, epochs=10, batch_size=2).fit(data)  # fmt: skip
    kf = gain_sequence_mse(A, s.C, s.Q, s.R, s.P0, Kt)
    assert gain_sequence_mse(A, s.C, s.Q, s.R, s.P0, m.gains_) > 2.0 * kf


def test_covariance_prior_holds_the_assumed_covariances():
    s = load_system(WRONG)
    data = simulate(s, 20, None, seed=0)
    kw = dict(loss="innovation", gain_param="riccati", backprop="complete", lr=3e-2, epochs=4,
              batch_size=5)  # fmt: skip
    free = DeepKalmanFilter(s, **kw).fit(data).covariances_
    held = DeepKalmanFilter(s, lambda_c=1e4, **kw).fit(data).covariances_
    assert free is not None and held is not None
    d_free = abs(np.log(free["Q"][0, 0] / s.Qf[0, 0]))
    d_held = abs(np.log(held["Q"][0, 0] / s.Qf[0, 0]))
    assert d_held < 0.2 * d_free, (d_held, d_free)


def test_free_gains_can_start_at_the_assumed_kalman_gains():
    s = load_system(WRONG)
    data = simulate(s, 4, None, seed=0)
    m = DeepKalmanFilter(s, gain_init="kalman", lr=1e-12, epochs=1, batch_size=4).fit(data)
    Kw = kalman_gain_sequence(s.model["A"], s.C, s.Qf, s.Rf, s.P0f, s.steps)[0]
    np.testing.assert_allclose(m.gains_, Kw, atol=1e-9)
    with pytest.raises(ValueDomainError, match="gain_init"):
        DeepKalmanFilter(s, gain_init="zeros").fit(data)
