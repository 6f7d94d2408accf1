"""PAD-NMF / Deep-NMF forward passes on the boards: Hankel input, H mask, a schedule of
dictionaries (K−C fixed layers, then one per trained dictionary) — bit-exact with the golden
reference (whose agreement with the float64 model is checked in tests/host/test_padnmf_golden.py)."""

from pathlib import Path

import numpy as np
import pytest

from tinyunfold.codegen import generate
from tinyunfold.errors import ModelFileError
from tinyunfold.kinds import load_model
from tinyunfold.modelfile import ModelFile
from tinyunfold.tools.deploy import check_model

PIANO = Path(__file__).resolve().parents[2].parent / "shared" / "external" / "padnmf-piano"


# cmsis / ref: the mask-aware kernels (tu_padnmf_layers_f32); -dense: the dense reference path
# (tu_nmf_layers_f32). One golden reference for all four (masked and dense give the same bits).
@pytest.mark.parametrize("kernels", ["cmsis", "ref", "cmsis-dense", "ref-dense"])
@pytest.mark.parametrize("board", ["mps2-an386", "mps2-an500", "stm32f405", "host"])
@pytest.mark.parametrize("kind, h_mask", [("padnmf", True), ("deepnmf", False)])
def test_device_bits(padnmf_model, board, kernels, kind, h_mask):
    model, rng = padnmf_model(kind, h_mask, 1)
    spec = (rng.random((3, 5, 4)) * 10).astype(np.float32)
    spec[0, :, 0] = 0.0
    res = check_model(model, board, spec, kernels)
    assert np.array_equal(res.outputs.view(np.uint32), res.reference.view(np.uint32))


@pytest.mark.parametrize("kernels", ["cmsis", "ref"])
def test_reordered_kept_terms_fail_the_check(padnmf_model, kernels):
    """The mask-aware firmware matches the golden only in the dense order: a reference that adds
    the same kept products in reverse order differs from the board's output."""
    from tinyunfold.golden import padnmf as golden

    model, rng = padnmf_model("padnmf", True, 1)
    spec = (rng.random((2, 5, 4)) * 10).astype(np.float32)
    res = check_model(model, "mps2-an386", spec, kernels)
    assert res.bit_exact
    c = golden.constants(model)
    rev = np.stack([golden.padnmf_forward_masked_f32(c, x, "reversed").ravel() for x in spec])
    assert np.count_nonzero(res.outputs.view(np.uint32) != rev.view(np.uint32)) > 0


@pytest.mark.parametrize("kernels", ["cmsis", "ref", "cmsis-dense", "ref-dense"])
@pytest.mark.parametrize("kind, h_mask", [("padnmf", True), ("deepnmf", False)])
def test_warm_start_bits_in_the_host_library(padnmf_model, kernels, kind, h_mask):
    """tu_model_forward_warm (the same C as the boards, through ctypes) equals the golden warm
    start over a stream of windows; the first window (pPrev NULL) is the cold start."""
    import ctypes

    from tinyunfold.golden import padnmf as golden
    from tinyunfold.tools.build import build_model

    model, rng = padnmf_model(kind, h_mask, 2, n=6)
    model.params["warm_stride"] = 2
    c = golden.constants(model)
    lib = ctypes.CDLL(str(build_model(model, "host", kernels).library))
    fp = ctypes.POINTER(ctypes.c_float)
    lib.tu_model_forward_warm.argtypes = [fp, fp, fp]
    assert lib.tu_model_init() == 0
    prev_ref = None
    prev_dev = None
    for _ in range(4):
        spec = (rng.random((5, 6)) * 10).astype(np.float32)
        ref = golden.padnmf_forward_f32(c, spec, h_prev=prev_ref)
        out = np.empty(c.rank * 6, dtype=np.float32)
        p_prev = None if prev_dev is None else prev_dev.ctypes.data_as(fp)
        assert (
            lib.tu_model_forward_warm(spec.ctypes.data_as(fp), p_prev, out.ctypes.data_as(fp)) == 0
        )
        assert np.array_equal(out.view(np.uint32), ref.ravel().view(np.uint32))
        prev_ref, prev_dev = ref, out


def test_models_without_window_length_are_refused(padnmf_model):
    model, _ = padnmf_model("padnmf", True, 2)
    del model.params["n_frames"]
    with pytest.raises(ModelFileError, match="n_frames"):
        generate(model)


@pytest.mark.parametrize("kernels", ["cmsis", "cmsis-dense"])
def test_published_piano_network_on_the_m4f(tmp_path, kernels):
    """The authors' piano network (K=1000, C=3, 1001 x 77, 999 layers) on QEMU, bit-exact, with
    the mask-aware kernels (M^W only: 57% of the multiply-adds) and the dense path."""
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
    res = check_model(model, "mps2-an386", spec[None], kernels, timeout_s=600)
    assert res.bit_exact
    # The count is that of a 4-layer cut of the same network plus 996 more layers, each costing
    # what a 5-layer cut adds to it. The dense run is over 2^32 timer ticks: the 64-bit extension
    # of the counter.
    c4, c5 = (
        check_model(
            ModelFile(model.kind, {**model.params, "n_layers": k}, model.arrays),
            "mps2-an386",
            spec[None],
            kernels,
        ).count
        for k in (4, 5)
    )
    if kernels == "cmsis-dense":
        assert res.count > 2**32 * 40 / 64
    assert abs(res.count / (c4 + 996 * (c5 - c4)) - 1) < 1e-3
