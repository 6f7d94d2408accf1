"""The published PAD-NMF piano network (thesis 4.3.6) imported and run against the authors' outputs.

Data: ../shared/external/padnmf-piano/ beside the repository (always present in CI; never copied
into the repo). reference_outputs_float64.npz holds H^(K) of the authors' MATLAB forward pass.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tinyunfold.cli import main
from tinyunfold.detection import Detector
from tinyunfold.kinds import load_model, save_model
from tinyunfold.models.padnmf import PADNMF
from tinyunfold.pipelines.importers import (
    import_padnmf_mat,
    read_labels,
    read_mat_mixtures,
)

DATA = Path(__file__).resolve().parents[3] / "shared" / "external" / "padnmf-piano"


@pytest.fixture(scope="module")
def data() -> Path:
    assert DATA.is_dir(), (
        f"published piano data missing: {DATA} (../shared/external beside the repo)"
    )
    return DATA


@pytest.fixture(scope="module")
def net(data: Path) -> PADNMF:
    return import_padnmf_mat(
        data / "NetParameters_ARM.mat", data / "NetWeights_ARM.mat", ["C4", "E4", "G4"]
    )


@pytest.fixture(scope="module")
def ref(data: Path) -> dict[str, np.ndarray]:
    z = np.load(data / "reference_outputs_float64.npz")
    return {k: z[k] for k in z.files}


def test_structure(net: PADNMF) -> None:
    lay = net.layout_
    assert (net.n_layers, net.n_discriminative, lay.context, lay.n_bins) == (1000, 3, 7, 143)
    assert lay.ranks == (7,) * 11 and lay.target_rank == 21 and lay.rank == 77
    assert len(net.W_disc_) == 2 and not net.h_mask_on
    # the three dictionaries differ (the discriminative layers were trained)
    assert np.abs(net.W_disc_[0] - net.W_fixed_).max() > 1e-3


def _rel(H: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(H - ref) / np.abs(ref)))


def test_float64_forward_matches_authors(net: PADNMF, data: Path, ref: dict) -> None:
    train = read_mat_mixtures(data / "TrainingSetPiano_ARM.mat", "TrainingSet")
    test = read_mat_mixtures(data / "TestingSetPiano_ARM.mat", "TestingSet")
    assert len(train) == 12 and len(test) == 277 and train[0].shape == (143, 7)
    H = net.transform(train)
    assert ref["train_H_final"].min() > 0  # elementwise relative error is well defined
    assert _rel(H, ref["train_H_final"]) < 1e-9
    idx = list(range(0, 277, 40))  # 7 test mixtures spread over the recording
    Ht = net.transform([test[i] for i in idx])
    assert _rel(Ht, ref["test_H_final"][idx]) < 1e-9
    # a wrong layer count is detected by this comparison (guards the K-1 update convention)
    net2 = PADNMF(n_layers=1001, n_discriminative=3, context=7, eps=1e-16, use_h_mask=False)
    net2.layout_, net2.W_fixed_, net2.W_disc_ = net.layout_, net.W_fixed_, net.W_disc_
    assert _rel(net2.transform(train[:2]), ref["train_H_final"][:2]) > 1e-6


def test_float32_forward_bound(net: PADNMF, data: Path, ref: dict) -> None:
    train = read_mat_mixtures(data / "TrainingSetPiano_ARM.mat", "TrainingSet")
    H32 = net.transform(train, dtype=np.float32)
    assert H32.dtype == np.float32
    r = ref["train_H_final"]
    err = np.abs(H32.astype(np.float64) - r).max(axis=(1, 2)) / r.max(axis=(1, 2))
    assert err.max() < 1e-4  # measured 2.8e-5 over all 289 mixtures (docs/padnmf.md)


def test_modelfile_roundtrip_and_cli(
    tmp_path: Path, net: PADNMF, data: Path, ref: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "piano.tum"
    rc = main(
        [
            "import",
            "padnmf-mat",
            "--params",
            str(data / "NetParameters_ARM.mat"),
            "--weights",
            str(data / "NetWeights_ARM.mat"),
            "--classes",
            "C4,E4,G4",
            "--training-set",
            str(data / "TrainingSetPiano_ARM.mat"),
            "--train-labels",
            str(data / "train_labels.csv"),
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    m = load_model(out, kind="padnmf")
    est = PADNMF.from_modelfile(m)
    train = read_mat_mixtures(data / "TrainingSetPiano_ARM.mat", "TrainingSet")
    assert _rel(est.transform(train[:3]), ref["train_H_final"][:3]) < 1e-9
    det = Detector.from_model(m.params, m.arrays)
    assert det.shifted and det.thresholds.shape == (3,) and det.ur is not None
    labels = read_labels(data / "train_labels.csv", 12)
    # thresholds are the max index over the 3 no-hit training mixtures: none of them exceeds
    idx = det.indices(ref["train_H_final"], est.layout_).index
    nohit = np.array([lab == "none" for lab in labels])
    assert np.all(idx[nohit] <= det.thresholds * (1 + 1e-9))
    assert np.allclose(idx[nohit].max(0), det.thresholds, rtol=1e-9)
    # detect on one precomputed window (.npy): same indices as the library path
    np.save(tmp_path / "w.npy", train[0])
    capsys.readouterr()
    assert main(["detect", "--model", str(out), str(tmp_path / "w.npy"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)[0]["windows"][0]
    got = [res["indices"][c] for c in ("C4", "E4", "G4")]
    np.testing.assert_allclose(got, idx[0], rtol=1e-9)
    assert [h["class"] for h in res["hits"]] == [
        ["C4", "E4", "G4"][c] for c in det.decide(idx[:1])[0]
    ]
    save_model(tmp_path / "again.tum", m)
    assert load_model(tmp_path / "again.tum").params == m.params


@pytest.mark.slow
def test_piano_detection_all_277(tmp_path: Path, data: Path) -> None:
    """Full Table-3-style evaluation (numbers in docs/padnmf.md)."""
    import json

    rc = main(
        [
            "import",
            "padnmf-mat",
            "--params",
            str(data / "NetParameters_ARM.mat"),
            "--weights",
            str(data / "NetWeights_ARM.mat"),
            "--classes",
            "C4,E4,G4",
            "--training-set",
            str(data / "TrainingSetPiano_ARM.mat"),
            "--train-labels",
            str(data / "train_labels.csv"),
            "--test-set",
            str(data / "TestingSetPiano_ARM.mat"),
            "--test-labels",
            str(data / "test_labels.csv"),
            "--report",
            str(tmp_path),
        ]
    )
    assert rc == 0
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["n_mixtures"] == 277
    thr = rep["methods"]["threshold (max)"]
    assert thr["n_hit"] == [28, 28, 28] and thr["n_nohit"] == 193
    # measured counts behind the Table-3-style rows of docs/padnmf.md (TP per note out of 28,
    # TN and FP per note out of the 193 no-hit mixtures, exactly right labels out of 277)
    measured = {
        "threshold (max)": ([26, 18, 22], 69, [60, 29, 35], 135),
        "UR beta=0": ([18, 2, 21], 167, [4, 1, 21], 208),
        "UR beta=1": ([20, 3, 24], 162, [9, 1, 21], 209),
        "UR beta=2": ([20, 3, 24], 162, [9, 1, 21], 209),
    }
    for name, (tp, tn, fp, right) in measured.items():
        r = rep["methods"][name]
        assert [round(t * 28) for t in r["tp_rate"]] == tp, name
        assert round(r["tn_rate"] * 193) == tn, name
        assert [round(f * 193) for f in r["fp_rate"]] == fp, name
        assert round(r["accuracy"] * 277) == right, name
