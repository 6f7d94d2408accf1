"""The nonlinear Deep Kalman Filter on the boards (thesis 6.4.26-6.4.30): the polynomial predictor
of models/dkf_poly.py integrated by RK4 in C (tu_poly_eval_f32, tu_rk4_step_f32), bit-exact with
golden/dkf.py::stream_f32 past the trained horizon K, for the Lorenz-63 and FitzHugh-Nagumo
examples with learned p; the estimate also read back over the serial link (GET_STATE -> STATE)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from tinyunfold.golden.dkf import poly_eval_f32, stream_f32
from tinyunfold.golden.linalg import as_f32, mat_mult_f32
from tinyunfold.modelfile import ModelFile
from tinyunfold.models.dkf import DeepKalmanFilter, gain_for_step
from tinyunfold.models.dkf_poly import SCHEME_MAP, poly_predictor
from tinyunfold.models.systems import load_system, simulate
from tinyunfold.tools.build import build_model
from tinyunfold.tools.deploy import check_model
from tinyunfold.tools.link import open_board

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "dkf"
K, T = 6, 40  # trained layers, streamed steps (> K: the beyond-K gain runs)


def _train(name: str, scheme: str = "rk4"):
    torch.set_num_threads(1)
    s = load_system(EXAMPLES / name)
    s.steps = K
    s.scheme = scheme  # rk4 (the examples' default) or the imex map (6.4.25)
    data = simulate(s, 4, None, seed=3)
    dkf = DeepKalmanFilter(s, lambda_d=1.0, lr=1e-3, epochs=3, batch_size=2).fit(data)
    y = simulate(s, 1, T, seed=4)["y"][0].astype(np.float32)
    model = dkf.to_modelfile()
    # With the trained gains (near I: x̂ follows y) a one-ulp change of the prediction rarely
    # survives the update, so the checks would not bite. Scaled-down gains (the predictor carries
    # the estimate, as for a weakly observable state) and a distinct beyond-K gain make every
    # rounding of the predictor visible; the learned p and the structure are the trained ones.
    arrays = dict(model.arrays)
    arrays["gains"] = (0.1 * model.array("gains")).astype(np.float32)
    arrays["gain_beyond"] = (0.05 * model.array("gain_beyond")).astype(np.float32)
    return ModelFile(model.kind, model.params, arrays), y


@pytest.fixture(
    scope="module",
    params=[
        ("lorenz63.toml", "rk4"),
        ("fitzhugh_nagumo.toml", "rk4"),
        ("lorenz63.toml", "imex"),
    ],
    ids=["lorenz63-rk4", "fhn-rk4", "lorenz63-imex"],
)
def trained(request):
    return _train(*request.param)


# ---------------------------------------------------------------- wrong references that must differ
def _eval_coef_first(P, x):
    """The monomial started from the coefficient: ((c x1) x1) x1 instead of c (x1 x1 x1)."""
    x = as_f32(x)
    dx = np.zeros(P.n, dtype=np.float32)
    for t in range(P.n_terms):
        v = np.float32(P.coef[t])
        for j in range(P.n):
            for _ in range(int(P.exps[t, j])):
                v = np.float32(v * x[j])
        dx[P.out[t]] = np.float32(dx[P.out[t]] + v)
    return dx


def _eval_reversed(P, x):
    """The terms summed in reverse table order."""
    x = as_f32(x)
    dx = np.zeros(P.n, dtype=np.float32)
    for t in range(P.n_terms)[::-1]:
        v = np.float32(1.0)
        for j in range(P.n):
            for _ in range(int(P.exps[t, j])):
                v = np.float32(v * x[j])
        dx[P.out[t]] = np.float32(dx[P.out[t]] + np.float32(P.coef[t] * v))
    return dx


def _stream_variant(model, y, f=poly_eval_f32, combine="golden", P=None):
    """stream_f32 with a chosen field evaluation and RK4 combination."""
    P = poly_predictor(model) if P is None else P
    C, gains, gb = model.array("C"), model.array("gains"), model.array("gain_beyond")
    h = np.float32(P.h)
    hh, h6, two = np.float32(0.5) * h, np.float32(h / np.float32(6.0)), np.float32(2.0)
    x = as_f32(model.array("x0"))
    out = np.zeros((len(y), x.size), dtype=np.float32)
    for k in range(1, len(y) + 1):
        if P.scheme == SCHEME_MAP:  # the imex map: x_p = f(x)
            xp = f(P, x).reshape(-1, 1)
            e = as_f32(y[k - 1]).reshape(-1, 1) - mat_mult_f32(C, xp)
            x = (xp + mat_mult_f32(gain_for_step(gains, gb, k), e)).reshape(-1)
            out[k - 1] = x
            continue
        k1 = f(P, x)
        k2 = f(P, x + hh * k1)
        k3 = f(P, x + hh * k2)
        k4 = f(P, x + h * k3)
        if combine == "golden":
            acc = ((k1 + two * k2) + two * k3) + k4
        else:  # k1 + 2 (k2 + k3) + k4
            acc = (k1 + two * (k2 + k3)) + k4
        xp = (x + h6 * acc).reshape(-1, 1)
        e = as_f32(y[k - 1]).reshape(-1, 1) - mat_mult_f32(C, xp)
        x = (xp + mat_mult_f32(gain_for_step(gains, gb, k), e)).reshape(-1)
        out[k - 1] = x
    return out


def _wrong(model, y):
    from tinyunfold.models.dkf_poly import build_poly_predictor
    from tinyunfold.models.systems import System

    system = System.from_dict(model.params["system"])
    prior = build_poly_predictor(system, system.model)  # p = 0: the learned p ignored
    wrong = {
        "coefficient multiplied first": _stream_variant(model, y, f=_eval_coef_first),
        "terms summed in reverse": _stream_variant(model, y, f=_eval_reversed),
        "learned p ignored": _stream_variant(model, y, P=prior),
    }
    if model.params["predictor"] == "rk4":
        pair = _stream_variant(model, y, combine="pair")
        wrong["RK4 stages combined as k1 + 2 (k2 + k3) + k4"] = pair
    return wrong


def test_references_are_distinguishable(trained):
    """The device checks below bite: each wrong predictor gives different bits."""
    model, y = trained
    assert model.params["predictor"] in ("rk4", "imex")
    assert np.any(model.array("p") != 0.0)  # a learned p, not the prior model
    ref = stream_f32(model, y)
    assert np.all(np.isfinite(ref))
    assert np.array_equal(_stream_variant(model, y).view(np.uint32), ref.view(np.uint32))
    for name, out in _wrong(model, y).items():
        assert not np.array_equal(out.view(np.uint32), ref.view(np.uint32)), name


@pytest.mark.parametrize("kernels", ["cmsis", "ref"])
@pytest.mark.parametrize("board", ["mps2-an386", "mps2-an500", "stm32f405", "host"])
def test_nonlinear_filter_bits_past_the_last_layer(trained, board, kernels):
    model, y = trained
    res = check_model(model, board, y, kernels)
    n = int(model.params["n_states"])
    assert res.outputs.shape == (T, n)
    got = res.outputs.view(np.uint32)
    assert np.array_equal(got, stream_f32(model, y).view(np.uint32))
    for name, out in _wrong(model, y).items():
        assert not np.array_equal(got, out.view(np.uint32)), name


def test_state_streams_over_the_serial_link(trained):
    """RESULT carries x̂(k) and GET_STATE -> STATE gives (k, x̂(k)): the state the firmware keeps."""
    model, y = trained
    n, m = int(model.params["n_states"]), int(model.params["n_outputs"])
    ref = stream_f32(model, y)
    b = build_model(model, "mps2-an386", program="stream")
    with open_board(b.board, b.artifact, timeout_s=60) as s:
        info = s.link.hello()
        assert (info.kind, info.in_len, info.out_len) == ("dkf", m, n)
        step, x = s.link.get_state()
        assert step == 0
        assert np.array_equal(x.view(np.uint32), as_f32(model.array("x0")).view(np.uint32))
        for k in range(len(y)):
            out, _ = s.link.infer(y[k], n)
            assert np.array_equal(out.view(np.uint32), ref[k].view(np.uint32))
            step, x = s.link.get_state()
            assert step == k + 1
            assert np.array_equal(x.view(np.uint32), ref[k].view(np.uint32))
        s.link.bye()
