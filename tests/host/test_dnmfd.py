"""Deep-NMFD (4.4): forward, split-gradient backprop vs torch autograd, training, model file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tinyunfold.errors import TinyUnfoldError
from tinyunfold.kinds import load_model, save_model
from tinyunfold.models import dnmfd, nmfd


def _problem(seed=0, B=2, m=5, n=9, ranks=(2, 3, 1), n_targets=1):
    rng = np.random.default_rng(seed)
    R = max(ranks)
    mask = nmfd.rank_mask(ranks)
    W_hat = rng.uniform(0.2, 1.0, (len(ranks), m, R)) * mask
    X = rng.uniform(0.1, 1.0, (B, m, n))
    S = rng.uniform(0.0, 0.8, (B, m, n)) * X
    return rng, W_hat, X, S, mask


# ---------------------------------------------------------------- torch reference (literal loops)
def _t_conv(W, H):
    J, m, R = W.shape
    n = H.shape[-1]
    out = torch.zeros(H.shape[0], m, n, dtype=W.dtype)
    for j in range(J):
        for r in range(R):
            shifted = torch.zeros_like(H[:, j])
            shifted[:, r:] = H[:, j, : n - r]
            out = out + W[j, :, r][None, :, None] * shifted[:, None, :]
    return out


def _t_layer(X, W, H, eps):
    V = _t_conv(W, H) + eps
    Q = X / V
    J, m, R = W.shape
    n = X.shape[-1]
    num = torch.zeros_like(H)
    den = torch.zeros_like(H)
    for j in range(J):
        for r in range(R):
            left = torch.zeros_like(Q)
            left[..., : n - r] = Q[..., r:]  # ←r
            num[:, j] = num[:, j] + torch.einsum("m,bmn->bn", W[j, :, r], left)
            ones = torch.zeros(n, dtype=W.dtype)
            ones[: n - r] = 1.0
            den[:, j] = den[:, j] + W[j, :, r].sum() * ones
    return torch.clamp(H * num / den, min=eps)


def _t_loss(X, S, W_hat, W_layers, K, n_t, alpha, eps, H0):
    C = W_layers.shape[0]
    H = H0
    for k in range(K):
        W = W_hat if k < K - C else W_layers[k - (K - C)]
        H = _t_layer(X, W, H, eps)
    Ys = _t_conv(W_hat[:n_t], H[:, :n_t])
    V = _t_conv(W_hat, H) + eps
    return 0.5 * ((S - X * Ys / V) ** 2).sum() + 0.5 * alpha * ((S - Ys) ** 2).sum()


@pytest.mark.parametrize("n_targets", [1, 2])
def test_split_gradients_match_torch_autograd(n_targets):
    rng, W_hat, X, S, mask = _problem(seed=n_targets, n_targets=n_targets)
    K, C, alpha, eps = 5, 3, 0.3, 1e-12
    W_layers = np.stack([W_hat * rng.uniform(0.7, 1.3, W_hat.shape) for _ in range(C)])
    H0 = rng.uniform(0.5, 1.5, (X.shape[0], W_hat.shape[0], X.shape[2]))
    states = dnmfd.forward(X, W_hat, W_layers, K, eps, H0=H0)
    gWp, gWm, gHp, gHm = dnmfd.backward_split(X, S, W_hat, W_layers, states, n_targets, alpha, eps)
    for g in (gWp, gWm, gHp, gHm):
        assert np.all(g >= 0)  # both parts are nonnegative by construction

    t = {
        k: torch.tensor(v, dtype=torch.float64)
        for k, v in dict(X=X, S=S, W_hat=W_hat, W_layers=W_layers, H0=H0).items()
    }
    t["W_layers"].requires_grad_(True)
    t["H0"].requires_grad_(True)
    val = _t_loss(t["X"], t["S"], t["W_hat"], t["W_layers"], K, n_targets, alpha, eps, t["H0"])
    val.backward()
    np.testing.assert_allclose(
        float(val.detach()), dnmfd.loss(X, S, W_hat, states[-1], n_targets, alpha, eps), rtol=1e-12
    )
    gW_ref = t["W_layers"].grad.numpy() * mask  # padding columns are not parameters
    gW = (gWp - gWm) * mask
    assert np.max(np.abs(gW - gW_ref)) <= 1e-8 * np.max(np.abs(gW_ref))
    gH_ref = t["H0"].grad.numpy()
    assert np.max(np.abs(gHp - gHm - gH_ref)) <= 1e-8 * np.max(np.abs(gH_ref))
    # a single entry relative check too (not only the max norm)
    big = np.abs(gW_ref) > 1e-3 * np.abs(gW_ref).max()
    np.testing.assert_allclose(gW[big], gW_ref[big], rtol=1e-8)


def test_forward_layer_is_nmfd_kl_update_with_shifted_ones():
    """With Ŵ everywhere the layer map is the KL NMFD H-update (3.3.10) at β = 1."""
    _, W_hat, X, _, _ = _problem(3)
    H = np.ones((X.shape[0], W_hat.shape[0], X.shape[2]))
    eps = 1e-12
    ref = np.stack([nmfd.update_h(X[b], W_hat, H[b], beta=1.0, eps=eps) for b in range(len(X))])
    np.testing.assert_allclose(dnmfd.layer(X, W_hat, H, eps), ref, rtol=1e-10)


def test_training_decreases_loss_and_keeps_structure():
    rng = np.random.default_rng(7)
    ranks, m, n, Q = (3, 2), 6, 16, 12
    mask = nmfd.rank_mask(ranks)
    W_true = rng.uniform(0, 1, (2, m, 3)) * mask
    H_true = (rng.uniform(size=(Q, 2, n)) < 0.15) * rng.uniform(0.5, 2, (Q, 2, n))
    S = nmfd.convolve(W_true[:1], H_true[:, :1])
    X = S + nmfd.convolve(W_true[1:], H_true[:, 1:]) + 0.05
    W_hat = np.clip(W_true + rng.uniform(0, 0.6, W_true.shape), 1e-3, None) * mask
    model = dnmfd.DeepNMFD(
        ranks=ranks,
        n_targets=1,
        n_layers=12,
        n_discriminative=4,
        alpha_s=0.1,
        n_epochs=15,
        batch_size=4,
        lr=0.5,
        random_state=0,
    )
    before = model.set_dictionary(W_hat).score(X, S)
    model.fit(X, S)
    after = model.score(X, S)
    assert after < 0.9 * before
    assert np.all(model.W_layers_ >= 0) and np.all(model.W_layers_ * (1 - mask) == 0)
    assert np.array_equal(model.W_hat_, W_hat)  # Ŵ is not trained
    assert model.separate(X[0]).shape == (m, n) and model.transform(X).shape == (Q, 2, n)


def test_model_file_round_trip(tmp_path):
    rng, W_hat, X, S, mask = _problem(4)
    model = dnmfd.DeepNMFD(ranks=(2, 3, 1), n_targets=1, n_layers=6, n_discriminative=2)
    model.set_dictionary(W_hat)
    model.W_layers_ = model.W_layers_ * rng.uniform(0.5, 1.5, model.W_layers_.shape) * mask
    path = save_model(tmp_path / "m.tum", model.to_modelfile())
    loaded = dnmfd.DeepNMFD.from_modelfile(load_model(path, kind="dnmfd"))
    assert loaded.ranks == [2, 3, 1] and loaded.n_layers == 6 and loaded.n_discriminative == 2
    np.testing.assert_array_equal(loaded.W_layers_, model.W_layers_.astype(np.float32))
    a = loaded.transform(X)
    b = dnmfd.DeepNMFD.from_modelfile(model.to_modelfile()).transform(X)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, model.transform(X), rtol=1e-5)


def test_model_file_validation_rejects_bad_arrays(tmp_path):
    _, W_hat, _, _, _ = _problem(5)
    mf = (
        dnmfd.DeepNMFD(ranks=(2, 3, 1), n_layers=4, n_discriminative=1)
        .set_dictionary(W_hat)
        .to_modelfile()
    )
    mf.arrays["W_hat"] = mf.arrays["W_hat"].copy()
    mf.arrays["W_hat"][2, 0, 2] = 1.0  # beyond rank r_3 = 1
    with pytest.raises(TinyUnfoldError, match="beyond a rank"):
        save_model(tmp_path / "bad.tum", mf)
    mf2 = (
        dnmfd.DeepNMFD(ranks=(2, 3, 1), n_layers=4, n_discriminative=1)
        .set_dictionary(W_hat)
        .to_modelfile()
    )
    mf2.params["n_discriminative"] = 5
    with pytest.raises(TinyUnfoldError):
        save_model(tmp_path / "bad2.tum", mf2)


def test_init_dictionaries_fit_each_source():
    rng = np.random.default_rng(9)
    srcs = [rng.uniform(0, 1, (5, 30)), rng.uniform(0, 1, (5, 40))]
    W = dnmfd.init_dictionaries(srcs, (3, 1), n_iter=50)
    assert W.shape == (2, 5, 3) and np.all(W[1, :, 1:] == 0) and np.all(W[0] > 0)


def test_cached_fixed_layers_give_the_same_gradients():
    """Back-propagating through the C trainable layers only (from cached H⁽ᴷ⁻ᶜ⁾) is exact."""
    rng, W_hat, X, S, _ = _problem(6)
    K, C, eps = 7, 2, 1e-12
    W_layers = np.stack([W_hat * rng.uniform(0.7, 1.3, W_hat.shape) for _ in range(C)])
    full = dnmfd.forward(X, W_hat, W_layers, K, eps)
    gp, gm, _, _ = dnmfd.backward_split(X, S, W_hat, W_layers, full, 1, 0.2, eps)
    tail = dnmfd.forward(X, W_hat, W_layers, C, eps, H0=full[K - C])
    np.testing.assert_allclose(tail[-1], full[-1], rtol=1e-13)
    tp, tm, _, _ = dnmfd.backward_split(X, S, W_hat, W_layers, tail, 1, 0.2, eps)
    np.testing.assert_allclose(tp, gp, rtol=1e-12)
    np.testing.assert_allclose(tm, gm, rtol=1e-12)
    model = dnmfd.DeepNMFD(ranks=(2, 3, 1), n_layers=K, n_discriminative=C, eps=eps)
    model.set_dictionary(W_hat)
    np.testing.assert_allclose(model.fixed_states(X), full[K - C], rtol=1e-13)


def test_train_step_is_the_split_gradient_update():
    """guard = 0, lr = 1: W ← W ∘ [∇]₋ ⊘ [∇]₊ (4.4.5) on the trainable layers; Ŵ unchanged."""
    rng, W_hat, X, S, mask = _problem(8)
    eps = 1e-12
    model = dnmfd.DeepNMFD(
        ranks=(2, 3, 1), n_layers=5, n_discriminative=2, alpha_s=0.3, eps=eps, lr=1.0, guard=0.0
    ).set_dictionary(W_hat)
    W0 = model.W_layers_.copy()
    states = dnmfd.forward(X, W_hat, W0, 5, eps)
    gp, gm, _, _ = dnmfd.backward_split(X, S, W_hat, W0, states, 1, 0.3, eps)
    model.train_step(X, S)
    expected = np.maximum(eps, W0 * (gm + eps) / (gp + eps)) * mask
    np.testing.assert_allclose(model.W_layers_, expected, rtol=1e-10)
    assert np.array_equal(model.W_hat_, W_hat)


def test_float32_forward_stays_float32_and_close():
    rng, W_hat, X, _, _ = _problem(10)
    model = dnmfd.DeepNMFD(ranks=(2, 3, 1), n_layers=20, n_discriminative=3).set_dictionary(W_hat)
    h64 = model.transform(X)
    h32 = model.transform(X, dtype=np.float32)
    assert h32.dtype == np.float32
    np.testing.assert_allclose(h32, h64, rtol=1e-3, atol=1e-6)
