"""Detection indices (4.3.28-4.3.30), the time-shifted variant, thresholds (4.3.32), top-k and the
uncertainty reduction (4.3.34-4.3.38)."""

from __future__ import annotations

import numpy as np
import pytest

from tinyunfold.datasets.prep import label_sets
from tinyunfold.detection import (
    Detector,
    UncertaintyReduction,
    activation_indices,
    decide,
    detection_indices,
    fit_thresholds,
    fit_ur_matrix,
    ur_infer,
)
from tinyunfold.models.divergence import beta_divergence
from tinyunfold.models.padnmf import BlockLayout
from tinyunfold.pipelines.evaluation import confusion

LAY = BlockLayout(
    n_bins=3, context=2, ranks=(3, 3, 2, 2), block_class=(0, 1, 1), class_names=("a", "b")
)


def _gm(v: np.ndarray) -> float:
    return float(np.exp(np.mean(np.log(v))))


def test_diagonal_indices_by_hand() -> None:
    rng = np.random.default_rng(0)
    H = rng.uniform(0.1, 2.0, (LAY.rank, 5))
    res = detection_indices(H, LAY)
    d_a = np.diag(H[0:3, :3])
    d_b = np.concatenate([np.diag(H[3:6, :3]), np.diag(H[6:8, :2])])
    np.testing.assert_allclose(res.index[0], [_gm(d_a), _gm(d_b)], rtol=1e-12)
    np.testing.assert_allclose(
        res.partial[0], [_gm(d_a), _gm(np.diag(H[3:6, :3])), _gm(np.diag(H[6:8, :2]))], rtol=1e-12
    )


def test_shifted_indices_find_a_late_onset() -> None:
    H = np.full((LAY.rank, 6), 1e-3)
    for s in range(3):  # class a hit starting at frame 2: atom s active at frame 2+s
        H[s, 2 + s] = 5.0
    plain = detection_indices(H, LAY)
    shifted = detection_indices(H, LAY, shifted=True)
    assert plain.index[0, 0] == pytest.approx(1e-3)
    assert shifted.index[0, 0] == pytest.approx(5.0)
    assert shifted.shift[0, 0] == 2
    assert shifted.index[0, 1] == pytest.approx(1e-3)
    # batch of two gives the same per-item answer
    both = detection_indices(np.stack([H, H * 2]), LAY, shifted=True)
    np.testing.assert_allclose(both.index[1], 2 * shifted.index[0])


def test_activation_indices() -> None:
    H = np.ones((LAY.rank, 4))
    H[6:8] = 3.0
    res = activation_indices(H, LAY)
    np.testing.assert_allclose(res.index[0], [3.0, 3.0 + 6.0])


def test_thresholds_and_decision() -> None:
    I0 = np.array([[1.0, 4.0], [4.0, 1.0], [2.0, 2.0]])
    np.testing.assert_allclose(fit_thresholds(I0, "gm"), [2.0, 2.0])
    np.testing.assert_allclose(fit_thresholds(I0, "max", margin=2.0), [8.0, 8.0])
    with pytest.raises(Exception, match="no-hit"):
        fit_thresholds(np.zeros((0, 2)))
    tau = np.array([1.0, 1.0, 5.0])
    idx = np.array([[3.0, 2.0, 4.0], [0.5, 0.2, 0.1], [3.0, 2.0, 6.0]])
    assert decide(idx, tau) == [[0], [], [2]]  # 4.0 <= tau_2: class 2 is not a candidate
    assert decide(idx, tau, top_k=2) == [[0, 1], [], [2, 0]]


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0])
def test_uncertainty_reduction_recovers_labels(beta: float) -> None:
    rng = np.random.default_rng(1)
    A_true = np.array([[5.0, 0.5, 0.3], [0.4, 4.0, 0.6], [0.2, 0.7, 6.0]])
    labels = np.eye(3)[:, rng.integers(0, 3, 30)]
    I_Q = A_true @ labels * rng.uniform(0.95, 1.05, labels.shape)
    A = fit_ur_matrix(I_Q, labels, beta, n_iter=3000)
    # each column of Â is the (β-)mean of the indices of its class: close to A_true
    np.testing.assert_allclose(A, A_true, rtol=0.06)
    lat = ur_infer((A_true @ np.eye(3)).T, A, beta, alpha=0.0, n_iter=3000)
    assert np.all(np.argmax(lat, axis=1) == [0, 1, 2])
    assert np.all(np.diag(lat) > 0.8)
    # the ℓp prior shrinks the latent vector
    lat_p = ur_infer((A_true @ np.eye(3)).T, A, beta, alpha=2.0, p=0.5, n_iter=3000)
    assert lat_p.sum() < lat.sum()


def test_beta_divergence_is_zero_on_equal_arguments() -> None:
    X = np.array([1.0, 2.0, 3.0])
    for beta in (0.0, 1.0, 2.0, 0.5):
        assert beta_divergence(X, X, beta) == pytest.approx(0.0, abs=1e-12)
        assert beta_divergence(X, X * 1.5, beta) > 0


def test_detector_roundtrip_and_ur_decision() -> None:
    rng = np.random.default_rng(2)
    idx = np.abs(rng.normal(size=(6, 2))) * 1e-6
    ur = UncertaintyReduction(beta=1.0).fit(idx, [[0], [1], [], [0], [1], []], 2)
    det = Detector(
        shifted=True,
        rule="max",
        margin=1.0,
        thresholds=np.array([1e-6, 2e-6]),
        ur=ur,
        train_index=idx,
        train_labels=[[0], [1], [], [0], [1], []],
    )
    det2 = Detector.from_model({"detection": det.to_params()}, det.arrays())
    assert det2.shifted and det2.ur is not None and det2.ur.scale == pytest.approx(ur.scale)
    assert det2.decide(idx, "ur") == det.decide(idx, "ur")
    assert det2.decide(idx) == decide(idx, det.thresholds)


def test_confusion_counts() -> None:
    true = label_sets(["a", "b", "none", "none", "a"], ["a", "b"])
    pred = [[0], [0], [], [1], []]
    c = confusion(pred, true, 2)
    assert c["tp_rate"] == [0.5, 0.0] and c["tn_rate"] == 0.5
    assert c["fp_rate"] == [0.0, 0.5] and c["accuracy"] == pytest.approx(2 / 5)


def test_fpr_thresholds_hold_the_stated_rate_on_fresh_negatives() -> None:
    from tinyunfold.detection import fit_fpr_thresholds

    rng = np.random.default_rng(0)
    L, Q = 3, 300
    labels = [[] if q % 2 == 0 else [q % L] for q in range(Q)]
    logI = rng.normal(0.0, 1.0, size=(Q, L))
    for q, s in enumerate(labels):
        for c in s:
            logI[q, c] += 6.0
    tau, cv = fit_fpr_thresholds(np.exp(logI), labels, fpr=0.06)
    fresh = np.exp(rng.normal(0.0, 1.0, size=(20000, L)))
    fp_any = float((fresh > tau).any(1).mean())
    assert 0.03 < fp_any < 0.08  # stated 6% (union bound over 3 classes at 2% each)
    assert 0.0 < cv["fp_any_nohit"] < 0.15 and min(cv["tp_per_class"]) > 0.95
    # a wrong z (no division by L) would give ~17% here: the check can fail
    assert fp_any < 0.1


def test_calibration_and_wilson() -> None:
    from tinyunfold.detection import calibrated_probability, fit_calibration
    from tinyunfold.pipelines.evaluation import wilson

    rng = np.random.default_rng(1)
    Q = 2000
    y = rng.random(Q) < 0.3
    x = np.where(y, 2.0, 0.0) + rng.normal(size=Q)  # log index; true P(y|x) is logistic in x
    cal = fit_calibration(np.exp(x)[:, None], [[0] if v else [] for v in y])
    p = calibrated_probability(np.exp(np.array([[-1.0], [1.0], [3.0]])), cal)[:, 0]
    true_p = 1 / (1 + np.exp(-(2.0 * np.array([-1.0, 1.0, 3.0]) - 2.0 + np.log(0.3 / 0.7))))
    np.testing.assert_allclose(p, true_p, atol=0.05)
    lo, hi = wilson(8, 10)
    assert abs(lo - 0.490) < 2e-3 and abs(hi - 0.943) < 2e-3  # standard table values
    assert wilson(0, 0) == (0.0, 1.0)


def test_authors_uncertainty_reduction_rule_and_cv() -> None:
    """Labels 1e-2 on no-hit mixtures shape Â; τ_l = factor x max Î_l over the no-hit training
    mixtures; the CV picks α and the factor from the grids; prior weight α vs α p differs."""
    from tinyunfold.detection import UncertaintyReduction, prior_weight

    rng = np.random.default_rng(4)
    L, Q = 3, 60
    labels = [[] if q % 4 == 0 else [q % L] for q in range(Q)]
    idx = np.exp(rng.normal(0, 0.3, (Q, L)))
    for q, s in enumerate(labels):
        for c in s:
            idx[q, c] *= 20.0
    u = UncertaintyReduction(beta=0.0, alpha=0.1, nohit_label=1e-2, prior="alpha", rule="nohit_max",
                             factor=1.5).fit(idx, labels, L)  # fmt: skip
    nohit = [q for q, s in enumerate(labels) if not s]
    np.testing.assert_allclose(u.class_thresholds(), 1.5 * u.latent(idx[nohit]).max(0))
    u0 = UncertaintyReduction(beta=0.0, alpha=0.1, rule="nohit_max", factor=1.5).fit(idx, labels, L)
    assert not np.allclose(u0.A, u.A)  # the no-hit labels change Â
    assert prior_weight(0.1, 0.25, "alpha") == 0.1 and prior_weight(0.1, 0.25, "alpha_p") == 0.025
    cv = UncertaintyReduction(beta=0.0, nohit_label=1e-2, prior="alpha", rule="nohit_max")
    cv.fit_cv(idx, labels, L)
    assert cv.alpha in (0.0, 0.01, 0.1, 1.0) and cv.factor in (1.0, 1.25, 1.5, 2.0, 3.0)
    assert cv.cv_accuracy > 0.8  # separable toy data
    pred = cv.decide(idx, top_k=L)
    assert np.mean([sorted(p) == sorted(t) for p, t in zip(pred, labels, strict=True)]) > 0.8
