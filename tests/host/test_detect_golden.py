"""The float32 golden detection (golden/detect.py, the device contract) against the float64
research path (detection.py) on H of small random PAD-NMF / Deep-NMF networks: the same decisions
except where scores tie within float32 rounding. A numerical check between two precisions, so a
tolerance is right here (the firmware is compared bit for bit in tests/firmware)."""

import functools

import numpy as np
import pytest

from tinyunfold.detection import detection_indices, fit_detector
from tinyunfold.errors import ValueDomainError
from tinyunfold.golden import detect as gd
from tinyunfold.golden.padnmf import constants, padnmf_forward_f32
from tinyunfold.models.padnmf import PADNMF, BlockLayout

N_FRAMES = 4
REL = 1e-6  # float32 rounding of a log index, relative to (1 + |value|)
UR_REL = 1e-3  # float32 vs float64 latent Î after the same 500 updates


def _windows(padnmf_model, kind, seed, n=240):
    """H (n, r, N) float32 of a random network, and label sets (no hit, one hit, two hits)."""
    model, rng = padnmf_model(kind, kind == "padnmf", seed, n=N_FRAMES)
    layout = BlockLayout.from_params(model.params["layout"])
    c = constants(model)
    labels = [[] if q % 3 == 0 else [q % 2] if q % 3 == 1 else [0, 1] for q in range(n)]
    spec = rng.random((n, layout.n_bins, N_FRAMES)) * rng.choice([0.1, 1.0, 10.0], (n, 1, 1))
    for q, cs in enumerate(labels):  # a hit: energy in the class's half of the bins
        for cl in cs:
            spec[q, cl * 2 : cl * 2 + 3, :] += 3.0 * rng.random()
    H = np.stack([padnmf_forward_f32(c, s.astype(np.float32)) for s in spec])
    return H.reshape(n, layout.rank, N_FRAMES), labels, layout


@functools.lru_cache(maxsize=2)
def _trained_windows(kind, n=240):
    """H of a small *trained* network (two classes of decaying patterns over noise, hits at
    frame 0; trained for 3 epochs) on n new mixtures: no hit, one hit, two hits."""
    import torch

    torch.set_num_threads(1)
    rng = np.random.default_rng(5)
    m, nf = 10, 8
    env = np.exp(-np.arange(nf) / 1.5)
    shapes = [rng.uniform(0, 1, m) ** 3 for _ in range(4)]  # 2 targets per class
    noise_shape = rng.uniform(0.2, 1.0, m)

    def noise():
        return noise_shape[:, None] * rng.uniform(0.8, 1.2, (m, nf))

    targets = [(i // 2, 4.0 * np.outer(s, env)) for i, s in enumerate(shapes)]

    def mixture(classes):
        S = np.zeros((m, nf))
        for cl in classes:
            S += rng.uniform(0.3, 3.0) * targets[2 * cl + int(rng.integers(2))][1]
        return S + noise(), S

    train_labels = [[] if q % 5 == 4 else [q % 2] for q in range(20)]
    mixes, stems = zip(*(mixture(cs) for cs in train_labels), strict=True)
    est = PADNMF(
        kind=kind, n_layers=30, n_discriminative=3, context=3, target_rank=4, noise_rank=3,
        alpha_s=10.0, eps=1e-12, n_epochs=3, batch_size=8, init_iter=30, seed=0,
    )  # fmt: skip
    est.init_dictionary(targets, [noise()], ["a", "b"]).fit(list(mixes), list(stems))
    c = constants(est.to_modelfile({"n_frames": nf}))
    labels = [[] if q % 3 == 0 else [q % 2] if q % 3 == 1 else [0, 1] for q in range(n)]
    H = np.stack([padnmf_forward_f32(c, mixture(cs)[0].astype(np.float32)) for cs in labels])
    return H, labels, est.layout_, nf


def _tie(score64, thr64, rows, rel=REL):
    """Rows where a score is within float32 rounding of its threshold or of another score."""
    tol = rel * (1 + np.abs(score64))
    near_thr = (np.abs(score64 - thr64) <= tol).any(1)
    d = np.abs(score64[:, :, None] - score64[:, None, :])
    np.einsum("bii->bi", d)[:] = np.inf
    near_pair = (d <= tol[:, :, None]).any((1, 2))
    return (near_thr | near_pair)[rows]


@pytest.mark.parametrize("kind", ["padnmf", "deepnmf"])
@pytest.mark.parametrize("shifted", [False, True])
@pytest.mark.parametrize("seed", [0, 1, "trained"])
@pytest.mark.parametrize("top_k", [1, 2])
def test_golden_decisions_agree_with_float64(padnmf_model, kind, shifted, seed, top_k):
    n_frames, name = N_FRAMES, f"seed={seed}"
    if seed == "trained":
        H32, labels, layout, n_frames = _trained_windows(kind)
        seed = 1
    else:
        H32, labels, layout = _windows(padnmf_model, kind, seed)
    H64 = H32.astype(np.float64)
    half = len(labels) // 2
    det = fit_detector(
        H64[:half], labels[:half], layout, shifted=shifted, top_k=top_k, ur_beta=float(seed),
        ur_alpha=0.1, ur_background=bool(seed),
    )  # fmt: skip
    params = gd.params_from_detector(det, layout, n_frames)
    idx64 = detection_indices(H64, layout, shifted=shifted)
    g = gd.detect_f32(H32, params)
    with np.errstate(divide="ignore"):
        ln64 = np.log(idx64.index)
        ltau64 = np.log(det.thresholds)
    fin = np.isfinite(ln64)
    assert np.array_equal(np.isfinite(g.log_index), fin)
    assert np.all(np.abs(g.log_index[fin] - ln64[fin]) <= REL * (1 + np.abs(ln64[fin])))

    # threshold rule
    dec64 = det.decide(idx64.index)
    differ = np.array([a != b for a, b in zip(dec64, g.classes, strict=True)])
    assert not (differ & ~_tie(ln64, ltau64, slice(None))).any()
    n_hits = sum(map(len, dec64))
    assert 0 < n_hits < len(labels) * top_k  # the rule decides both ways

    # uncertainty reduction
    gu = gd.detect_f32(H32, params, "ur")
    lat64 = det.ur.latent(idx64.index)
    # Â of random networks is ill-conditioned (similar columns): after the fixed 500 updates the
    # float32 and float64 iterates differ by up to ~2e-4 (relative), not by rounding alone
    assert np.all(np.abs(gu.score - lat64) <= UR_REL * (1 + np.abs(lat64)))
    dec64u = det.decide(idx64.index, "ur")
    differ_u = np.array([a != b for a, b in zip(dec64u, gu.classes, strict=True)])
    thr = np.full(layout.n_classes, det.ur.threshold)
    assert not (differ_u & ~_tie(lat64, thr, slice(None), UR_REL)).any()
    print(
        f"{kind} {name} shifted={shifted} top_k={top_k}: threshold rule "
        f"{differ.sum()}/{len(labels)} decisions differ, UR {differ_u.sum()}/{len(labels)}"
    )


def test_shifted_variant_scans_every_offset(padnmf_model):
    H32, labels, layout = _windows(padnmf_model, "deepnmf", 0, n=30)  # no H mask: shifts > 0
    det = fit_detector(H32.astype(np.float64), labels, layout, shifted=True, ur_beta=None)
    p = gd.params_from_detector(det, layout, N_FRAMES)
    assert p.n_shifts == N_FRAMES and p.ur is None
    _, shift = gd.indices_f32(H32, p)
    ref = detection_indices(H32.astype(np.float64), layout, shifted=True).shift
    assert np.mean(shift == ref) > 0.95 and shift.max() > 0


def test_decide_breaks_ties_like_the_stable_sort():
    score = np.array([[1.0, 2.0, 2.0, 0.5], [0.0, -0.0, 3.0, np.nan]], np.float32)
    thr = np.array([0.1, 0.1, 0.1, -1.0], np.float32)
    assert gd.decide_f32(score, thr, 3) == [[1, 2, 0], [2]]
    assert gd.decide_f32(score, np.full(4, -1, np.float32), 4) == [[1, 2, 0, 3], [2, 0, 1]]


def test_rules_the_device_cannot_run_are_refused(padnmf_model):
    H32, labels, layout = _windows(padnmf_model, "padnmf", 0, n=30)
    H64 = H32.astype(np.float64)
    det = fit_detector(H64, labels, layout, ur_beta=0.5)
    with pytest.raises(ValueDomainError, match="beta=0.5"):
        gd.params_from_detector(det, layout, N_FRAMES)
    det = fit_detector(H64, labels, layout, activation=True, ur_beta=None)
    with pytest.raises(ValueDomainError, match="not deployable"):
        gd.params_from_detector(det, layout, N_FRAMES)
    det = fit_detector(H64, labels, layout, ur_beta=None)
    with pytest.raises(ValueDomainError, match="no uncertainty-reduction"):
        gd.detect_f32(H32, gd.params_from_detector(det, layout, N_FRAMES), "ur")


@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_golden_runs_the_authors_uncertainty_reduction(padnmf_model, beta):
    """Labels 1e-2 on no-hit mixtures, prior α Î^(p-1), Î_l > factor x max over no-hit training
    mixtures: the same device kernel (per-class thresholds, one prior weight) decides like
    float64, and the weight and thresholds it gets are the new ones."""
    H32, labels, layout = _windows(padnmf_model, "padnmf", 1)
    H64 = H32.astype(np.float64)
    half = len(labels) // 2
    det = fit_detector(
        H64[:half], labels[:half], layout, ur_beta=beta, ur_alpha=0.1, ur_nohit_label=1e-2,
        ur_prior="alpha", ur_rule="nohit_max", ur_factor=1.5,
    )  # fmt: skip
    params = gd.params_from_detector(det, layout, N_FRAMES)
    assert params.ur.alpha_p == np.float32(0.1)  # α, not α p
    thr = det.ur.class_thresholds()
    assert np.array_equal(params.ur.threshold, thr.astype(np.float32)) and np.ptp(thr) > 0
    idx64 = detection_indices(H64, layout)
    gu = gd.detect_f32(H32, params, "ur")
    lat64 = det.ur.latent(idx64.index)
    assert np.all(np.abs(gu.score - lat64) <= UR_REL * (1 + np.abs(lat64)))
    dec64u = det.decide(idx64.index, "ur")
    differ = np.array([a != b for a, b in zip(dec64u, gu.classes, strict=True)])
    assert not (differ & ~_tie(lat64, thr, slice(None), UR_REL)).any()


def test_golden_uses_the_detectors_index_floor(padnmf_model):
    """A floor selected on training data (detection.select_floor) is the device's clip level."""
    from tinyunfold.detection import select_floor

    H32, labels, layout = _windows(padnmf_model, "padnmf", 0)
    H64 = H32.astype(np.float64)
    fl = select_floor(H64, labels, layout, shifted=False)
    assert fl in (1e-30, 1e-8, 1e-6, 1e-4, 1e-3, 1e-2)
    fl = float(np.float32(np.quantile(H64[H64 > 0], 0.5)))  # clips half the active entries
    det = fit_detector(H64, labels, layout, floor=fl, ur_beta=None)
    params = gd.params_from_detector(det, layout, N_FRAMES)
    assert params.floor == np.float32(fl)
    g = gd.detect_f32(H32, params)
    ln64 = np.log(detection_indices(H64, layout, floor=fl).index)
    assert np.all(np.abs(g.log_index - ln64) <= REL * (1 + np.abs(ln64)))
    # the default floor would give other indices: the check sees the floor
    ln_default = np.log(detection_indices(H64, layout).index)
    assert np.abs(ln_default - ln64).max() > 1e-3


@pytest.mark.parametrize("rule", ["gm", "max", "fpr"])
def test_a_class_floored_everywhere_is_never_detected(rule):
    """A threshold at the index floor would report an all-floor class on the device in every
    window: the float32 mean of 32 equal logarithms rounds above ln floor (the float64 index
    equals the floor). Thresholds stay above the floor (detection.FLOOR_THRESHOLD_FACTOR)."""
    lay = BlockLayout(n_bins=1, context=1, ranks=(32, 32, 1), block_class=(0, 1),
                      class_names=("quiet", "b"))  # fmt: skip
    rng = np.random.default_rng(0)
    Q, n = 24, 32
    H = rng.uniform(1e-3, 1.0, (Q, lay.rank, n))
    H[:, :32, :] = 1e-12  # class "quiet": every entry below the floor
    labels = [[] if q % 2 == 0 else [1] for q in range(Q)]
    for q in range(1, Q, 2):
        H[q, 32:64, :] *= 50.0  # class b hits
    det = fit_detector(H, labels, lay, rule=rule, floor=1e-8, ur_beta=None)
    assert det.thresholds[0] > 1e-8
    g = gd.detect_f32(H.astype(np.float32), gd.params_from_detector(det, lay, n))
    assert np.all(g.log_index[:, 0] > np.float32(np.log(1e-8)))  # the rounding the rule must absorb
    assert all(0 not in cs for cs in g.classes)
    assert any(1 in cs for cs in g.classes)  # the other class is still decided
