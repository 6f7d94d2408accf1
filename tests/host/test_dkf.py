"""Deep Kalman Filter: gradients (6.A.3-6.A.5), whiteness index, streaming, model file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tinyunfold.errors import ModelFileError
from tinyunfold.golden.dkf import stream_f32
from tinyunfold.kinds import load_model, save_model
from tinyunfold.models.dkf import (
    DeepKalmanFilter,
    TorchPredictor,
    dkf_unroll,
    gain_for_step,
    run_dkf_numpy,
    second_difference,
    whiteness_deviation,
)
from tinyunfold.models.kalman import kalman_filter
from tinyunfold.models.systems import simulate, system_from_toml


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny matrices: torch's thread pool only adds overhead (and contention on shared CPUs)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


DOC = {
    "name": "toy",
    "kind": "linear",
    "steps": 6,
    "x0": [1.0, -0.5],
    "C": [[1.0, 0.3], [0.0, 1.0]],
    "model": {"A": [[1.01, -0.002], [0.05, 0.97]]},
    "noise": {"sigma_q": 0.1, "sigma_r": 0.2, "sigma_p": 0.1},
    "learn": [{"target": "A", "index": [0, 1]}],
    "learn_C": True,
}


def _setup(seed=0, B=3):
    rng = np.random.default_rng(seed)
    s = system_from_toml(DOC)
    K, n, m = s.steps, s.n, s.m
    gains = rng.standard_normal((K, n, m)) * 0.3
    p = np.array([0.05])
    y = rng.standard_normal((B, K, m))
    x0 = rng.standard_normal((B, n))
    xK = rng.standard_normal((B, n))
    Rinv = np.linalg.inv(np.array([[0.5, 0.1], [0.1, 0.4]]))
    Pinv = np.stack([np.linalg.inv(np.eye(n) * (0.2 + 0.1 * k)) for k in range(K)])
    return s, gains, p, y, x0, xK, Rinv, Pinv


def _torch_grads(mode, s, gains, p, y, x0, xK, Rinv, Pinv, lk, ld):
    g = torch.tensor(gains, requires_grad=True)
    pt = torch.tensor(p, requires_grad=True)
    C = torch.tensor(s.C, requires_grad=True)
    out = dkf_unroll(
        g,
        C,
        TorchPredictor(s),
        pt,
        torch.tensor(x0),
        torch.tensor(y),
        torch.tensor(Rinv),
        torch.tensor(Pinv),
        lk,
        ld,
        torch.tensor(xK),
        mode,
    )
    out["loss_grad"].backward()
    return out["loss"].item(), g.grad.numpy(), pt.grad.numpy(), C.grad.numpy()


def _reference(mode, s, gains, p, y, x0, xK, Rinv, Pinv, lk, ld):
    """Hand-written appendix 6.A for f(x) = A_p x, A_p = A + p E (E = e_0 e_1ᵀ), per trajectory,
    averaged over the batch; H added once (with the 1/(mn) of eq. 6.4.6)."""
    A = s.model["A"].copy()
    E = np.zeros_like(A)
    E[0, 1] = 1.0
    Ap = A + p[0] * E
    C = s.C
    K, n, m = gains.shape
    Bn = y.shape[0]
    gK = np.zeros_like(gains)
    gp = 0.0
    gC = np.zeros_like(C)
    for b in range(Bn):
        xs, xp, e = [x0[b]], [], []
        for k in range(K):
            xp.append(Ap @ xs[-1])
            e.append(y[b, k] - C @ xp[-1])
            xs.append(xp[-1] + gains[k] @ e[-1])
        # direct partials at x̂(k) (index k = 1..K -> xs[k])
        dF = [None] + [-C.T @ Rinv @ (y[b, k - 1] - C @ xs[k]) for k in range(1, K + 1)]
        Pg = [Pinv[k] @ gains[k] @ e[k] for k in range(K)]  # P_k⁻¹ K e
        if mode == "truncated":  # eq. (6.A.5)
            for k in range(1, K + 1):
                gk = np.outer(dF[k], e[k - 1]) + np.outer(Pg[k - 1], e[k - 1])
                if k == K:
                    gk += np.outer(lk * (xs[K] - xK[b]), e[K - 1])
                gK[k - 1] += gk / Bn
        # complete adjoint (6.A.3): a_k = dE/dx̂(k) + Σ_l dF^l/dx̂(k) + Σ_l dG^l/dx̂(k)
        a = [None] * (K + 1)
        a[K] = dF[K] + lk * (xs[K] - xK[b])
        for k in range(K - 1, 0, -1):
            J = (np.eye(n) - gains[k] @ C) @ Ap  # (1 - K^(k+1) C) ∇x̂(k+1|k)
            dG = (-gains[k] @ C @ Ap).T @ Pg[k]  # ∇_{x̂(k)} G^{k+1}
            a[k] = dF[k] + dG + J.T @ a[k + 1]
        if mode == "complete":  # eq. (6.A.4)
            for k in range(1, K + 1):
                gK[k - 1] += (np.outer(a[k], e[k - 1]) + np.outer(Pg[k - 1], e[k - 1])) / Bn
        # p and C: complete in both modes
        for k in range(1, K + 1):
            dxp = E @ xs[k - 1]  # ∇_p x̂(k|k-1)
            gp += ((np.eye(n) - gains[k - 1] @ C) @ dxp) @ a[k] / Bn
            gp += (-gains[k - 1] @ C @ dxp) @ Pg[k - 1] / Bn
            gC += -np.outer(gains[k - 1].T @ a[k], xp[k - 1]) / Bn
            # direct partial of F^k w.r.t. C at fixed x̂(k) (6.A.4 prints x̂(k|k-1) here)
            gC += -np.outer(Rinv @ (y[b, k - 1] - C @ xs[k]), xs[k]) / Bn
            gC += -np.outer(gains[k - 1].T @ Pg[k - 1], xp[k - 1]) / Bn
    if ld:
        D = second_difference(K)
        T = np.einsum("lk,lq,qij->kij", D, D, gains)  # T^(k)_ij = (DᵀD v^ij)_k
        gK += ld / (m * n) * T
    return gK, np.array([gp]), gC


@pytest.mark.parametrize("mode", ["truncated", "complete"])
def test_gradients_match_appendix_6A(mode):
    args = _setup()
    s, gains, p, y, x0, xK, Rinv, Pinv = args
    lk, ld = 0.7, 3.0
    _, gK, gp, gC = _torch_grads(mode, *args, lk, ld)
    rK, rp, rC = _reference(mode, *args, lk, ld)
    np.testing.assert_allclose(gK, rK, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gp, rp, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gC, rC, rtol=1e-10, atol=1e-12)


def test_truncated_and_complete_differ_but_share_p_and_C():
    args = _setup(seed=4)
    _, tK, tp, tC = _torch_grads("truncated", *args, 0.5, 1.0)
    _, cK, cp, cC = _torch_grads("complete", *args, 0.5, 1.0)
    assert np.abs(tK - cK).max() > 1e-3  # truncation removes the future terms
    np.testing.assert_allclose(tK[-1], cK[-1], rtol=1e-12)  # last layer has no future
    np.testing.assert_allclose(tp, cp, rtol=1e-12)
    np.testing.assert_allclose(tC, cC, rtol=1e-12)


def test_complete_gradient_matches_finite_differences():
    s, gains, p, y, x0, xK, Rinv, Pinv = _setup(seed=2)
    lk, ld = 0.3, 2.0
    _, gK, gp, _ = _torch_grads("complete", s, gains, p, y, x0, xK, Rinv, Pinv, lk, ld)

    def loss(g, pp):
        return _torch_grads("complete", s, g, pp, y, x0, xK, Rinv, Pinv, lk, ld)[0]

    h = 1e-6
    for idx in [(0, 0, 0), (2, 1, 0), (5, 0, 1)]:
        gp_, gm_ = gains.copy(), gains.copy()
        gp_[idx] += h
        gm_[idx] -= h
        assert (loss(gp_, p) - loss(gm_, p)) / (2 * h) == pytest.approx(gK[idx], rel=1e-5)
    fd = (loss(gains, p + h) - loss(gains, p - h)) / (2 * h)
    assert fd == pytest.approx(gp[0], rel=1e-5)


def test_whiteness_index_separates_white_from_coloured_noise():
    rng = np.random.default_rng(0)
    K, trials = 200, 300
    white = rng.standard_normal((trials, K))
    ar = np.zeros((trials, K))
    for k in range(1, K):
        ar[:, k] = 0.9 * ar[:, k - 1] + rng.standard_normal(trials)
    w_white = whiteness_deviation(white)
    w_ar = whiteness_deviation(ar)
    # Bartlett / Kolmogorov-Smirnov: the NCP of white noise stays within 1.36/sqrt(q) (95%)
    from tinyunfold.models.dkf import ncp

    q = K // 2
    D = np.arange(q + 1) / q
    sup_white = np.abs(ncp(white) - D).max(-1)
    sup_ar = np.abs(ncp(ar) - D).max(-1)
    assert np.mean(sup_white > 1.36 / np.sqrt(q)) < 0.10
    assert np.mean(sup_ar > 1.36 / np.sqrt(q)) > 0.95
    assert np.median(w_ar) > 4 * np.median(w_white)


def test_kalman_gains_are_a_fixed_point_of_the_truncated_loss():
    """With R_k = R, P_k = P(k|k-1) and λ = 0, the Kalman gain solves the per-layer problem
    (6.4.10), so the truncated gradient (6.A.5) vanishes there."""
    s = system_from_toml({**DOC, "learn": [], "learn_C": False, "steps": 8})
    dkf = DeepKalmanFilter(s, backprop="truncated", p_weight="pred")
    Kt, _ = dkf.kalman_reference()
    data = simulate(s, 4, None, seed=1)
    R_inv, P_inv = dkf.weights()
    g = torch.tensor(Kt, requires_grad=True)
    out = dkf_unroll(
        g,
        torch.tensor(s.C),
        TorchPredictor(s),
        torch.zeros(0, dtype=torch.float64),
        torch.tensor(data["x0_hat"]),
        torch.tensor(data["y"][:, :8]),
        torch.tensor(R_inv),
        torch.tensor(P_inv),
        backprop="truncated",
    )
    out["loss_grad"].backward()
    # ∇_{K^(k)} = (P(k|k-1)⁻¹ + Cᵀ R⁻¹ C)(K - K̃) e eᵀ, zero at K = K̃
    np.testing.assert_allclose(g.grad.numpy(), 0.0, atol=1e-10)
    # the same gains filter exactly like the Kalman filter
    xs = run_dkf_numpy(s, s.model, s.C, Kt, Kt[-1], data["y"][:, :8])
    kf = kalman_filter(data["y"][0, :8], s.model["A"], s.C, s.Qf, s.Rf, s.x0, s.P0f)
    np.testing.assert_allclose(xs[0], kf.x_filt, atol=1e-12)


def test_training_reduces_loss_and_model_file_roundtrip(tmp_path):
    s = system_from_toml({**DOC, "steps": 10})
    data = simulate(s, 8, None, seed=3)
    dkf = DeepKalmanFilter(
        s, backprop="complete", lambda_d=1.0, lr=5e-3, epochs=15, batch_size=4
    ).fit(data)
    assert dkf.log_.loss[-1] < dkf.log_.loss[0]
    path = save_model(tmp_path / "m.tum", dkf.to_modelfile())
    model = load_model(path, kind="dkf")
    back = DeepKalmanFilter.from_modelfile(model)
    np.testing.assert_allclose(back.gains_, dkf.gains_, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(back.p_, dkf.p_)
    x64 = back.transform(data["y"])
    np.testing.assert_allclose(x64, dkf.transform(data["y"]), atol=1e-4)
    # float32 stream = float64 forward (within float32 rounding), also beyond K steps
    y_long = np.concatenate([data["y"][0], data["y"][1]], 0)  # 20 steps, K = 10
    xf = stream_f32(model, y_long)
    x_ref = back.transform(y_long[None])[0, 1:]
    np.testing.assert_allclose(xf, x_ref, rtol=1e-4, atol=1e-4)
    # beyond K the last gain is used
    gb = model.array("gain_beyond")
    np.testing.assert_array_equal(gb, model.array("gains")[-1])
    assert gain_for_step(model.array("gains"), gb, 11) is gb
    # corrupt validation
    bad = dkf.to_modelfile()
    bad.arrays["gains"] = bad.arrays["gains"][:-1]
    with pytest.raises(ModelFileError):
        save_model(tmp_path / "bad.tum", bad)


def test_gain_mask_freezes_rows():
    s = system_from_toml(
        {**DOC, "steps": 10, "learn": [], "learn_C": False, "C": [[1.0, 0.0], [0.0, 1.0]]}
    )
    data = simulate(s, 6, None, seed=5)
    dkf = DeepKalmanFilter(s, whiteness_control=True, epochs=30, lr=1e-2, batch_size=6).fit(data)
    rows = np.array(dkf.log_.mask_rows)
    # once a row is frozen it stays frozen; training stops when all observed rows are frozen
    assert np.all(rows[1:] >= rows[:-1])
    assert rows[-1].any()


def test_implicit_euler_discretisation_6_4_25_and_predictors_agree():
    import tomllib
    from pathlib import Path

    from tinyunfold.models.dkf import predict_numpy
    from tinyunfold.models.systems import load_system

    root = Path(__file__).resolve().parents[2] / "examples" / "dkf"
    s = load_system(root / "heat_continuous.toml")
    A, B, u = s.discrete_linear()
    M, Km, d, dt = s.model["M"], s.model["K"], s.model["d"], s.dt
    Minv = np.linalg.inv(M)
    np.testing.assert_allclose(A, np.linalg.inv(np.eye(3) - dt * Minv @ Km), rtol=1e-12)
    np.testing.assert_allclose(B, A @ (dt * Minv), rtol=1e-12)
    x = np.random.default_rng(0).standard_normal((4, 3))
    # implicit Euler: M (x⁺ - x)/Δt = K x⁺ + d
    xp = predict_numpy(s, s.model, x)
    np.testing.assert_allclose((xp - x) / dt @ M.T, xp @ Km.T + d, atol=1e-12)
    np.testing.assert_allclose(xp, x @ A.T + B @ u, atol=1e-12)
    pred = TorchPredictor(s)
    xt = pred(torch.tensor(x), pred.prepare(torch.zeros(1, dtype=torch.float64))).numpy()
    np.testing.assert_allclose(xt, xp, atol=1e-12)
    # nonlinear kinds: torch and numpy RK4 predictors agree
    for name in ("fitzhugh_nagumo.toml", "lorenz63.toml"):
        sn = system_from_toml(tomllib.loads((root / name).read_text()))
        xn = np.random.default_rng(1).standard_normal((3, sn.n))
        p = np.linspace(0.01, 0.02, len(sn.learn))
        from tinyunfold.models.systems import with_params

        ref = predict_numpy(sn, with_params(sn.model, sn.learn, p), xn)
        pr = TorchPredictor(sn)
        got = pr(torch.tensor(xn), pr.prepare(torch.tensor(p))).numpy()
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def test_beyond_kalman_stores_the_stationary_gain():
    from tinyunfold.models.kalman import steady_state_gain

    s = system_from_toml({**DOC, "steps": 5, "learn": [], "learn_C": False})
    data = simulate(s, 2, None, seed=0)
    m = DeepKalmanFilter(s, beyond="kalman", epochs=1).fit(data)
    np.testing.assert_allclose(m.gain_beyond_, steady_state_gain(s.model["A"], s.C, s.Qf, s.Rf))
    x = m.transform(np.concatenate([data["y"], data["y"]], 1))  # 10 steps, K = 5
    # step 6 uses gain_beyond
    xp = x[:, 5] @ s.model["A"].T
    y6 = data["y"][:, 0]
    np.testing.assert_allclose(x[:, 6], xp + (y6 - xp @ s.C.T) @ m.gain_beyond_.T, atol=1e-12)
