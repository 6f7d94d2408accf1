"""PAD-NMF / Deep-NMF core: masks, forward pass, hand-derived split gradients vs torch autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tinyunfold.models.nmf import NMFInference
from tinyunfold.models.padnmf import (
    PADNMF,
    BlockLayout,
    block_h_mask,
    column_blocks,
    h_mask,
    kl_layer,
    loss_terms,
    run_layers,
    split_gradients,
    stack_columns,
    w_mask,
)


def test_masks_follow_eqs_4_3_6_to_4_3_13() -> None:
    Mh = block_h_mask(3, 5)
    np.testing.assert_array_equal(Mh, [[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 1, 1, 1]])
    lay = BlockLayout(n_bins=2, context=3, ranks=(4, 3), block_class=(0,), class_names=("a",))
    MW = w_mask(lay)
    assert MW.shape == (6, 7)
    # atom s of a block is nonzero only in the last s+1 frame blocks of the context (oldest first)
    np.testing.assert_array_equal(MW[:, 0], [0, 0, 0, 0, 1, 1])
    np.testing.assert_array_equal(MW[:, 1], [0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(MW[:, 3], [1, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(MW[:, 4], [0, 0, 0, 0, 1, 1])  # second block restarts
    assert h_mask(lay, 5).shape == (7, 5)


def test_layers_equal_the_nmf_kind_update() -> None:
    """With M^H = 1 and no trained layers the network is the `nmf` kind's inference."""
    rng = np.random.default_rng(1)
    W = rng.uniform(0.1, 1.0, (12, 5))
    X = rng.uniform(0.0, 2.0, (12, 9))
    ref = NMFInference(W, n_layers=30, alpha_h=0.2, eps=1e-9, n_frames=9).transform(X)
    H = run_layers(np.ones((5, 9)), X, [(W, 30)], 0.2, 1e-9, None)
    np.testing.assert_allclose(H, ref, rtol=1e-13, atol=0)


def _problem(masked: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    lay = BlockLayout(
        n_bins=4, context=3, ranks=(4, 4, 3), block_class=(0, 1), class_names=("a", "b")
    )
    n, B = 5, 3
    m, r = lay.n_features, lay.rank
    MW = w_mask(lay) if masked else np.ones((m, r))
    MH = np.tile(h_mask(lay, n), (1, B)) if masked else None
    Xt = [rng.uniform(0.2, 2.0, (lay.n_bins, n)) for _ in range(B)]
    X = stack_columns(Xt, lay.context)  # Hankel structure: zeros where WH is structurally 0
    S = stack_columns([rng.uniform(0.0, 1.0, x.shape) * x for x in Xt], lay.context)
    H0 = rng.uniform(0.2, 1.5, (r, B * n))
    if MH is not None:
        H0 = H0 * MH
    Wd = [rng.uniform(0.2, 1.5, (m, r)) * MW for _ in range(3)]
    Wf = rng.uniform(0.2, 1.5, (m, r)) * MW
    return lay, X, S, H0, Wd, Wf, MH


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("alpha_s", [0.0, 7.0])
def test_split_gradients_equal_autograd(masked: bool, alpha_s: float) -> None:
    lay, X, S, H0, Wd, Wf, MH = _problem(masked)
    alpha_h, eps = 0.3, 1e-12
    loss, wps, wms = split_gradients(H0, Wd, Wf, X, S, lay.target_rank, alpha_h, alpha_s, eps, MH)
    for wp, wm in zip(wps, wms, strict=True):
        assert wp.min() >= 0 and wm.min() >= 0  # [∇]± are nonnegative by construction

    t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    Wt = [t(W).requires_grad_(True) for W in Wd]
    Xt, St, Wft = t(X), t(S), t(Wf)
    Mt = None if MH is None else t(MH)
    H = t(H0)
    for W in Wt:
        d = W.sum(0)[:, None] + alpha_h
        H = kl_layer(H, W, Xt, d, eps, Mt)
    rs = lay.target_rank
    Vs = Wft[:, :rs] @ H[:rs]
    Y = Vs + Wft[:, rs:] @ H[rs:] + eps
    L = 0.5 * ((Vs / Y * Xt - St) ** 2).sum() + 0.5 * alpha_s * ((St - Vs) ** 2).sum()
    L.backward()
    assert abs(L.item() - loss) <= 1e-12 * abs(loss)
    for W, wp, wm in zip(Wt, wps, wms, strict=True):
        g = W.grad.numpy()
        mine = wp - wm
        rel = np.linalg.norm(mine - g) / np.linalg.norm(g)
        assert rel < 1e-8, rel
        assert np.max(np.abs(mine - g)) <= 1e-8 * np.max(np.abs(g))


def test_loss_gradient_wrt_H_equals_autograd() -> None:
    lay, X, S, H0, _, Wf, _ = _problem(False, seed=3)
    _, gp, gm = loss_terms(H0, Wf, X, S, lay.target_rank, 5.0, 1e-12)
    Ht = torch.tensor(H0, requires_grad=True)
    Wt, Xt, St = (torch.tensor(a) for a in (Wf, X, S))
    rs = lay.target_rank
    Vs = Wt[:, :rs] @ Ht[:rs]
    Y = Vs + Wt[:, rs:] @ Ht[rs:] + 1e-12
    (0.5 * ((Vs / Y * Xt - St) ** 2).sum() + 2.5 * ((St - Vs) ** 2).sum()).backward()
    g = Ht.grad.numpy()
    assert np.linalg.norm(gp - gm - g) <= 1e-10 * np.linalg.norm(g)


def _toy_data(seed: int = 0):
    """Two classes of decaying spectral patterns over stationary noise, hits at frame 0."""
    rng = np.random.default_rng(seed)
    m, n = 10, 8
    env = np.exp(-np.arange(n) / 1.5)
    shapes = [rng.uniform(0, 1, m) ** 3 for _ in range(4)]  # 2 targets per class
    noise_shape = rng.uniform(0.2, 1.0, m)
    noise = lambda: noise_shape[:, None] * rng.uniform(0.8, 1.2, (m, n))  # noqa: E731
    targets = [(i // 2, 4.0 * np.outer(s, env)) for i, s in enumerate(shapes)]
    mixes, stems, labels = [], [], []
    for q in range(16):
        k = q % 5
        if k == 4:
            S = np.zeros((m, n))
            labels.append([])
        else:
            S = rng.uniform(0.3, 3.0) * targets[k][1]
            labels.append([targets[k][0]])
        mixes.append(S + noise())
        stems.append(S)
    return targets, [noise()], mixes, stems, labels


@pytest.mark.parametrize("kind", ["padnmf", "deepnmf"])
def test_training_keeps_structure_and_lowers_the_loss(kind: str) -> None:
    targets, noise, mixes, stems, _ = _toy_data()
    est = PADNMF(
        kind=kind,
        n_layers=60,
        n_discriminative=4,
        context=3,
        target_rank=4,
        noise_rank=3,
        alpha_s=10.0,
        eps=1e-12,
        n_epochs=6,
        batch_size=8,
        init_iter=50,
        seed=0,
    )
    est.init_dictionary(targets, noise, ["a", "b"])
    W0 = [W.copy() for W in est.W_disc_]
    est.fit(mixes, stems)
    hist = est.loss_history_
    assert len(hist) == 6 * 2 and np.all(np.isfinite(hist))
    assert np.mean(hist[-2:]) < np.mean(hist[:2])
    assert len(est.epoch_loss_) == 7 and est.epoch_loss_[-1] < est.epoch_loss_[0]
    assert any(np.abs(W - W0[i]).max() > 0 for i, W in enumerate(est.W_disc_))
    MW = w_mask(est.layout_)
    for W in est.W_disc_:
        assert W.min() >= 0
        if kind == "padnmf":
            assert np.all(W[MW == 0] == 0)  # Hankel structure kept (4.3.9)
    H = est.transform(mixes[:3])
    assert H.shape == (3, est.layout_.rank, 8)
    if kind == "padnmf":
        assert np.all(H[:, h_mask(est.layout_, 8) == 0] == 0)  # causal H mask (4.3.14)


def test_transform_equals_cached_fixed_states_plus_disc_layers() -> None:
    targets, noise, mixes, stems, _ = _toy_data(1)
    est = PADNMF(
        n_layers=40,
        n_discriminative=3,
        context=3,
        target_rank=4,
        noise_rank=3,
        eps=1e-12,
        init_iter=20,
    )
    est.init_dictionary(targets, noise, ["a", "b"])
    est.W_disc_ = [W * 1.1 for W in est.W_disc_]
    H = est.transform(mixes[:2])
    X = stack_columns(mixes[:2], 3)
    Hf = est.cached_fixed_states(X, 2, 8, torch.float64, torch.device("cpu")).numpy()
    MH = np.tile(h_mask(est.layout_, 8), (1, 2))
    H2 = run_layers(Hf, X, [(W, 1) for W in est.W_disc_], 0.0, 1e-12, MH)
    np.testing.assert_allclose(H.transpose(1, 0, 2).reshape(H2.shape), H2, rtol=1e-12)


def test_training_set_outputs_from_cache_equal_transform() -> None:
    targets, noise, mixes, stems, _ = _toy_data(2)
    est = PADNMF(
        n_layers=30,
        n_discriminative=3,
        context=3,
        target_rank=4,
        noise_rank=3,
        alpha_s=10.0,
        eps=1e-12,
        n_epochs=1,
        batch_size=8,
        init_iter=20,
    )
    est.init_dictionary(targets, noise, ["a", "b"]).fit(mixes, stems)
    np.testing.assert_allclose(est.transform_training_set(), est.transform(mixes), rtol=1e-10)


def test_column_blocks_cover_whole_mixtures() -> None:
    from tinyunfold.models import padnmf as mod

    assert column_blocks(10, 24, 8) == [slice(0, 24)]  # small: one block, as before
    old = mod.FULL_PASS_ENTRIES
    try:
        mod.FULL_PASS_ENTRIES = 10 * 8 * 2  # two mixtures of 8 frames per block
        assert column_blocks(10, 40, 8) == [slice(0, 16), slice(16, 32), slice(32, 40)]
        mod.FULL_PASS_ENTRIES = 1  # never less than one mixture
        assert column_blocks(10, 16, 8) == [slice(0, 8), slice(8, 16)]
    finally:
        mod.FULL_PASS_ENTRIES = old


def test_full_passes_in_column_blocks_equal_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """The passes over the whole training set (fixed layers, epoch loss, training-set outputs)
    run in column blocks for bounded memory: a training with blocks of three mixtures gives what
    one block gives."""
    from tinyunfold.models import padnmf as mod

    targets, noise, mixes, stems, _ = _toy_data(3)

    def trained() -> PADNMF:
        est = PADNMF(n_layers=30, n_discriminative=3, context=3, target_rank=4, noise_rank=3,
                     alpha_s=10.0, eps=1e-12, n_epochs=2, batch_size=8, init_iter=20)  # fmt: skip
        return est.init_dictionary(targets, noise, ["a", "b"]).fit(mixes, stems)

    one = trained()
    m = one.layout_.n_features
    monkeypatch.setattr(mod, "FULL_PASS_ENTRIES", m * 8 * 3)
    assert len(column_blocks(m, 8 * len(mixes), 8)) > 1
    blocked = trained()
    np.testing.assert_allclose(blocked.epoch_loss_, one.epoch_loss_, rtol=1e-12)
    for Wb, W1 in zip(blocked.W_disc_, one.W_disc_, strict=True):
        np.testing.assert_allclose(Wb, W1, rtol=1e-12)
    np.testing.assert_allclose(blocked.transform_training_set(), one.transform_training_set(),
                               rtol=1e-12)  # fmt: skip
    np.testing.assert_allclose(blocked.transform_training_set(), blocked.transform(mixes),
                               rtol=1e-10)  # fmt: skip


def test_training_set_larger_than_memory_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """A training set that cannot fit is refused before it is allocated (the kernel would kill
    the process with nothing said); one that fits trains."""
    from tinyunfold.models.padnmf import TrainingDataError
    from tinyunfold.platform import memory

    info = tmp_path / "meminfo"
    info.write_text("MemTotal:       1000 kB\nMemAvailable:     64 kB\n")
    monkeypatch.setattr(memory, "MEMINFO", info)
    assert memory.available_bytes() == 64 * 1024
    targets, noise, mixes, stems, _ = _toy_data(4)

    def est() -> PADNMF:
        return PADNMF(n_layers=10, n_discriminative=2, context=3, target_rank=4, noise_rank=3,
                      eps=1e-12, n_epochs=1, batch_size=8, init_iter=5).init_dictionary(
            targets, noise, ["a", "b"])  # fmt: skip

    with pytest.raises(TrainingDataError) as e:
        est().fit(mixes, stems)
    msg = str(e.value)
    assert "\n" not in msg and "GiB" in msg and f"{len(mixes)} mixtures" in msg
    assert "[model] augment" in msg
    info.write_text("MemAvailable:  99999999 kB\n")
    assert est().fit(mixes, stems).W_disc_
    info.write_text("nothing here\n")  # a platform that does not say: no check
    assert memory.available_bytes() is None
    monkeypatch.setattr(memory, "MEMINFO", tmp_path / "absent")
    assert memory.available_bytes() is None


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("shifted", [False, True])
def test_detection_term_split_gradients_equal_autograd(masked: bool, shifted: bool) -> None:
    """Loss (4.3.20) + α_D Σ (1 − 2y) ln I: [∇]₊ − [∇]₋ equals autograd through three layers,
    and flipping the sign of the term's gradient makes the check fail."""
    from tinyunfold.models.padnmf import detection_coefficients, detection_terms

    lay, X, S, H0, Wd, Wf, MH = _problem(masked, seed=5)
    alpha_h, eps, alpha_s, wd, n = 0.3, 1e-12, 7.0, 0.8, 5
    Y = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])

    def det(H):
        return detection_terms(H, detection_coefficients(H, lay, Y, n, shifted), wd)

    loss, wps, wms = split_gradients(
        H0, Wd, Wf, X, S, lay.target_rank, alpha_h, alpha_s, eps, MH, det
    )
    t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    Wt = [t(W).requires_grad_(True) for W in Wd]
    Xt, St, Wft = t(X), t(S), t(Wf)
    Mt = None if MH is None else t(MH)
    H = t(H0)
    for W in Wt:
        H = kl_layer(H, W, Xt, W.sum(0)[:, None] + alpha_h, eps, Mt)
    G = t(detection_coefficients(H.detach().numpy(), lay, Y, n, shifted))
    assert (G != 0).sum() > 0 and (G > 0).any() and (G < 0).any()
    rs = lay.target_rank
    Vs = Wft[:, :rs] @ H[:rs]
    Yv = Vs + Wft[:, rs:] @ H[rs:] + eps
    L = 0.5 * ((Vs / Yv * Xt - St) ** 2).sum() + 0.5 * alpha_s * ((St - Vs) ** 2).sum()
    L = L + wd * (G * torch.log(torch.where(G != 0, H, torch.ones_like(H)))).sum()
    L.backward()
    assert abs(L.item() - loss) <= 1e-10 * abs(loss)
    for W, wp, wm in zip(Wt, wps, wms, strict=True):
        g = W.grad.numpy()
        assert np.linalg.norm(wp - wm - g) <= 1e-8 * np.linalg.norm(g)

    # a wrong sign in the term's split (swap [∇]₊ and [∇]₋) is detected
    def bad(H):
        l_, p_, m_ = det(H)
        return l_, m_, p_

    _, wps2, wms2 = split_gradients(
        H0, Wd, Wf, X, S, lay.target_rank, alpha_h, alpha_s, eps, MH, bad
    )
    g = Wt[-1].grad.numpy()
    assert np.linalg.norm(wps2[-1] - wms2[-1] - g) > 1e-3 * np.linalg.norm(g)
