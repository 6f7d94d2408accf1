"""``[detection] readout_augment = N``: N further synthetic mixtures train the readout only
(detection.ReadoutExtra, training/padnmf.readout_mixtures): the readout equals one fitted on the
training mixtures followed by them, flagged as not recorded; the thresholds never see them; the
mixtures are drawn in chunks from their own seeds with [model] augment's options; the network's
training is unchanged; bad values are one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinyunfold.detection import (
    Readout,
    ReadoutExtra,
    fit_detector,
    readout_augment_value,
    window_totals,
)
from tinyunfold.errors import TinyUnfoldError
from tinyunfold.models.padnmf import BlockLayout

LAY = BlockLayout(
    n_bins=4, context=2, ranks=(3, 3, 2, 2, 2), block_class=(0, 1, 2), class_names=("a", "b", "c")
)
POOL: list[list[int]] = [[], [0], [1], [2], [0, 1], [0, 2], [1, 2]]


def _toy(seed: int, Q: int) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """(H, X, label sets): class c scales band c of X̃ by 1.5..6 (overlapping classes, so the
    CV scores of the weights differ)."""
    rng = np.random.default_rng(seed)
    ls = [POOL[q % len(POOL)] for q in range(Q)]
    H = rng.uniform(0.5, 1.5, (Q, LAY.rank, 5))
    X = rng.uniform(0.5, 1.5, (Q, LAY.n_bins, 5))
    for q, s in enumerate(ls):
        for c in s:
            X[q, c] *= rng.uniform(1.5, 6.0)
    return H, X, ls


@pytest.mark.parametrize("totals", [False, True], ids=["windows", "totals"])
@pytest.mark.parametrize("readout_input", ["spectrum", "activations"])
def test_extra_mixtures_train_the_readout_only(readout_input: str, totals: bool) -> None:
    """... whether the training and the extra mixtures are whole windows or, as training passes
    them, each window's totals (window_totals of the list of windows, never stacked): the same
    readout to the bit."""
    H, X, ls = _toy(0, 21)
    H2, X2, ls2 = _toy(1, 49)
    rec = np.arange(21) < 14  # 14 recorded, 7 synthetic training mixtures
    keep = (lambda A: window_totals(list(A))) if totals else np.asarray
    kw = {"rule": "fpr", "top_k": 0, "ur_beta": None, "readout": "sets", "floor": 1e-30,
          "readout_l2": "cv-recorded", "readout_input": readout_input, "X_train": keep(X),
          "recorded": rec}  # fmt: skip
    plain = fit_detector(H, ls, LAY, **kw)  # type: ignore[arg-type]
    assert keep(X2).shape == ((49, LAY.n_bins, 1) if totals else X2.shape)
    extra = ReadoutExtra(X=keep(X2), H=keep(H2) if readout_input == "activations" else None,
                         labels=ls2)  # fmt: skip
    det = fit_detector(H, ls, LAY, readout_extra=extra, **kw)  # type: ignore[arg-type]
    # the readout: the same fit on the training mixtures then the extra ones, not recorded
    A = np.concatenate([X, X2] if readout_input == "spectrum" else [H, H2])
    ref = Readout(l2="cv-recorded", max_hits=2, input=readout_input)
    ref.fit(A, ls + ls2, 3, 3, recorded=np.concatenate([rec, np.zeros(49, bool)]))
    assert det.readout is not None and plain.readout is not None
    np.testing.assert_array_equal(det.readout.W, ref.W)
    np.testing.assert_array_equal(det.readout.b, ref.b)
    assert det.readout.cv_scores == ref.cv_scores and det.readout.l2 == ref.l2
    assert not np.allclose(det.readout.W, plain.readout.W)  # they did train it
    # judged on the 14 recorded mixtures only: every CV score is a multiple of 1/14
    s = np.array(list(det.readout.cv_scores.values())) * 14
    np.testing.assert_allclose(s, np.round(s), atol=1e-9)
    assert len(set(det.readout.cv_scores.values())) > 1
    # everything else is fitted on the training mixtures alone
    np.testing.assert_array_equal(det.thresholds, plain.thresholds)
    np.testing.assert_array_equal(det.train_index, plain.train_index)
    assert det.train_labels == plain.train_labels


def test_extra_mixtures_of_the_wrong_shape_are_one_line() -> None:
    H, X, ls = _toy(0, 21)
    kw = {"rule": "max", "top_k": 0, "ur_beta": None, "readout": "sets", "readout_l2": 0.01,
          "readout_input": "spectrum", "X_train": X}  # fmt: skip
    for bad in (
        ReadoutExtra(X=X[:, :3], H=None, labels=ls),  # other bands
        ReadoutExtra(X=X, H=None, labels=ls[:5]),  # labels of other mixtures
    ):
        with pytest.raises(TinyUnfoldError, match="further mixtures") as err:
            fit_detector(H, ls, LAY, readout_extra=bad, **kw)  # type: ignore[arg-type]
        assert "\n" not in str(err.value)


def test_readout_augment_values() -> None:
    assert readout_augment_value(0) == 0 and readout_augment_value(18000) == 18000
    for bad in (-1, 1.5, "100", True, None):
        with pytest.raises(TinyUnfoldError, match="readout_augment") as err:
            readout_augment_value(bad)
        assert "\n" not in str(err.value)


def test_readout_mixtures_are_chunks_of_their_own_seeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tinyunfold.datasets import load_dataset
    from tinyunfold.datasets.prep import augment_mixtures, label_sets_of, spectrogram
    from tinyunfold.features import SpectrogramParams
    from tinyunfold.pipelines.detector_demo import make_dataset
    from tinyunfold.training import padnmf as tp

    ds = load_dataset(make_dataset(tmp_path / "ds", snrs=(0.0, -10.0)))
    feats = SpectrogramParams(sample_rate=int(ds.sample_rate), n_fft=128, hop=128, n_bands=16)
    opts = {"two_hit": 0.3, "no_hit": 0.2, "stretch": 0.03, "gate_db": 40.0, "gain_db": 6.0,
            "noise_stretch": True}  # fmt: skip
    monkeypatch.setattr(tp, "READOUT_CHUNK", 5)
    dc = {"readout": "sets", "readout_input": "spectrum"}
    ex = tp.readout_mixtures(None, ds, feats, 2.0, 12, 3, opts, dc, progress=False)
    assert ex.H is None and ex.X.shape[0] == 12 and len(ex.labels) == 12
    want_X, want_ls = [], []
    for k, m in enumerate((5, 5, 2)):  # chunk k: seed sequence (3, 1, k), the same options
        s = int(np.random.SeedSequence([3, 1, k]).generate_state(1)[0])
        mix = augment_mixtures(ds, m, seed=s, **opts)  # type: ignore[arg-type]
        want_X += [spectrogram(x.audio, feats, 2.0) for x in mix]
        want_ls += label_sets_of(mix, ds.classes)
    # what the readout reads of each window: its totals (1/n of the memory), as summed over the
    # stacked windows
    assert ex.X.shape == (12, 16, 1)
    np.testing.assert_array_equal(ex.X, window_totals(np.stack(want_X)))
    assert ex.labels == want_ls
    # never the network's own synthetic mixtures ([model] augment, seed 3)
    own = augment_mixtures(ds, 12, seed=3, **opts)  # type: ignore[arg-type]
    own_X = np.stack([spectrogram(x.audio, feats, 2.0) for x in own])
    assert not np.allclose(ex.X, window_totals(own_X))

    class Net:  # the network's forward pass, as transform_many calls it
        def transform(self, specs: list[np.ndarray]) -> np.ndarray:
            return np.stack([2.0 * x[:3] for x in specs])

    act = tp.readout_mixtures(Net(), ds, feats, 2.0, 12, 3, opts,
                              {**dc, "readout_input": "activations"}, progress=False)  # fmt: skip
    assert act.H is not None
    np.testing.assert_array_equal(act.H, 2.0 * act.X[:, :3])
    np.testing.assert_array_equal(act.X, ex.X)


def test_training_with_readout_augment(tmp_path: Path) -> None:
    """Through the config: the network and thresholds are those of the same training without
    it (bit for bit), the readout differs and is judged on the recorded mixtures; errors."""
    from tinyunfold import kinds
    from tinyunfold.cli import main
    from tinyunfold.datasets import load_dataset
    from tinyunfold.datasets.prep import train_split
    from tinyunfold.pipelines.detector_demo import CONFIG, make_dataset

    root = make_dataset(tmp_path / "ds", snrs=(0.0, -10.0), n_nohit=4)
    n_rec = len(train_split(load_dataset(root))[0])
    cfg = tmp_path / "c.toml"
    extra = 'readout = "sets"\nreadout_input = "spectrum"\nreadout_l2 = "cv-recorded"\n'
    cfg.write_text(CONFIG.replace("[model]\n", "[model]\naugment = 13\n") + extra)
    argv = ["train", "padnmf", "--dataset", str(root), "--config", str(cfg), "--no-progress"]
    got = {}
    for n in (0, 40):
        out = tmp_path / f"ra{n}.tum"
        assert main([*argv, "--out", str(out), "--set", f"detection.readout_augment={n}"]) == 0
        m = kinds.get("padnmf").require("detection")(kinds.load_model(out))
        got[n] = (kinds.load_model(out), m.detector)
    (m0, d0), (m1, d1) = got[0], got[40]
    assert m0.arrays.keys() == m1.arrays.keys()
    net = [k for k in m0.arrays if not k.startswith("readout")]
    assert len(net) >= 3
    for k in net:  # the network's weights (and every array that is not the readout's)
        np.testing.assert_array_equal(m0.arrays[k], m1.arrays[k], err_msg=k)
    np.testing.assert_array_equal(d0.thresholds, d1.thresholds)
    assert d0.readout is not None and d1.readout is not None
    assert not np.allclose(d0.readout.W, d1.readout.W)
    s = np.array(list(d1.readout.cv_scores.values())) * n_rec
    np.testing.assert_allclose(s, np.round(s), atol=1e-9)
    # the spectrum readout does not depend on the network: another K decides the same
    out = tmp_path / "k10.tum"
    argv10 = [*argv, "--out", str(out), "--set", "detection.readout_augment=40"]
    assert main([*argv10, "--set", "model.n_layers=10"]) == 0
    d10 = kinds.get("padnmf").require("detection")(kinds.load_model(out)).detector
    assert d10.readout is not None
    np.testing.assert_array_equal(d10.readout.W, d1.readout.W)
    np.testing.assert_array_equal(d10.readout.b, d1.readout.b)
    # one line: a bad value, or no readout to train
    assert main([*argv, "--out", str(tmp_path / "x.tum"), "--set",
                 "detection.readout_augment=-5"]) != 0  # fmt: skip
    cfg.write_text(CONFIG.replace("[model]\n", "[model]\naugment = 13\n") + "readout_augment = 9\n")
    assert main([*argv, "--out", str(tmp_path / "y.tum")]) != 0
    assert not (tmp_path / "x.tum").exists() and not (tmp_path / "y.tum").exists()
