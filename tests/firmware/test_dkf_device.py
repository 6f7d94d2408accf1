"""The Deep Kalman Filter streaming on the boards: one observation per forward pass, the state kept
between passes, the learned gains for k <= K and the beyond-K gain after — bit-exact with the
float32 reference (golden/dkf.py::stream_f32)."""

import numpy as np
import pytest
import torch

from tinyunfold.codegen import generate
from tinyunfold.errors import ModelFileError
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


def test_nonlinear_predictors_are_refused(trained):
    model, _ = trained
    nonlinear = ModelFile(model.kind, {**model.params, "predictor": "rk4"}, model.arrays)
    with pytest.raises(ModelFileError, match="not deployable"):
        generate(nonlinear)
