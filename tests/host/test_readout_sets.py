"""The readout over label sets (issue 11, ``[detection] readout = "sets"``): set table, softmax fit
(gradient against finite differences), argmax-set decision and its ties, per-class marginals,
model-file round trip and hostile set tables, the float32 golden decision."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tinyunfold.detection import (
    Detector,
    Readout,
    class_marginals,
    decide_sets,
    fit_detector,
    fit_detector_from_config,
    softmax_objective,
)
from tinyunfold.errors import ModelFileError, TinyUnfoldError
from tinyunfold.golden import detect as gd
from tinyunfold.models.labelsets import check_set_table, label_set_table, n_sets, set_masks
from tinyunfold.models.padnmf import BlockLayout

LAY = BlockLayout(
    n_bins=3, context=2, ranks=(3, 3, 2, 2, 2), block_class=(0, 1, 2), class_names=("a", "b", "c")
)
N = 5


def _toy(seed: int, Q: int = 120) -> tuple[np.ndarray, list[list[int]]]:
    """Dataset1-sized mixtures of 3 classes: no hit, one hit, two hits. Class c scales noise atom
    8 + c by 2..14 (the GM indices read the targets only)."""
    rng = np.random.default_rng(seed)
    pool: list[list[int]] = [[], [0], [1], [2], [0, 1], [0, 2], [1, 2]]
    ls = [pool[q % len(pool)] for q in range(Q)]
    H = rng.uniform(0.5, 1.5, (Q, LAY.rank, N))
    for q, s in enumerate(ls):
        for c in s:
            H[q, 8 + c] *= rng.uniform(2.0, 14.0)
    return H, ls


def _exact(pred: list[list[int]], ls: list[list[int]]) -> float:
    return float(np.mean([sorted(p) == sorted(t) for p, t in zip(pred, ls, strict=True)]))


def test_set_table_order_and_masks() -> None:
    t = label_set_table(5, 2)
    assert len(t) == n_sets(5, 2) == 16
    assert t[:6] == [(), (0,), (1,), (2,), (3,), (4,)]
    assert t[6:] == [(0, 1), (0, 2), (0, 3), (0, 4), (1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4)]
    assert label_set_table(3, 3)[-1] == (0, 1, 2)
    np.testing.assert_array_equal(set_masks(label_set_table(3, 2)), [0, 1, 2, 4, 3, 5, 6])


def test_softmax_gradient_equals_finite_differences() -> None:
    rng = np.random.default_rng(0)
    U, y, S = rng.normal(size=(20, 4)), rng.integers(0, 6, 20), 6
    fun = softmax_objective(U, y, S, 0.3)
    x = rng.normal(size=S * 5)
    _, g = fun(x)
    h = 1e-6
    fd = np.array([(fun(x + h * e)[0] - fun(x - h * e)[0]) / (2 * h) for e in np.eye(x.size)])
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)
    # the check sees a wrong gradient: without the L2 term it differs
    _, g0 = softmax_objective(U, y, S, 0.0)(x)
    assert not np.allclose(g0, fd, rtol=1e-6, atol=1e-8)


def test_decide_sets_first_maximum_and_ascending_classes() -> None:
    t = label_set_table(3, 2)  # (), (0,), (1,), (2,), (0,1), (0,2), (1,2)
    z = np.array([[0.0, 1.0, 2.0, 0.5, 2.0, -1.0, 0.0], [0.0, -1, -1, -1, -1, -1, -1]])
    assert decide_sets(z, t) == [[1], []]  # a tie of sets 2 and 4: the lower index
    assert decide_sets(np.array([[0.0, 0, 0, 0, 0, 3, 0]]), t) == [[0, 2]]
    assert decide_sets(np.array([[0.0, 0, 0, 0, 0, 3, 0]]), t, top_k=1) == [[0]]
    m = class_marginals(z, t, 3)
    p = np.exp(z[0]) / np.exp(z[0]).sum()
    np.testing.assert_allclose(m[0], [p[1] + p[4] + p[5], p[2] + p[4] + p[6], p[3] + p[5] + p[6]])


def test_sets_readout_learns_two_hit_mixtures() -> None:
    """Sanity figure on Dataset1-sized toy data (120 train / 120 test mixtures, 3/7 of them
    two-hit): set-exact accuracy of the label-set readout and of one-vs-rest."""
    H, ls = _toy(0)
    ro = Readout(max_hits=2).fit(H, ls, 3, top_k=0)
    assert ro.W.shape == (7, LAY.rank) and ro.sets == label_set_table(3, 2)
    assert np.all(ro.W[0] == 0.0) and ro.b[0] == 0.0  # the empty set's row is pinned at 0
    assert ro.cv_accuracy is not None and ro.cv_accuracy > 0.8
    Ht, lt = _toy(1)
    acc = _exact(ro.decide(Ht, 3), lt)
    # measured: 0.925 (one-vs-rest 0.975: on this additive toy the classes are independent, the
    # setting one-vs-rest is made for; the set readout pays on dataset2-hard, docs/padnmf.md)
    assert acc > 0.85, acc
    p = ro.probability(Ht)  # per-class marginals P(c ∈ set)
    assert p.shape == (120, 3) and np.all((p >= 0) & (p <= 1))
    y = np.zeros_like(p)
    for q, s in enumerate(lt):
        y[q, s] = 1.0
    assert np.mean((p - y) ** 2) < 0.08  # a small Brier score: calibrated marginals
    s, thr = ro.class_scores(Ht)
    np.testing.assert_array_equal(s, p)
    np.testing.assert_array_equal(thr, [0.5, 0.5, 0.5])


def test_config_keys_and_their_errors() -> None:
    H, ls = _toy(2, 42)
    dc = {"readout": "sets", "readout_l2": 0.01, "ur_beta": 0.0}
    det = fit_detector_from_config(H, ls, LAY, dc)
    assert det.readout is not None and det.readout.max_hits == 2 and det.readout.W.shape[0] == 7
    det3 = fit_detector_from_config(H, ls, LAY, {**dc, "readout_max_hits": 3})
    assert det3.readout is not None and det3.readout.W.shape[0] == 8
    for bad in (0, 4, "2", True):
        with pytest.raises(TinyUnfoldError, match="readout_max_hits must be an integer in 1..3"):
            fit_detector_from_config(H, ls, LAY, {**dc, "readout_max_hits": bad})
    with pytest.raises(TinyUnfoldError, match="top_k"):
        fit_detector_from_config(H, ls, LAY, {**dc, "top_k": 1})
    with pytest.raises(TinyUnfoldError, match="holds 2 classes.*readout_max_hits = 2"):
        fit_detector_from_config(H, ls, LAY, {**dc, "readout_max_hits": 1})
    with pytest.raises(TinyUnfoldError, match='readout must be true, false or "sets"'):
        fit_detector_from_config(H, ls, LAY, {"readout": "set"})


def _sets_detector() -> tuple[Detector, np.ndarray, list[list[int]]]:
    H, ls = _toy(3, 70)
    det = fit_detector(H, ls, LAY, rule="max", top_k=0, ur_beta=None, readout="sets")
    return det, H, ls


def test_model_file_round_trip_and_hostile_set_tables() -> None:
    det, H, _ = _sets_detector()
    params = json.loads(json.dumps({"detection": det.to_params()}))  # params are JSON
    arrays = det.arrays()
    back = Detector.from_model(params, arrays)
    assert back.readout is not None and back.readout.sets == det.readout.sets
    np.testing.assert_array_equal(back.readout.W, det.readout.W)
    idx = det.indices(H, LAY).index
    assert back.decide(idx, "readout", H=H) == det.decide(idx, "readout", H=H)
    np.testing.assert_array_equal(back.readout.probability(H), det.readout.probability(H))

    def load(edit=None, **arr):
        p = json.loads(json.dumps(params))
        if edit:
            edit(p["detection"]["readout"])
        return Detector.from_model(p, {**arrays, **arr})

    def swap(d):
        d["sets"][4], d["sets"][5] = d["sets"][5], d["sets"][4]

    cases = [
        (swap, {}, "label-set table"),
        (lambda d: d["sets"].pop(), {}, "label-set table"),
        (lambda d: d.update(sets="all"), {}, "label-set table"),
        (lambda d: d.update(max_hits=5), {}, "readout_max_hits must be"),
        (lambda d: d.update(max_hits="2"), {}, "readout_max_hits must be"),
        (lambda d: d["sets"][6].__setitem__(0, True), {}, "label-set table"),
        (None, {"readout_W": arrays["readout_W"][:3]}, "do not match 7 outputs"),
        (None, {"readout_b": arrays["readout_b"][:-1]}, "do not match"),
    ]
    for edit, arr, word in cases:
        with pytest.raises(TinyUnfoldError, match=word) as err:
            load(edit, **arr)
        assert "\n" not in str(err.value)
    assert isinstance(pytest.raises(ModelFileError, load, swap).value, ModelFileError)
    # the set table alone: only the exact table of (L, max_hits) passes
    assert check_set_table([[], [0], [1], [0, 1]], 2, 2) == label_set_table(2, 2)
    with pytest.raises(ModelFileError, match="not the 4 sets"):
        check_set_table([[], [1], [0], [0, 1]], 2, 2)


def test_golden_sets_decision_equals_the_float64_rule() -> None:
    det, _, _ = _sets_detector()
    params = gd.params_from_detector(det, LAY, N)
    rd = params.readout
    assert rd is not None and rd.sets is not None and rd.W.shape == (7, LAY.rank)
    np.testing.assert_array_equal(rd.sets, [0, 1, 2, 4, 3, 5, 6])
    Ht, lt = _toy(4, 70)
    res = gd.detect_f32(Ht, params, "readout")
    z = gd.readout_f32(Ht, rd)
    assert res.readout_z is not None and res.set_index is not None
    np.testing.assert_array_equal(res.readout_z.view(np.uint32), z.view(np.uint32))
    assert res.classes == decide_sets(z, det.readout.sets, params.top_k)
    assert res.classes == det.readout.decide(Ht, det.top_k)  # float32 == float64 on this data
    assert _exact(res.classes, lt) > 0.8
    chosen = z[np.arange(len(z)), res.set_index]
    for b in range(
        len(z)
    ):  # every hit carries the chosen set's z, threshold 0 (z of the empty set)
        for _, _, s, t in res.events()[b]:
            assert s.view(np.uint32) == chosen[b].view(np.uint32) and t == 0.0 and s > 0
    # ties: two equal rows, the first one is chosen
    W = rd.W.copy()
    b = rd.b.copy()
    W[4], b[4] = W[1], b[1] + np.float32(100.0)
    W[1], b[1] = W[4], b[4]
    tied = gd.ReadoutParams(W=W, b=b, threshold=rd.threshold, floor=rd.floor, sets=rd.sets)
    cls, idx = gd.readout_sets_f32(gd.readout_f32(Ht, tied), rd.sets, 3, 3)
    assert np.all(idx == 1) and all(c == [0] for c in cls)


def test_hostile_model_file_is_refused_in_one_line(tmp_path, capsys) -> None:
    """A saved padnmf detector with a label-set readout loads; with its set table edited, or W
    with a row missing, `tinyunfold model info` exits with one line (models/padnmf.py checks)."""
    from tinyunfold.cli import main
    from tinyunfold.kinds import load_model, save_model
    from tinyunfold.modelfile import ModelFile
    from tinyunfold.models.padnmf import w_mask

    det, _, _ = _sets_detector()
    rng = np.random.default_rng(3)
    MW = w_mask(LAY)
    Ws = [rng.random(MW.shape) * MW + 1e-3 * MW for _ in range(2)]
    params = {
        "n_layers": 4, "n_discriminative": 2, "alpha_h": 0.05, "alpha_s": 0.0, "eps": 1e-9,
        "h_mask": False, "w_mask": True, "h0": "ones", "layout": LAY.to_params(), "n_frames": N, "features": None,
        "detection": json.loads(json.dumps(det.to_params())),
    }  # fmt: skip
    arrays = {"W_fixed": Ws[0], "W_disc": np.stack(Ws[1:]), **det.arrays()}
    good = save_model(tmp_path / "good.tum", ModelFile("padnmf", params, arrays))
    back = load_model(good)
    assert back.params["detection"]["readout"]["sets"][4] == [0, 1]
    assert main(["model", "info", str(good)]) == 0
    capsys.readouterr()
    import zipfile

    def edited(name: str, edit) -> str:
        """The saved file with its manifest's params edited (arrays and their hashes kept)."""
        with zipfile.ZipFile(good) as zf:
            entries = {n: zf.read(n) for n in zf.namelist()}
        man = json.loads(entries["manifest.json"])
        edit(man["params"]["detection"]["readout"])
        entries["manifest.json"] = json.dumps(man).encode()
        path = tmp_path / f"{name}.tum"
        with zipfile.ZipFile(path, "w") as zf:
            for n, data in entries.items():
                zf.writestr(n, data)
        return str(path)

    def swap(d):
        d["sets"][4] = [1, 0]

    def fewer(d):  # a consistent table of 4 sets, but W and b keep 7 rows
        d["max_hits"], d["sets"] = 1, [[], [0], [1], [2]]

    for path, word in (
        (edited("table", swap), "label-set table"),
        (edited("rows", fewer), "readout_W"),
    ):
        assert main(["model", "info", path]) != 0
        err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
        assert len(err) == 1 and word in err[0] and "; fix: " in err[0], err
