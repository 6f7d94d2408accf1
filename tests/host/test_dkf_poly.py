"""The nonlinear DKF predictor table (models/dkf_poly.py) is the model's predictor: its field /
map equals ode_rhs / predict_numpy (up to the float32 rounding of the coefficients), SINDy rows
included; the float32 golden stream follows the float64 filter; lorenz63's escape is reported."""

from pathlib import Path

import numpy as np
import pytest

from tinyunfold.errors import ValueDomainError
from tinyunfold.golden.dkf import poly_eval_f32
from tinyunfold.models.dkf import predict_numpy
from tinyunfold.models.dkf_poly import SCHEME_MAP, SCHEME_RK4, build_poly_predictor
from tinyunfold.models.sindy import SindyTerm, monomials
from tinyunfold.models.systems import load_system, ode_rhs, simulate, with_params

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "dkf"


def _field64(P, x):
    """The table's f in float64 (coefficients as stored, float32)."""
    out = np.zeros(P.n)
    for t in range(P.n_terms):
        out[P.out[t]] += float(P.coef[t]) * np.prod(x ** P.exps[t].astype(float))
    return out


@pytest.mark.parametrize("name", ["lorenz63.toml", "fitzhugh_nagumo.toml"])
def test_rk4_table_is_the_ode_right_hand_side(name):
    s = load_system(EXAMPLES / name)
    coefs = with_params(s.model, s.learn, np.linspace(0.1, 0.3, len(s.learn)))
    P = build_poly_predictor(s, coefs)
    assert P.scheme == SCHEME_RK4 and P.n_sub == 1 and P.h == np.float32(s.dt)
    rng = np.random.default_rng(0)
    for x in rng.normal(0, 3, (5, s.n)):
        want = ode_rhs(s, coefs, x[None])[0]
        assert np.allclose(_field64(P, x), want, rtol=1e-6, atol=1e-6 * np.abs(want).max())
    # a wrong table (one coefficient changed) is not the rhs
    bad = build_poly_predictor(s, with_params(coefs, s.learn, np.full(len(s.learn), 0.5)))
    assert not np.allclose(_field64(bad, x), ode_rhs(s, coefs, x[None])[0], rtol=1e-4)


def test_imex_table_is_the_imex_map_with_a_sindy_term():
    s = load_system(EXAMPLES / "fitzhugh_nagumo.toml")
    s.scheme = "imex"
    exps = monomials(2, 3)
    S = np.zeros((len(exps), 2))
    S[exps.index((1, 1)), 0] = 0.7  # x1 x2 into x1'
    S[exps.index((0, 2)), 1] = -0.2  # x2² into x2'
    sindy = SindyTerm(exps, S)
    P = build_poly_predictor(s, s.model, sindy)
    assert P.scheme == SCHEME_MAP and P.n_sub == 0
    assert any(tuple(e) == (1, 1) for e in P.exps) and any(tuple(e) == (0, 2) for e in P.exps)
    for x in np.random.default_rng(1).normal(0, 1, (5, 2)):
        want = predict_numpy(s, s.model, x[None], sindy)[0]
        assert np.allclose(_field64(P, x), want, rtol=1e-6, atol=1e-7)
        assert np.allclose(poly_eval_f32(P, x), want, rtol=1e-5, atol=1e-6)


def test_lorenz63_escape_is_reported_with_its_cause():
    s = load_system(EXAMPLES / "lorenz63.toml")
    with pytest.raises(ValueDomainError, match=r"trajectory 1 of 8 escaped to infinity at step"):
        simulate(s, 8, None, seed=0)
    s.Q, s.P0 = 0 * s.Q, 0 * s.P0  # the noise-free truth stays bounded (the integrator is fine)
    assert np.all(np.abs(simulate(s, 1, None, seed=0)["x"]) < 100)
