"""Firmware float32 outputs equal the Python golden reference bit for bit (uint32 views), on both
QEMU boards and the host build, with the CMSIS-DSP and the portable reference kernels."""

import numpy as np
import pytest

from tinyunfold.models.nmf import NMFInference
from tinyunfold.tools.deploy import check_model, golden_batch
from tinyunfold.tools.hostlib import HostModel

# (F, R, N, K, alpha_h): odd sizes, a rank-1 case, a single frame, sparsity on and off.
SHAPES = [(13, 5, 3, 20, 0.1), (1, 1, 1, 3, 0.0), (33, 7, 1, 15, 0.0), (64, 6, 8, 40, 0.02)]
BOARDS = ["mps2-an386", "mps2-an500", "stm32f405", "host"]


def _case(shape, seed):
    F, R, N, K, alpha = shape
    rng = np.random.default_rng(seed)
    W = rng.random((F, R)).astype(np.float32)
    W[rng.random((F, R)) < 0.3] = 0.0  # exact zeros in the dictionary
    W[0] = np.maximum(W[0], 0.05)  # every atom keeps a positive entry (validated)
    model = NMFInference(W, n_layers=K, alpha_h=alpha, eps=1e-9, n_frames=N).to_modelfile()
    X = (rng.random((3, F, N)) * rng.choice([1e-3, 1.0, 50.0], size=(3, 1, 1))).astype(np.float32)
    X[0, 0, 0] = 0.0  # a silent bin
    return model, X


@pytest.mark.parametrize("kernels", ["cmsis", "ref"])
@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "F{}-R{}-N{}-K{}".format(*s[:4]))
@pytest.mark.parametrize("seed", [0, 1])
def test_firmware_matches_golden_bits(board, kernels, shape, seed):
    model, X = _case(shape, seed)
    res = check_model(model, board, X, kernels)
    assert res.outputs.shape == res.reference.shape
    assert np.array_equal(res.outputs.view(np.uint32), res.reference.view(np.uint32)), (
        f"{res.mismatches} values differ"
    )
    assert res.count > 0


@pytest.mark.parametrize("kernels", ["cmsis", "ref"])
def test_host_library_through_ctypes(kernels):
    model, X = _case(SHAPES[0], 3)
    hm = HostModel.build(model, kernels)
    for x in X:
        out = hm.forward(x)
        assert np.array_equal(out.view(np.uint32), golden_batch(model, x[None])[0].view(np.uint32))


def test_the_check_can_fail():
    """A reference computed with BLAS (`@`, other summation order) is not accepted as equal."""
    model, X = _case(SHAPES[3], 0)
    res = check_model(model, "host", X, "cmsis")
    W = model.array("W")
    H = np.ones((W.shape[1], X.shape[2]), np.float32)
    eps = np.float32(1e-9)
    d = (W.sum(axis=0) + np.float32(model.params["alpha_h"]))[:, None]
    for _ in range(model.params["n_layers"]):
        H = np.maximum(eps, H * (W.T @ (X[0] / (W @ H + eps))) / d).astype(np.float32)
    assert not np.array_equal(res.outputs[0].view(np.uint32), H.ravel().view(np.uint32))


@pytest.mark.parametrize("board", ["host", "mps2-an386"])
@pytest.mark.parametrize("value", [0, 7])
def test_run_exits_1_when_one_reference_bit_flips(board, value, tmp_path, capsys, monkeypatch):
    """`tinyunfold run` compares all 32 bits: flipping the lowest mantissa bit of one value of
    the golden reference turns exit status 0 into 1 ("bits differ") with that one value named."""
    from tinyunfold import tools
    from tinyunfold.cli import main
    from tinyunfold.kinds import save_model

    model, X = _case(SHAPES[0], 0)
    m, x = tmp_path / "m.tum", tmp_path / "x.npy"
    save_model(m, model)
    np.save(x, X)
    argv = ["run", "--model", str(m), "--board", board, "--input", str(x)]
    assert main(argv) == 0
    assert "BIT-EXACT" in capsys.readouterr().out
    golden = tools.deploy.golden_batch

    def flipped(model, inputs):
        ref = golden(model, inputs).copy()
        ref.reshape(-1).view(np.uint32)[value] ^= np.uint32(1)  # one bit of one value
        return ref

    monkeypatch.setattr(tools.deploy, "golden_batch", flipped)
    assert main(argv) == 1
    assert "MISMATCH in 1 values" in capsys.readouterr().out


def test_instruction_count_is_deterministic_and_grows_with_layers():
    model, X = _case(SHAPES[0], 0)
    a = check_model(model, "mps2-an386", X).count
    b = check_model(model, "mps2-an386", X).count
    F, R, N, K, alpha = SHAPES[0]
    W = model.array("W")
    longer = NMFInference(W, n_layers=2 * K, alpha_h=alpha, n_frames=N).to_modelfile()
    c = check_model(longer, "mps2-an386", X).count
    assert a == b
    assert 1.8 * a < c < 2.2 * a
