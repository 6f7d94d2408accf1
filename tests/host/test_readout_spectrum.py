"""``[detection] readout_input = "spectrum"``: the readout (one-vs-rest and label sets) reads the
band energies ln Σ_t X̃[b, t] of the network's input window instead of the activations H⁽ᴷ⁾
(detection.readout_source, models/readout.py): fit, features computed independently, the same
readout reading H instead gives other scores, model-file round trip and hostile files (unknown
input, W of the wrong width), the float32 golden (golden/detect.py) and the config keys."""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tinyunfold.detection import (
    Detector,
    fit_detector,
    fit_detector_from_config,
    readout_features,
    readout_source,
)
from tinyunfold.errors import ModelFileError, TinyUnfoldError
from tinyunfold.golden import detect as gd
from tinyunfold.golden.mathf import logf
from tinyunfold.models.padnmf import BlockLayout

# m' = 4 bands, T = 2, r = 12 atoms: the spectrum readout's W has 4 columns, the activations' 12
LAY = BlockLayout(
    n_bins=4, context=2, ranks=(3, 3, 2, 2, 2), block_class=(0, 1, 2), class_names=("a", "b", "c")
)
# m' = r = 12: both inputs give W the same shape (to show the scores read a different matrix)
LAY_SQ = BlockLayout(
    n_bins=12, context=1, ranks=(3, 3, 2, 2, 2), block_class=(0, 1, 2), class_names=("a", "b", "c")
)
N = 5
POOL: list[list[int]] = [[], [0], [1], [2], [0, 1], [0, 2], [1, 2]]


def _toy(
    seed: int, lay: BlockLayout = LAY, Q: int = 70
) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """(H, X, label sets): class c scales band c of X̃ by 4..14; H is noise that carries no class
    (a chain mismatch: the activations lost what the spectrum still shows)."""
    rng = np.random.default_rng(seed)
    ls = [POOL[q % len(POOL)] for q in range(Q)]
    H = rng.uniform(0.5, 1.5, (Q, lay.rank, N))
    X = rng.uniform(0.5, 1.5, (Q, lay.n_bins, N))
    for q, s in enumerate(ls):
        for c in s:
            X[q, c] *= rng.uniform(4.0, 14.0)
    return H, X, ls


def _exact(pred: list[list[int]], ls: list[list[int]]) -> float:
    return float(np.mean([sorted(p) == sorted(t) for p, t in zip(pred, ls, strict=True)]))


def _fit(mode: bool | str, lay: BlockLayout = LAY, readout_input: str = "spectrum") -> Detector:
    H, X, ls = _toy(0, lay)
    return fit_detector(H, ls, lay, rule="max", top_k=0, ur_beta=None, readout=mode,
                        readout_input=readout_input, X_train=X)  # fmt: skip


@pytest.mark.parametrize("mode", [True, "sets"])
def test_spectrum_readout_reads_the_band_energies_of_the_window(mode: bool | str) -> None:
    det = _fit(mode)
    ro = det.readout
    assert ro is not None and ro.input == "spectrum"
    assert ro.W.shape == (3 if mode is True else 7, LAY.n_bins)  # m' columns, not r, not m'T
    Ht, Xt, lt = _toy(1)
    # the features, computed here from the spectrogram alone: ln max(Σ_t X̃[b, t], floor)
    f = np.log(np.maximum(Xt.sum(axis=2), ro.floor))
    np.testing.assert_array_equal(readout_features(ro.source(Ht, Xt), ro.floor), f)
    np.testing.assert_allclose(ro.score(ro.source(Ht, Xt)), f @ ro.W.T + ro.b, rtol=1e-12)
    idx = det.indices(Ht, LAY).index
    pred = det.decide(idx, "readout", H=Ht, X=Xt)
    assert pred == ro.decide(Xt, det.top_k)
    assert _exact(pred, lt) > 0.9  # the classes are in X̃ only ...
    act = _fit(mode, readout_input="activations").decide(idx, "readout", H=Ht, X=Xt)
    assert _exact(act, lt) < 0.5  # ... an activations readout of the same data cannot see them
    with pytest.raises(TinyUnfoldError, match="needs X~") as err:
        det.decide(idx, "readout", H=Ht)  # H alone is not the spectrum readout's input
    assert "\n" not in str(err.value)


def test_same_W_shape_other_input_gives_other_scores() -> None:
    """m' = r: the W of a spectrum readout also fits H; read through the activations input the
    same weights score other numbers, so the spectrum readout really reads X̃."""
    det = _fit("sets", LAY_SQ)
    ro = det.readout
    assert ro is not None and ro.W.shape == (7, LAY_SQ.rank) == (7, LAY_SQ.n_bins)
    Ht, Xt, _ = _toy(1, LAY_SQ)
    as_act = replace(ro, input="activations")
    z_spec, z_act = ro.score(ro.source(Ht, Xt)), as_act.score(as_act.source(Ht, Xt))
    np.testing.assert_array_equal(z_spec, ro.score(Xt))
    np.testing.assert_array_equal(z_act, ro.score(Ht))
    assert not np.allclose(z_spec, z_act)
    assert readout_source("activations", Ht, Xt) is Ht and readout_source("spectrum", Ht, Xt) is Xt


def test_config_key_and_its_errors() -> None:
    H, X, ls = _toy(2, Q=42)
    dc = {"readout": "sets", "readout_l2": 0.01, "ur_beta": 0.0, "readout_input": "spectrum"}
    det = fit_detector_from_config(H, ls, LAY, dc, X_train=X)
    assert det.readout is not None and det.readout.W.shape == (7, LAY.n_bins)
    assert det.readout.input == "spectrum"
    act = fit_detector_from_config(H, ls, LAY, {**dc, "readout_input": "activations"})
    assert act.readout is not None and act.readout.W.shape == (7, LAY.rank)
    plain = {k: v for k, v in dc.items() if k != "readout_input"}
    assert fit_detector_from_config(H, ls, LAY, plain).readout.input == "activations"  # default
    for bad in ("spectra", "X", 1, True):
        with pytest.raises(TinyUnfoldError, match='readout_input must be "activations" or "spec'):
            fit_detector_from_config(H, ls, LAY, {**dc, "readout_input": bad}, X_train=X)
    with pytest.raises(TinyUnfoldError, match="needs X~"):
        fit_detector_from_config(H, ls, LAY, dc)  # no training windows
    with pytest.raises(TinyUnfoldError, match=r"training input has shape \(42, 12, 5\)"):
        fit_detector_from_config(H, ls, LAY, dc, X_train=H)  # H where X̃ belongs
    from tinyunfold.training.padnmf import CONFIG_HELP

    assert 'readout_input = "activations"' in CONFIG_HELP and '"spectrum"' in CONFIG_HELP


def test_model_file_round_trip_and_hostile_readouts() -> None:
    det = _fit("sets")
    params = json.loads(json.dumps({"detection": det.to_params(), "layout": LAY.to_params()}))
    assert params["detection"]["readout"]["input"] == "spectrum"
    arrays = det.arrays()
    back = Detector.from_model(params, arrays)
    assert back.readout is not None and back.readout.input == "spectrum"
    np.testing.assert_array_equal(back.readout.W, det.readout.W)
    Ht, Xt, _ = _toy(3)
    idx = det.indices(Ht, LAY).index
    assert back.decide(idx, "readout", H=Ht, X=Xt) == det.decide(idx, "readout", H=Ht, X=Xt)

    def load(edit=None, **arr):
        p = json.loads(json.dumps(params))
        if edit:
            edit(p["detection"]["readout"])
        return Detector.from_model(p, {**arrays, **arr})

    cases = [
        (lambda d: d.update(input="bogus"), {}, ModelFileError, "input 'bogus' is not one of"),
        (lambda d: d.update(input=["spectrum"]), {}, ModelFileError, "is not one of"),
        # a spectrum W (m' = 4 columns) read as activations: r = 12 columns wanted
        (lambda d: d.update(input="activations"), {}, TinyUnfoldError, "reads 12 \\(rows of H"),
        # an activations-wide W declared spectrum
        (None, {"readout_W": np.zeros((7, LAY.rank))}, TinyUnfoldError, "reads 4 \\(bands"),
    ]
    for edit, arr, cls, word in cases:
        with pytest.raises(cls, match=word) as err:
            load(edit, **arr)
        assert "\n" not in str(err.value)
    # a model written before readout_input existed: no "input" key, an activations readout
    old = _fit("sets", readout_input="activations")
    p_old = json.loads(json.dumps({"detection": old.to_params(), "layout": LAY.to_params()}))
    del p_old["detection"]["readout"]["input"]
    assert Detector.from_model(p_old, old.arrays()).readout.input == "activations"


def _c_order(X: np.ndarray, rd: gd.ReadoutParams) -> np.ndarray:
    """tu_detect_readout_f32's scalar loops over the rows of X̃ (bands), float32."""
    f32 = np.float32
    m, n = X.shape
    f = np.empty(m, dtype=f32)
    for a in range(m):
        s = f32(0.0)
        for t in range(n):
            s = f32(s + f32(X[a, t]))
        f[a] = logf(np.array([s if s > rd.floor else rd.floor], dtype=f32))[0]
    z = np.empty(rd.W.shape[0], dtype=f32)
    for c in range(rd.W.shape[0]):
        acc = f32(rd.b[c])
        for a in range(m):
            acc = f32(acc + f32(rd.W[c, a] * f[a]))
        z[c] = acc
    return z


def test_golden_reads_the_window() -> None:
    det = _fit("sets")
    params = gd.params_from_detector(det, LAY, N)
    rd = params.readout
    assert rd is not None and rd.input == "spectrum" and rd.W.shape == (7, LAY.n_bins)
    Ht, Xt, lt = _toy(4)
    Ht32, Xt32 = Ht.astype(np.float32), Xt.astype(np.float32)
    res = gd.detect_f32(Ht32, params, "readout", X=Xt32)
    ref = np.stack([_c_order(x, rd) for x in Xt32])
    assert res.readout_z is not None
    np.testing.assert_array_equal(res.readout_z.view(np.uint32), ref.view(np.uint32))
    assert res.classes == det.readout.decide(Xt, det.top_k)  # float32 == float64 on this data
    assert _exact(res.classes, lt) > 0.9
    with pytest.raises(TinyUnfoldError, match="needs X~"):
        gd.detect_f32(Ht32, params, "readout")
    # H where X̃ belongs: not the readout's width (12 atoms, 4 bands)
    with pytest.raises(TinyUnfoldError, match="takes 4 rows"):
        gd.detect_f32(Ht32, params, "readout", X=Ht32)
    # the activations readout of the same layout still reads H
    act = gd.params_from_detector(_fit("sets", readout_input="activations"), LAY, N)
    assert act.readout is not None and act.readout.W.shape == (7, LAY.rank)
    z = gd.detect_f32(Ht32, act, "readout", X=Xt32).readout_z
    np.testing.assert_array_equal(z, gd.readout_f32(Ht32, act.readout))
    # params of a detector whose W does not fit its input: one line
    bad = replace(det, readout=replace(det.readout, input="activations"))
    with pytest.raises(TinyUnfoldError, match=r"activations readout of the layout needs \(7, 12\)"):
        gd.params_from_detector(bad, LAY, N)
    # the kernel vectors feed H only: a spectrum readout is refused there in one line
    from tinyunfold.tools import kernelvectors as kv

    with pytest.raises(TinyUnfoldError, match="reads 4 \\(spectrum\\)"):
        kv.encode_detect(params, Ht32[:1])


def _padnmf_file(tmp_path, det: Detector):
    from tinyunfold.kinds import save_model
    from tinyunfold.modelfile import ModelFile
    from tinyunfold.models.padnmf import w_mask

    rng = np.random.default_rng(3)
    MW = w_mask(LAY)
    Ws = [rng.random(MW.shape) * MW + 1e-3 * MW for _ in range(2)]
    params = {
        "n_layers": 4, "n_discriminative": 2, "alpha_h": 0.05, "alpha_s": 0.0, "eps": 1e-9,
        "h_mask": False, "w_mask": True, "h0": "ones", "layout": LAY.to_params(), "n_frames": N,
        "features": None, "detection": json.loads(json.dumps(det.to_params())),
    }  # fmt: skip
    arrays = {"W_fixed": Ws[0], "W_disc": np.stack(Ws[1:]), **det.arrays()}
    return save_model(tmp_path / "good.tum", ModelFile("padnmf", params, arrays))


def rewritten(good: Path, path: Path, edit, drop: str | None = None) -> str:  # noqa: ANN001
    """A copy of model file ``good`` at ``path`` whose manifest went through ``edit`` and
    without the entries whose name holds ``drop``."""
    with zipfile.ZipFile(good) as zf:
        entries = {n: zf.read(n) for n in zf.namelist() if drop is None or drop not in n}
    man = json.loads(entries["manifest.json"])
    edit(man)
    entries["manifest.json"] = json.dumps(man).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in entries.items():
            zf.writestr(n, data)
    return str(path)


def test_hostile_model_file_is_refused_in_one_line(tmp_path, capsys) -> None:
    """A saved padnmf detector with a spectrum readout loads; with readout_input unknown, or
    declared "activations" while W has m' columns, `tinyunfold model info` exits with one line."""
    from tinyunfold.cli import main
    from tinyunfold.kinds import load_model

    good = _padnmf_file(tmp_path, _fit("sets"))
    assert load_model(good).params["detection"]["readout"]["input"] == "spectrum"
    assert main(["model", "info", str(good)]) == 0
    capsys.readouterr()

    def edited(name: str, value) -> str:
        return rewritten(good, tmp_path / f"{name}.tum", lambda man: man["params"]["detection"][
            "readout"].update(input=value))  # fmt: skip

    for path, words in (
        (edited("unknown", "bands"), ("input 'bands' is not one of",)),
        (edited("width", "activations"), ("readout_W has shape (7, 4)", "needs (7, 12)")),
    ):
        assert main(["model", "info", path]) != 0
        err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
        assert len(err) == 1 and all(w in err[0] for w in words) and "; fix: " in err[0], err


def test_evaluate_detect_and_sweep_give_the_readout_the_window(tmp_path) -> None:
    """A tiny PAD-NMF detector trained with the spectrum readout: `evaluate`'s readout row is the
    readout of the test windows X̃ (computed here from the spectrograms), `detect --float64`
    decides each window as that readout, and the sweep's cross-validation scores it (H in
    their place would not even have the readout's width: 16 bands, rank 14)."""
    from tinyunfold import kinds
    from tinyunfold.cli import main
    from tinyunfold.datasets import load_dataset
    from tinyunfold.datasets.prep import label_sets_of, model_front_end, spectrogram, train_split
    from tinyunfold.pipelines import sweep
    from tinyunfold.pipelines.detect import detect_windows_f64
    from tinyunfold.pipelines.detector_demo import CONFIG, make_dataset
    from tinyunfold.pipelines.evaluation import evaluate_methods, set_exact_scores

    root = make_dataset(tmp_path / "ds", snrs=(0.0, -10.0), n_nohit=4)
    extra = 'readout = "sets"\nreadout_input = "spectrum"\nreadout_l2 = 0.01\n'
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG + extra)
    out = tmp_path / "m.tum"
    argv = ["train", "padnmf", "--dataset", str(root), "--config", str(cfg), "--out", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    model = kinds.load_model(out)
    parts = kinds.get("padnmf").require("detection")(model)
    est, det = parts.transformer, parts.detector
    assert det.readout is not None and det.readout.W.shape == (4, 16) and est.layout_.rank != 16
    ds = load_dataset(root)
    feats, scale = model_front_end(model.params)
    res = evaluate_methods({"m": (est, det, {})}, ds, feats, scale, progress=False)
    _, test = train_split(ds)
    X = np.stack([spectrogram(m.audio, feats, scale) for m in test])
    pred = det.readout.decide(X, det.top_k)
    want = set_exact_scores(pred, test, label_sets_of(test, ds.classes), len(ds.classes))
    assert res["m"]["scores"]["readout"]["set_exact"] == want
    assert want["overall"]["rate"] > 0.5  # measured 9 of 12 on this split (chance: 1/3)
    f64 = detect_windows_f64(model, list(X), "readout")
    assert [sorted(est.layout_.class_names.index(h["class"]) for h in w["hits"]) for w in f64] == [
        sorted(p) for p in pred
    ]
    tr = load_dataset(root, only_split="train")
    folds = sweep.make_folds(label_sets_of(tr.mixtures, tr.classes), 2, seed=0)
    tcfg = kinds.get("padnmf").require("training").load_config(str(cfg), [])
    score = sweep.cross_validate(tr, "padnmf", tcfg, folds, "readout")
    assert score.total == 12 and 0 <= score.correct <= 12


def test_training_judges_the_readout_weight_on_the_recorded_mixtures(tmp_path: Path) -> None:
    """readout_l2 = "cv-recorded" in training: the CV scores count the recorded training
    mixtures only, not the synthetic ones of [model] augment (which "cv" counts too)."""
    from tinyunfold import kinds
    from tinyunfold.cli import main
    from tinyunfold.datasets import load_dataset
    from tinyunfold.datasets.prep import train_split
    from tinyunfold.pipelines.detector_demo import CONFIG, make_dataset

    root = make_dataset(tmp_path / "ds", snrs=(0.0, -10.0), n_nohit=4)
    n_rec = len(train_split(load_dataset(root))[0])
    scores = {}
    for rule in ("cv", "cv-recorded"):
        cfg = tmp_path / f"{rule}.toml"
        extra = f'readout = "sets"\nreadout_input = "spectrum"\nreadout_l2 = "{rule}"\n'
        cfg.write_text(CONFIG.replace("[model]\n", "[model]\naugment = 13\n") + extra)
        out = tmp_path / f"{rule}.tum"
        argv = ["train", "padnmf", "--dataset", str(root), "--config", str(cfg), "--out", str(out)]
        assert main([*argv, "--no-progress"]) == 0
        det = kinds.get("padnmf").require("detection")(kinds.load_model(out)).detector
        assert det.readout is not None and isinstance(det.readout.l2, float)
        scores[rule] = np.array(list(det.readout.cv_scores.values()))
    for rule, n in (("cv", n_rec + 13), ("cv-recorded", n_rec)):  # correct / n for every weight
        assert np.allclose(scores[rule] * n, np.round(scores[rule] * n), atol=1e-9), rule
    assert not np.allclose(scores["cv"] * n_rec, np.round(scores["cv"] * n_rec), atol=1e-9)
    # readout_cv_score = "log-loss" and readout_cv_balance reach the fit from the config and
    # are kept in the model
    cfg = tmp_path / "ll.toml"
    extra = 'readout = "sets"\nreadout_input = "spectrum"\nreadout_l2 = "cv-recorded"\n'
    cfg.write_text(CONFIG.replace("[model]\n", "[model]\naugment = 13\n") + extra)
    out = tmp_path / "ll.tum"
    argv = ["train", "padnmf", "--dataset", str(root), "--config", str(cfg), "--out", str(out)]
    ll = [*argv, "--no-progress", "--set", "detection.readout_cv_score=log-loss"]
    assert main([*ll, "--set", "detection.readout_cv_balance=true"]) == 0
    ro = kinds.get("padnmf").require("detection")(kinds.load_model(out)).detector.readout
    assert ro is not None and ro.cv_score == "log-loss" and ro.cv_balance
    assert ro.l2 == float(min(ro.cv_log_loss, key=lambda k: (ro.cv_log_loss[k], -float(k))))
    assert main([*argv, "--no-progress", "--set", "detection.readout_cv_score=brier"]) != 0
    assert main([*ll, "--set", "detection.readout_cv_balance=2"]) != 0
