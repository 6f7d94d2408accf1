"""The nonlinear DKF predictor (thesis 6.4.26-6.4.30, 6.4.15) as a polynomial table for the device.

The continuous-time predictor M x' = L x + N(x) + d + s^T Φ(x) of the nonlinear kinds has a
polynomial right-hand side (the known terms N of (6.4.26)/(6.4.28) and the SINDy monomials Φ of
(6.4.15) up to degree 3). This module turns it, with the learned p, into ONE table that both the
float32 golden model (:mod:`tinyunfold.golden.dkf`) and the code generator (``kinds/dkf.py``,
``codegen/templates/dkf``) read, so the firmware and the reference evaluate the same terms in
the same order:

* ``rk4``: the field f(x) = M⁻¹ (L x + N(x) + d + s^T Φ(x)) as terms (output i, monomial
  exponents e, coefficient c): f_i(x) = Σ_t c_t Π_j x_j^e_tj, integrated by classical RK4 with
  ``n_sub`` steps of h = Δt / n_sub (the trained predictor uses one step, n_sub = 1).
* ``imex``: the linearly-implicit Euler step (6.4.25) with the nonlinear part explicit is itself
  a polynomial map, x(k) = (M - Δt L)⁻¹ (M x(k-1) + Δt (N + d + s^T Φ)), so the table is the map
  and no integration runs (n_sub = 0).

Coefficients are formed in float64 (M⁻¹ folded in) and rounded once to float32; zero
coefficients are dropped. Terms are ordered by monomial (constant, linear, then higher degree in
:func:`monomial_order`) and, within one monomial, by output index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyunfold.errors import ModelFileError
from tinyunfold.modelfile import ModelFile
from tinyunfold.models.systems import System, with_params

SCHEME_MAP = 0  # x(k) = f(x(k-1)) directly (imex)
SCHEME_RK4 = 1  # x(k) = RK4 step(s) of x' = f(x)


@dataclass(frozen=True)
class PolyPredictor:
    """A polynomial predictor table (see the module docstring).

    Attributes
    ----------
    n : number of states.
    scheme : ``SCHEME_MAP`` or ``SCHEME_RK4``.
    h : float32 step of one RK4 sub-step (Δt / n_sub); 0 for ``SCHEME_MAP``.
    n_sub : RK4 sub-steps per sample (0 for ``SCHEME_MAP``).
    out : (T,) uint8, output index of each term.
    exps : (T, n) uint8, monomial exponents of each term.
    coef : (T,) float32 coefficients.
    """

    n: int
    scheme: int
    h: np.float32
    n_sub: int
    out: np.ndarray
    exps: np.ndarray
    coef: np.ndarray

    @property
    def n_terms(self) -> int:
        return int(self.coef.shape[0])


def known_terms(kind: str, c: dict[str, Any], n: int) -> dict[tuple[int, ...], np.ndarray]:
    """N(x) of (6.4.26)/(6.4.28) as {exponents: coefficient vector (n,)} (twin of
    :func:`tinyunfold.models.systems.nonlinear_term`; tests/host/test_dkf_poly.py ties them)."""

    def e(*pows: int) -> tuple[int, ...]:
        return tuple(pows) + (0,) * (n - len(pows))

    def vec(*vals: float) -> np.ndarray:
        return np.array(vals + (0.0,) * (n - len(vals)), dtype=np.float64)

    if kind == "fitzhugh_nagumo":  # (α x1³ + β, γ x1²)
        return {
            e(): vec(float(c["beta"])),
            e(3): vec(float(c["alpha"])),
            e(2): vec(0.0, float(c["gamma"])),
        }
    if kind == "lorenz63":  # (ε x1³, -x1 x3, x1 x2)
        return {
            e(3): vec(float(c["eps"])),
            e(1, 0, 1): vec(0.0, -1.0),
            e(1, 1): vec(0.0, 0.0, 1.0),
        }
    return {}


def monomial_order(e: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    """Sort key: total degree, then exponents of x1, x2, ... descending (x1 x2 before x2²)."""
    return (sum(e), tuple(-p for p in e))


def build_poly_predictor(
    system: System, coefs: dict[str, np.ndarray], sindy: Any | None = None, n_sub: int = 1
) -> PolyPredictor:
    """The table of a nonlinear ``system`` with learned coefficients ``coefs`` (and SINDy term)."""
    n = system.n
    if system.is_linear:
        raise ModelFileError(
            f"dkf: a polynomial predictor needs a nonlinear system kind, the model's is "
            f"{system.kind!r}",
            "set predictor to 'linear' for linear/continuous systems (retrain the model)",
        )
    M = np.asarray(coefs.get("M", np.eye(n)), dtype=np.float64)
    Lin = np.asarray(coefs["L"], dtype=np.float64)
    forcing: dict[tuple[int, ...], np.ndarray] = {}

    def add(e: tuple[int, ...], v: np.ndarray) -> None:
        forcing[e] = forcing.get(e, np.zeros(n)) + v

    for e, v in known_terms(system.kind, coefs, n).items():
        add(e, v)
    if "d" in coefs:
        add((0,) * n, np.asarray(coefs["d"], dtype=np.float64))
    if sindy is not None:  # s^T Φ(x), eq. (6.4.15): row r of s multiplies monomial exps[r]
        for r, e in enumerate(sindy.exps):
            add(tuple(int(p) for p in e), np.asarray(sindy.s[r], dtype=np.float64))
    terms: dict[tuple[int, ...], np.ndarray] = {}
    if system.scheme == "rk4":
        Minv = np.linalg.inv(M)
        for j in range(n):  # linear part M⁻¹ L
            ej = tuple(int(i == j) for i in range(n))
            terms[ej] = Minv @ Lin[:, j]
        for e, v in forcing.items():
            terms[e] = terms.get(e, np.zeros(n)) + Minv @ v
        scheme, h = SCHEME_RK4, np.float32(system.dt / n_sub)
    else:
        G = np.linalg.inv(M - system.dt * Lin)  # (M - Δt L)⁻¹, eq. (6.4.25)
        GM = G @ M
        for j in range(n):
            ej = tuple(int(i == j) for i in range(n))
            terms[ej] = GM[:, j]
        for e, v in forcing.items():
            terms[e] = terms.get(e, np.zeros(n)) + system.dt * (G @ v)
        scheme, h, n_sub = SCHEME_MAP, np.float32(0.0), 0
    out, exps, coef = [], [], []
    for e in sorted(terms, key=monomial_order):
        for i in range(n):
            c32 = np.float32(terms[e][i])
            if c32 != 0.0:
                out.append(i)
                exps.append(e)
                coef.append(c32)
    if max((max(e) for e in exps), default=0) > 255:
        raise ModelFileError("dkf: a monomial exponent exceeds 255")
    return PolyPredictor(
        n=n,
        scheme=scheme,
        h=h,
        n_sub=int(n_sub),
        out=np.asarray(out, dtype=np.uint8).reshape(-1),
        exps=np.asarray(exps, dtype=np.uint8).reshape(-1, n),
        coef=np.asarray(coef, dtype=np.float32).reshape(-1),
    )


def poly_predictor(model: ModelFile) -> PolyPredictor:
    """The predictor table of a nonlinear ``dkf`` model file (system, learned p, SINDy s)."""
    pr = model.params
    if pr["predictor"] == "linear":
        raise ModelFileError("dkf: the linear predictor has no polynomial table (use A, Bu)")
    system = System.from_dict(pr["system"])
    coefs = with_params(system.model, system.learn, model.array("p"))
    sindy = None
    if pr.get("sindy"):
        from tinyunfold.models.sindy import SindyTerm

        sindy = SindyTerm.from_params(pr["sindy"], model.array("sindy_s"))
    if system.n > 255:
        raise ModelFileError(f"dkf: {system.n} states exceed the 255 of the device predictor")
    return build_poly_predictor(system, coefs, sindy)
