"""The Deep Kalman Filter streaming on the boards: one observation per forward pass, the state kept
between passes, the learned gains for k <= K and the beyond-K gain after — bit-exact with the
float32 reference (golden/dkf.py::stream_f32)."""

import numpy as np
import pytest
import torch

from tinyunfold.codegen import generate
from tinyunfold.errors import ModelFileError
from tinyunfold.golden.dkf import stream_f32
from tinyunfold.golden.linalg import as_f32
from tinyunfold.modelfile import ModelFile
from tinyunfold.models.dkf import DeepKalmanFilter
from tinyunfold.models.systems import simulate, system_from_toml
from tinyunfold.tools.build import build_model
from tinyunfold.tools.deploy import check_model, golden_batch
from tinyunfold.tools.link import open_board

DOC = {
    "name": "toy",
    "kind": "linear",
    "steps": 6,
    "x0": [1.0, -0.5],
    "C": [[1.0, 0.3], [0.0, 1.0]],
    "model": {"A": [[1.01, -0.002], [0.05, 0.97]]},
    "noise": {"sigma_q": 0.1, "sigma_r": 0.2, "sigma_p": 0.1},
    "learn": [{"target": "A", "index": [0, 1]}],
}


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    s = system_from_toml(DOC)
    data = simulate(s, 4, None, seed=1)
    dkf = DeepKalmanFilter(s, lambda_d=1.0, lr=1e-2, epochs=3, batch_size=2).fit(data)
    y = np.concatenate([data["y"][0], data["y"][1]], 0).astype(np.float32)  # 12 steps > K = 6
    return dkf.to_modelfile(), y


@pytest.mark.parametrize("kernels", ["cmsis", "ref"])
@pytest.mark.parametrize("board", ["mps2-an386", "mps2-an500", "stm32f405", "host"])
def test_filter_bits_past_the_last_layer(trained, board, kernels):
    model, y = trained
    res = check_model(model, board, y, kernels)
    assert res.outputs.shape == (12, 2)
    assert np.array_equal(res.outputs.view(np.uint32), res.reference.view(np.uint32))
    # the state matters: one step from x0 differs from the streamed estimate
    assert not np.array_equal(golden_batch(model, y[5:6]), res.reference[5:6])


def test_stream_keeps_state_over_the_serial_link(trained):
    model, y = trained
    ref = golden_batch(model, y)
    b = build_model(model, "mps2-an386", program="stream")
    with open_board(b.board, b.artifact, timeout_s=60) as s:
        info = s.link.hello()
        assert (info.kind, info.in_len, info.out_len) == ("dkf", 2, 2)
        for k in range(len(y)):
            out, _ = s.link.infer(y[k], 2)
            assert np.array_equal(out.view(np.uint32), ref[k].view(np.uint32))
        s.link.bye()


def test_a_nonlinear_predictor_of_a_linear_system_is_refused(trained):
    model, _ = trained
    nonlinear = ModelFile(model.kind, {**model.params, "predictor": "rk4"}, model.arrays)
    with pytest.raises(ModelFileError, match="needs a nonlinear system kind"):
        generate(nonlinear)


# n = m = 3, a dense C and a beyond-K gain that differs from the last trained gain: three-term
# float32 sums whose order changes the bits, and a schedule error (a skipped or repeated gain)
# that changes the outputs. The variants below show that a wrong firmware fails this test.
DOC3 = {
    "name": "dense3",
    "kind": "linear",
    "steps": 5,
    "x0": [0.7, -1.3, 0.45],
    "C": [[1.0, 0.31, -0.17], [0.23, 0.9, 0.41], [-0.37, 0.13, 1.1]],
    "model": {"A": [[0.97, 0.11, -0.053], [-0.07, 1.01, 0.029], [0.043, -0.061, 0.93]]},
    "noise": {"sigma_q": 0.3, "sigma_r": 0.2, "sigma_p": 0.5},
}


def _mat_vec(M: np.ndarray, v: np.ndarray, reverse: bool) -> np.ndarray:
    """M v in float32, summing the products in index order (CMSIS) or reversed."""
    M, v = as_f32(M), as_f32(v)
    acc = np.zeros(M.shape[0], dtype=np.float32)
    for j in range(M.shape[1])[::-1] if reverse else range(M.shape[1]):
        acc += M[:, j] * v[j]
    return acc


def _stream_variant(model, y, reverse=False, schedule=lambda k, K: min(k, K + 1)):
    """The DKF stream with a chosen sum order and gain schedule (index into gains + beyond)."""
    A, Bu, C = model.array("A"), model.array("Bu"), model.array("C")
    table = np.concatenate([model.array("gains"), model.array("gain_beyond")[None]], 0)
    K = model.array("gains").shape[0]
    x = as_f32(model.array("x0"))
    out = np.zeros((len(y), x.size), dtype=np.float32)
    for k in range(1, len(y) + 1):
        xp = _mat_vec(A, x, reverse) + as_f32(Bu)
        e = as_f32(y[k - 1]) - _mat_vec(C, xp, reverse)
        x = xp + _mat_vec(table[schedule(k, K) - 1], e, reverse)
        out[k - 1] = x
    return out


@pytest.fixture(scope="module")
def trained3():
    torch.set_num_threads(1)
    s = system_from_toml(DOC3)
    data = simulate(s, 4, 8, seed=2)
    dkf = DeepKalmanFilter(s, lambda_d=1.0, lr=3e-2, epochs=3, batch_size=2,
                           beyond="kalman").fit(data)  # fmt: skip
    model = dkf.to_modelfile()
    y = data["y"].reshape(-1, 3)[:13].astype(np.float32)  # 13 steps > K = 5
    return model, y


def test_dense3_variants_are_distinguishable(trained3):
    """The checks below bite: each wrong firmware behaviour gives different bits."""
    model, y = trained3
    gains, gb = model.array("gains"), model.array("gain_beyond")
    assert not np.array_equal(gb, gains[-1])  # the beyond-K gain is not the last trained gain
    ref = stream_f32(model, y)
    assert np.array_equal(_stream_variant(model, y).view(np.uint32), ref.view(np.uint32))
    wrong = {
        "sums reversed": _stream_variant(model, y, reverse=True),
        "last trained gain skipped": _stream_variant(
            model, y, schedule=lambda k, K: k if k < K else K + 1
        ),  # fmt: skip
        "last trained gain kept beyond K": _stream_variant(
            model, y, schedule=lambda k, K: min(k, K)
        ),
        "gains shifted by one": _stream_variant(model, y, schedule=lambda k, K: min(k + 1, K + 1)),
    }
    for name, out in wrong.items():
        assert not np.array_equal(out.view(np.uint32), ref.view(np.uint32)), name


@pytest.mark.parametrize("kernels", ["cmsis", "ref"])
@pytest.mark.parametrize("board", ["mps2-an386", "mps2-an500", "host"])
def test_dense3_filter_bits_past_the_last_layer(trained3, board, kernels):
    model, y = trained3
    res = check_model(model, board, y, kernels)
    assert res.outputs.shape == (13, 3)
    got = res.outputs.view(np.uint32)
    assert np.array_equal(got, stream_f32(model, y).view(np.uint32))
    assert not np.array_equal(got, _stream_variant(model, y, reverse=True).view(np.uint32))
    skip_last = _stream_variant(model, y, schedule=lambda k, K: k if k < K else K + 1)
    assert not np.array_equal(got, skip_last.view(np.uint32))
