"""PAD-NMF / Deep-NMF forward passes on the boards: Hankel input, H mask, a schedule of
dictionaries (K−C fixed layers, then one per trained dictionary) — bit-exact with the golden
reference, which itself agrees with the float64 model."""

from pathlib import Path

import numpy as np
import pytest

from tinyunfold.codegen import generate
from tinyunfold.errors import ModelFileError
from tinyunfold.golden.padnmf import constants, padnmf_forward_f32
from tinyunfold.modelfile import ModelFile, load_model
from tinyunfold.models.padnmf import PADNMF, BlockLayout, w_mask
from tinyunfold.tools.deploy import check_model

PIANO = Path(__file__).resolve().parents[2].parent / "shared" / "external" / "padnmf-piano"


def _model(kind: str, h_mask: bool, seed: int, n_bins=5, T=3, ranks=(3, 2, 3), K=9, C=3, n=4):
    rng = np.random.default_rng(seed)
    lay = BlockLayout(
        n_bins=n_bins, context=T, ranks=ranks, block_class=(0, 1), class_names=("a", "b")
    )
    m, r = lay.n_features, lay.rank
    MW = w_mask(lay) if kind == "padnmf" else np.ones((m, r))
    Ws = [rng.random((m, r)) * MW + 1e-3 * MW for _ in range(C)]
    params = {
        "n_layers": K, "n_discriminative": C, "alpha_h": 0.05, "alpha_s": 0.0, "eps": 1e-9,
        "h_mask": h_mask, "w_mask": kind == "padnmf", "h0": "ones", "layout": lay.to_params(),
        "features": None, "n_frames": n,
    }  # fmt: skip
    arrays = {"W_fixed": Ws[0], "W_disc": np.stack(Ws[1:])}
    return ModelFile(kind=kind, params=params, arrays=arrays), rng


@pytest.mark.parametrize("kind, h_mask", [("padnmf", True), ("padnmf", False), ("deepnmf", False)])
def test_golden_agrees_with_float64_model(kind, h_mask):
    model, rng = _model(kind, h_mask, 0)
    spec = (rng.random((3, 5, 4)) * 10).astype(np.float32)
    H64 = PADNMF.from_modelfile(model).transform(list(spec.astype(np.float64)))
    c = constants(model)
    H32 = np.stack([padnmf_forward_f32(c, s) for s in spec])
    assert np.allclose(H32, H64, rtol=1e-4, atol=1e-6)
    if h_mask:
        assert np.all(H32[:, c.mask == 0] == 0)


@pytest.mark.parametrize("kernels", ["cmsis", "ref"])
@pytest.mark.parametrize("board", ["mps2-an386", "mps2-an500", "host"])
@pytest.mark.parametrize("kind, h_mask", [("padnmf", True), ("deepnmf", False)])
def test_device_bits(board, kernels, kind, h_mask):
    model, rng = _model(kind, h_mask, 1)
    spec = (rng.random((3, 5, 4)) * 10).astype(np.float32)
    spec[0, :, 0] = 0.0
    res = check_model(model, board, spec, kernels)
    assert np.array_equal(res.outputs.view(np.uint32), res.reference.view(np.uint32))


def test_models_without_window_length_are_refused():
    model, _ = _model("padnmf", True, 2)
    del model.params["n_frames"]
    with pytest.raises(ModelFileError, match="n_frames"):
        generate(model)


def test_published_piano_network_on_the_m4f(tmp_path):
    """The authors' piano network (K=1000, C=3, 1001 x 77, 999 layers) on QEMU, bit-exact."""
    from tinyunfold.cli import main

    out = tmp_path / "piano.tum"
    assert main(["import", "padnmf-mat", "--params", str(PIANO / "NetParameters_ARM.mat"),
                 "--weights", str(PIANO / "NetWeights_ARM.mat"), "--classes", "C4,E4,G4",
                 "--training-set", str(PIANO / "TrainingSetPiano_ARM.mat"),
                 "--train-labels", str(PIANO / "train_labels.csv"), "--out", str(out)]) == 0  # fmt: skip
    model = load_model(out)
    from scipy.io import loadmat

    train = loadmat(PIANO / "TrainingSetPiano_ARM.mat")["TrainingSet"]
    spec = np.asarray(train[0, 0], dtype=np.float32)
    res = check_model(model, "mps2-an386", spec[None], timeout_s=600)
    assert res.bit_exact
    # The count (over 2^32 timer ticks: the 64-bit extension of the counter is exercised) is
    # 999 times the cost of one layer: a 3-layer cut of the same network measures that cost.
    short = ModelFile(model.kind, {**model.params, "n_layers": 4}, model.arrays)
    per_layer = check_model(short, "mps2-an386", spec[None]).count / 3
    assert res.count > 2**32 * 40 / 64
    assert abs(res.count / (999 * per_layer) - 1) < 0.01
