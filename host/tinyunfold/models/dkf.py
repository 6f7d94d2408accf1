"""Deep Kalman Filter (thesis sect. 6.4 and appendix 6.A), the ``dkf`` model kind.

Layer k (k = 1..K) of the unrolled filter, eqs. (6.4.2)-(6.4.3)::

    x̂(k|k-1) = f(x̂(k-1), p, u(k))                     predictor, shared p
    x̂(k)     = x̂(k|k-1) + K_G^(k) (y(k) - C x̂(k|k-1))  untied gains, shared C

trained on the loss (6.4.6)::

    L = λ_K/2 ‖x̂(K) - x(K)‖² + ½ Σ_k ‖y(k) - C x̂(k)‖²_{R_k⁻¹}
        + ½ Σ_k ‖K_G^(k) e_y(k)‖²_{P_k⁻¹} + λ_D/(2mn) Σ_ij ‖D v^ij‖²        (E + ΣF + ΣG + H)

with Adam (β1 = 0.9, β2 = 0.999). Two gradient variants:

* ``complete`` (6.A.3-6.A.4): full backpropagation through all layers (torch autograd).
* ``truncated`` (6.A.5): the gradient w.r.t. K_G^(k) keeps only the terms of layer k — the direct
  dependence of x̂(k) and of the correction K_G^(k) e_y(k) on K_G^(k), with x̂(k|k-1) and e_y(k)
  held fixed — plus λ_K's term for k = K and the smoothing term H. The gradients w.r.t. p and C
  are the complete ones (6.A.5 lists them unchanged). Implemented by running two graphs on the
  same values: one with the gains detached (feeds p, C) and one with the predictions detached
  (feeds the gains); ``tests/host/test_dkf.py`` checks both against the formulas of 6.A.

Note on H: (6.4.6) carries 1/(mn) while (6.A.4) writes ∇H = λ_D T^(k) without it; we follow the
loss (6.4.6), so the implemented gradient is λ_D/(mn) T^(k).

Beyond K steps (streaming on a device): layer k > K uses the gain ``gain_beyond``, by default
the last trained gain K_G^(K) (``beyond="last"``); ``beyond="kalman"`` stores the stationary
Kalman gain of the assumed covariances instead. :func:`gain_for_step` is the rule.

The streaming forward pass on the device (predict x = A x + B u, update x = x + K_k (y - C x)) has
its float32 golden reference in :mod:`tinyunfold.golden.dkf`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyunfold.errors import ModelFileError, ShapeError, TrainingError, ValueDomainError
from tinyunfold.modelfile import (
    MAX_LAYERS,
    ModelFile,
    param_choice,
    param_int,
    require_array,
    require_params,
)
from tinyunfold.models.kalman import kalman_gain_sequence, riccati_step, steady_state_gain
from tinyunfold.models.systems import LearnSpec, System, nonlinear_term, with_params

KIND = "dkf"
BACKPROP = ("truncated", "complete")
P_WEIGHTS = ("pred", "P0", "Q", "identity")
BEYOND = ("last", "kalman")
LOSSES = ("innovation", "map")
GAIN_PARAMS = ("riccati", "free")
DIVERGENCE_FACTOR = 1e4  # loss growth (x the first batch's) that stops training


def _f32(a: Any) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


# ================================================================ streaming rule
def gain_for_step(gains: np.ndarray, gain_beyond: np.ndarray, k: int) -> np.ndarray:
    """Gain of step k (1-based): K_G^(k) for k ≤ K, ``gain_beyond`` after the last layer."""
    if k < 1:
        raise ValueError("steps are numbered from 1")
    return gains[k - 1] if k <= gains.shape[0] else gain_beyond


# ================================================================ whiteness (6.4.16-6.4.18)
def ncp(v: np.ndarray) -> np.ndarray:
    """Normalised cumulative periodogram N(v) ∈ R^q, q = ⌊len(v)/2⌋ + 1, N_1 = 0, N_q = 1.

    Periodogram |FFT(v)|² at the frequencies 1..⌊len/2⌋ (DC excluded), cumulated and normalised;
    a leading 0 makes N comparable with the equispaced D_i = (i-1)/(q-1) of (6.4.16).
    """
    v = np.asarray(v, dtype=np.float64)
    n = v.shape[-1]
    if n < 4:
        raise ShapeError(f"whiteness needs at least 4 samples, got {n}")
    p = np.abs(np.fft.rfft(v - v.mean(-1, keepdims=True), axis=-1)) ** 2
    p = p[..., 1 : n // 2 + 1]
    c = np.cumsum(p, axis=-1)
    tot = c[..., -1:]
    c = np.where(tot > 0, c / np.where(tot > 0, tot, 1.0), np.linspace(0, 1, p.shape[-1]))
    return np.concatenate([np.zeros(c.shape[:-1] + (1,)), c], axis=-1)


def whiteness_deviation(v: np.ndarray) -> np.ndarray:
    """W_dev(v) = ‖D - N(v)‖₂ (6.4.16); v (..., K) -> (...)."""
    N = ncp(v)
    q = N.shape[-1]
    D = np.arange(q) / (q - 1)
    return np.linalg.norm(D - N, axis=-1)


def gain_mask_rows(C: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """φ(I): the state rows to freeze for the given observed outputs (support of C's rows)."""
    rows = np.zeros(C.shape[1], dtype=bool)
    for i in np.flatnonzero(outputs):
        rows |= np.abs(C[i]) > 0
    return rows


# ====================================================================== torch predictor
def _torch():
    import torch

    return torch


class TorchPredictor:
    """f(x, p) of (6.4.2) in torch for a batch x (B, n); p enters as offsets (6.4.3)."""

    def __init__(self, system: System, sindy: Any | None = None) -> None:
        torch = _torch()
        self.system = system
        self.learn: list[LearnSpec] = list(system.learn)
        self.sindy = sindy  # optional (library, s) pair, see models/sindy.py
        self.base = {
            k: torch.tensor(np.asarray(v, dtype=np.float64)) for k, v in system.model.items()
        }

    def coefs(self, p: Any) -> dict[str, Any]:
        c = dict(self.base)
        for i, s in enumerate(self.learn):
            if s.index:
                onehot = _torch().zeros_like(c[s.target])
                onehot[s.index] = 1.0
                c[s.target] = c[s.target] + p[i] * onehot
            else:
                c[s.target] = c[s.target] + p[i]
        return c

    def prepare(self, p: Any) -> dict[str, Any]:
        """Per-forward constants (coefficients, the IMEX system matrix or M⁻¹)."""
        torch = _torch()
        c = self.coefs(p)
        sysm = self.system
        if sysm.kind == "linear":
            A = c["A"]
            Bu = c["B"] @ c["u"] if "B" in c and "u" in c else torch.zeros(sysm.n, dtype=A.dtype)
            return {"A": A, "Bu": Bu}
        M = c.get("M", torch.eye(sysm.n, dtype=torch.float64))
        Lin = c["K"] if sysm.kind == "continuous" else c["L"]
        if sysm.scheme == "rk4":
            return {"c": c, "M": M, "Lin": Lin, "M_inv": torch.linalg.inv(M)}
        lhs = M - sysm.dt * Lin  # (M - Δt L) x(k) = M x(k-1) + Δt (N + d), eq. (6.4.25)
        return {"c": c, "M": M, "lhs_inv": torch.linalg.inv(lhs)}

    def _forcing(self, x: Any, c: dict[str, Any]) -> Any:
        forcing = nonlinear_term(self.system.kind, c, x, _torch())
        if "d" in c:
            forcing = forcing + c["d"]
        if self.sindy is not None:
            forcing = forcing + self.sindy.term_torch(x)  # s^T Φ(x), eq. (6.4.15)
        return forcing

    def __call__(self, x: Any, prep: dict[str, Any]) -> Any:
        sysm = self.system
        if sysm.kind == "linear":
            return x @ prep["A"].T + prep["Bu"]
        c = prep["c"]
        if sysm.scheme == "rk4":

            def rhs_fn(z: Any) -> Any:  # x' = M⁻¹ (L x + N(x) + d)
                return (z @ prep["Lin"].T + self._forcing(z, c)) @ prep["M_inv"].T

            h = sysm.dt
            k1 = rhs_fn(x)
            k2 = rhs_fn(x + 0.5 * h * k1)
            k3 = rhs_fn(x + 0.5 * h * k2)
            k4 = rhs_fn(x + h * k3)
            return x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        rhs = x @ prep["M"].T
        return (rhs + sysm.dt * self._forcing(x, c)) @ prep["lhs_inv"].T


def predict_numpy(
    system: System, coefs: dict[str, np.ndarray], x: np.ndarray, sindy: Any | None = None
) -> np.ndarray:
    """Numpy twin of :class:`TorchPredictor` for a batch x (B, n)."""
    if system.kind == "linear":
        A = coefs["A"]
        out = x @ A.T
        if "B" in coefs and "u" in coefs:
            out = out + coefs["B"] @ coefs["u"]
        return out
    M = coefs.get("M", np.eye(system.n))
    Lin = coefs["K"] if system.kind == "continuous" else coefs["L"]

    def forcing_fn(z: np.ndarray) -> np.ndarray:
        f = nonlinear_term(system.kind, coefs, z)
        if "d" in coefs:
            f = f + coefs["d"]
        if sindy is not None:
            f = f + sindy.term_numpy(z)
        return f

    if system.scheme == "rk4":
        Minv = np.linalg.inv(M)

        def rhs_fn(z: np.ndarray) -> np.ndarray:
            return (z @ Lin.T + forcing_fn(z)) @ Minv.T

        h = system.dt
        k1 = rhs_fn(x)
        k2 = rhs_fn(x + 0.5 * h * k1)
        k3 = rhs_fn(x + 0.5 * h * k2)
        k4 = rhs_fn(x + h * k3)
        return x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    rhs = x @ M.T + system.dt * forcing_fn(x)
    return np.linalg.solve(M - system.dt * Lin, rhs.T).T


# ============================================================================ loss / unroll
def second_difference(K: int) -> np.ndarray:
    """D ∈ R^{(K-2) x K}: (D v)_i = v_i - 2 v_{i+1} + v_{i+2} (second-order differences)."""
    D = np.zeros((max(K - 2, 0), K))
    for i in range(K - 2):
        D[i, i : i + 3] = (1.0, -2.0, 1.0)
    return D


def dkf_unroll(
    gains: Any,
    C: Any,
    predictor: TorchPredictor,
    p: Any,
    x0: Any,
    y: Any,
    R_inv: Any,
    P_inv: Any,
    lambda_k: float = 0.0,
    lambda_d: float = 0.0,
    x_final: Any | None = None,
    backprop: str = "complete",
) -> dict[str, Any]:
    """Run the K layers on a batch and build the loss (6.4.6).

    gains (K, n, m), C (m, n), p (r,), x0 (B, n), y (B, K, m), R_inv (m, m), P_inv (K, n, n),
    x_final (B, n) for λ_K. Returns ``loss`` (value, mean over the batch), ``loss_grad`` (the
    tensor to backpropagate: equals ``loss`` in value for complete backprop, and carries the
    6.A.5 gradients for truncated), the states and the innovations.
    """
    torch = _torch()
    K = y.shape[1]
    prep = predictor.prepare(p)
    x = x0
    trunc = backprop == "truncated"
    Cd = C.detach() if trunc else C
    F: Any = 0.0
    G: Any = 0.0
    Ft: Any = 0.0
    Gt: Any = 0.0
    xs, xps, es = [x0], [], []
    x_tr = x0
    for k in range(K):
        xp = predictor(x, prep)  # eq. (6.4.2)
        e = y[:, k] - xp @ C.T  # innovation e_y(k)
        if trunc:
            corr = e @ gains[k].detach().T
            x_new = xp + corr  # feeds p and C (complete gradients)
            corr_t = e.detach() @ gains[k].T
            x_tr = xp.detach() + corr_t  # feeds K_G^(k) only (6.A.5)
            r_t = y[:, k] - x_tr @ Cd.T
            Ft = Ft + 0.5 * torch.einsum("bi,ij,bj->b", r_t, R_inv, r_t)
            Gt = Gt + 0.5 * torch.einsum("bi,ij,bj->b", corr_t, P_inv[k], corr_t)
        else:
            corr = e @ gains[k].T
            x_new = xp + corr  # eq. (6.4.3)
        r = y[:, k] - x_new @ C.T
        F = F + 0.5 * torch.einsum("bi,ij,bj->b", r, R_inv, r)  # F^k
        G = G + 0.5 * torch.einsum("bi,ij,bj->b", corr, P_inv[k], corr)  # G^k
        x = x_new
        xs.append(x)
        xps.append(xp)
        es.append(e)
    E = torch.zeros_like(F)
    Et = torch.zeros_like(F)
    if lambda_k and x_final is not None:
        E = 0.5 * lambda_k * ((x - x_final) ** 2).sum(-1)  # E_{λ_K}
        if trunc:
            Et = 0.5 * lambda_k * ((x_tr - x_final) ** 2).sum(-1)
    H = torch.zeros((), dtype=F.dtype)
    if lambda_d and K >= 3:
        n, m = gains.shape[1], gains.shape[2]
        D = torch.as_tensor(second_difference(K), dtype=gains.dtype)
        dv = torch.einsum("lk,kij->lij", D, gains)  # D v^ij for all (i, j)
        H = lambda_d / (2.0 * m * n) * (dv**2).sum()  # H_{λ_D}
    loss = (E + F + G).mean() + H
    if trunc:
        loss_grad = (E + F + G).mean() + (Et + Ft + Gt).mean() + H
    else:
        loss_grad = loss
    return {
        "loss": loss,
        "loss_grad": loss_grad,
        "x": torch.stack(xs, 1),
        "x_pred": torch.stack(xps, 1),
        "innov": torch.stack(es, 1),
        "E": E.mean(),
        "F": F.mean(),
        "G": G.mean(),
        "H": H,
    }


def _chol_factor(d: Any, low: Any) -> Any:
    """L = (1 + N) diag(exp(d)), N strictly lower triangular: any SPD L Lᵀ, scale-free steps."""
    torch = _torch()
    n = d.shape[0]
    return (torch.eye(n, dtype=d.dtype) + torch.tril(low, -1)) * torch.exp(d)[None, :]


def _chol_params(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`_chol_factor`: (d, N) with L = chol(P) = (1 + N) diag(exp(d))."""
    L = np.linalg.cholesky(np.asarray(P, dtype=np.float64))
    dg = np.diag(L)
    return np.log(dg), np.tril(L / dg[None, :], -1)


def riccati_gains(A: Any, C: Any, Q: Any, R: Any, P0: Any, K: int) -> Any:
    """Torch Riccati recursion (5.3.6), (5.3.12), (5.3.13 Joseph form): gains (K, n, m).

    The gains of the ``riccati`` parametrisation: K_G^(k) = P(k|k-1) Cᵀ (C P(k|k-1) Cᵀ + R)⁻¹
    for learned covariances Q, R, P0 — the thesis' specialised smoothing term (6.4.12) in the
    limit λ_F → ∞ (every K_G^(k+1) = F(K_G^(k)) exactly), with the map F learned from data
    instead of taken from the assumed covariances.
    """
    torch = _torch()
    P = P0
    out = []
    for _ in range(K):
        _, _, G, P = riccati_step(P, A, C, Q, R)  # (5.3.6), (5.3.12), (5.3.13)
        out.append(G)
    return torch.stack(out)


def innovation_unroll(
    gains: Any,
    C: Any,
    predictor: TorchPredictor,
    p: Any,
    x0: Any,
    y: Any,
    W: Any,
    lambda_k: float = 0.0,
    lambda_d: float = 0.0,
    x_final: Any | None = None,
) -> dict[str, Any]:
    """The K layers with the innovation (prediction-error) loss — beyond the thesis' (6.4.6).

    L = λ_K/2 ‖x̂(K) - x(K)‖² + ½ Σ_k ‖e_y(k)‖²_W + H_{λ_D},  e_y(k) = y(k) - C x̂(k|k-1).

    Why: (6.4.6) weights the data term F and the correction term G by the *assumed* R and P; its
    minimiser is the MAP trade-off of those assumptions (the Kalman filter of the assumed
    covariances for truncated backprop, Fig. 6.5), so wrong covariances give wrong gains
    whatever the data (measured in docs/dkf.md). The one-step prediction error does not depend
    on assumptions: for the linear-Gaussian model the Kalman gains of the *true* covariances
    minimise E‖e_y(k)‖²_W for every k and every W > 0 at once (they minimise P(k-1|k-1), hence
    P(k|k-1) and C P(k|k-1) Cᵀ + R in the PSD order), and the thesis' tuning principle — white
    innovations — is the first-order condition of this loss. Gradients are the complete ones
    (backpropagation through the whole unrolled filter). K_G^(K) only reaches the loss through
    λ_K and H. Shapes as :func:`dkf_unroll`; W (m, m).
    """
    torch = _torch()
    K = y.shape[1]
    prep = predictor.prepare(p)
    x = x0
    Fi: Any = 0.0
    xs, xps, es = [x0], [], []
    for k in range(K):
        xp = predictor(x, prep)  # (6.4.2)
        e = y[:, k] - xp @ C.T  # innovation e_y(k)
        Fi = Fi + 0.5 * torch.einsum("bi,ij,bj->b", e, W, e)
        x = xp + e @ gains[k].T  # (6.4.3)
        xs.append(x)
        xps.append(xp)
        es.append(e)
    E = torch.zeros_like(Fi)
    if lambda_k and x_final is not None:
        E = 0.5 * lambda_k * ((x - x_final) ** 2).sum(-1)  # E_{λ_K}
    H = torch.zeros((), dtype=Fi.dtype)
    if lambda_d and K >= 3:
        n, m = gains.shape[1], gains.shape[2]
        D = torch.as_tensor(second_difference(K), dtype=gains.dtype)
        H = lambda_d / (2.0 * m * n) * (torch.einsum("lk,kij->lij", D, gains) ** 2).sum()
    loss = (E + Fi).mean() + H
    return {
        "loss": loss,
        "loss_grad": loss,
        "x": torch.stack(xs, 1),
        "x_pred": torch.stack(xps, 1),
        "innov": torch.stack(es, 1),
        "E": E.mean(),
        "F": Fi.mean(),
        "G": torch.zeros((), dtype=Fi.dtype),
        "H": H,
    }


# ============================================================================ the estimator
@dataclass
class TrainLog:
    loss: list[float]
    whiteness: list[list[float]]
    stage: list[int]
    mask_rows: list[list[bool]]


class DeepKalmanFilter:
    """Deep Kalman Filter with untied gains, shared p and C (thesis 6.4).

    Parameters
    ----------
    system : the :class:`~tinyunfold.models.systems.System` (predictor, C, assumed covariances).
    n_layers : K (default: ``system.steps``).
    backprop : ``"truncated"`` (6.A.5) or ``"complete"`` (6.A.4).
    lambda_k, lambda_d : weights λ_K, λ_D of (6.4.6).
    r_weight : ``"R"`` (R_k = assumed R) or ``"identity"``.
    p_weight : P_k = ``"pred"`` P(k|k-1) of the assumed Riccati recursion, ``"P0"``, ``"Q"`` or
        ``"identity"``.
    lr : μ_K (Adam learning rate of the gains).
    lr_ratio : μ_p/μ_K = μ_C/μ_K of (6.4.23) during step 1 (10²-10³ in the thesis).
    lr_boost : factor on μ_K in step 3 (stochastic terms) of Algorithm 6.3.3.
    epochs : epochs per training stage.
    batch_size : trajectories per Adam update (1 = Algorithm 6.3.3).
    whiteness_control : use the gain mask (6.4.17)-(6.4.19) and the three-step schedule; when
        False, train all learnable weights for ``epochs`` epochs.
    whiteness_patience : epochs in a row the stop condition (6.4.18) must hold before a row is
        frozen; 1 is the thesis' rule (the index of a single noisy trajectory fluctuates, so 1
        often freezes everything after a few epochs).
    sindy_cycles : number of SINDy re-initialisation cycles in step 2 (0 = skip).
    beyond : gain used after layer K (``"last"`` or ``"kalman"``; with ``gain_param="riccati"``
        ``"kalman"`` is the stationary gain of the *learned* covariances).
    loss : ``"map"`` = the thesis' loss (6.4.6) with the R_k, P_k weights; ``"innovation"`` =
        the prediction-error loss of :func:`innovation_unroll` (beyond the thesis: it learns
        the true-covariance gains when the assumed covariances are wrong, docs/dkf.md).
    gain_param : ``"free"`` = untied gain matrices (6.4.3), the thesis' choice; ``"riccati"`` =
        gains generated by the Riccati recursion from learned covariances Q, R, P0 (Cholesky
        factors, cf. the structured parametrisation (6.4.4)-(6.4.5) and (6.4.12)); linear part
        of the predictor only. Initialised at the assumed covariances.
    lambda_c : with ``gain_param="riccati"``, weight of the prior ½ λ_C ‖θ - θ̃‖² that keeps the
        covariance parameters θ (log-Cholesky) at the assumed ones θ̃ in directions the data do
        not inform (weakly observable states, docs/dkf.md).
    gain_init : free gains start at ``"6.4.24"`` (every K_G^(k) = P(1) Cᵀ R⁻¹, the thesis) or at
        ``"kalman"``, the Kalman gain sequence of the assumed covariances (beyond the thesis;
        it matters when a KF gain is far from P(1) Cᵀ R⁻¹, e.g. 124 vs 0 on weak3, because Adam
        moves each entry by about μ per step).
    seed : batch order seed.
    verbose : show a progress bar per training stage.
    """

    def __init__(
        self,
        system: System,
        n_layers: int | None = None,
        backprop: str = "truncated",
        lambda_k: float = 0.0,
        lambda_d: float = 0.0,
        r_weight: str = "R",
        p_weight: str = "pred",
        lr: float = 1e-3,
        lr_ratio: float = 100.0,
        lr_boost: float = 10.0,
        epochs: int = 100,
        batch_size: int = 1,
        whiteness_control: bool = False,
        whiteness_patience: int = 1,
        sindy_cycles: int = 0,
        sindy_options: dict[str, Any] | None = None,
        beyond: str = "last",
        loss: str = "map",
        gain_param: str = "free",
        lambda_c: float = 0.0,
        gain_init: str = "6.4.24",
        seed: int = 0,
        verbose: bool = False,
    ) -> None:
        self.system = system
        self.n_layers = n_layers
        self.backprop = backprop
        self.lambda_k = lambda_k
        self.lambda_d = lambda_d
        self.r_weight = r_weight
        self.p_weight = p_weight
        self.lr = lr
        self.lr_ratio = lr_ratio
        self.lr_boost = lr_boost
        self.epochs = epochs
        self.batch_size = batch_size
        self.whiteness_control = whiteness_control
        self.whiteness_patience = whiteness_patience
        self.sindy_cycles = sindy_cycles
        self.sindy_options = sindy_options
        self.beyond = beyond
        self.loss = loss
        self.gain_param = gain_param
        self.lambda_c = lambda_c
        self.gain_init = gain_init
        self.seed = seed
        self.verbose = verbose

    # ------------------------------------------------------------------ helpers
    @property
    def K(self) -> int:
        return int(self.system.steps if self.n_layers is None else self.n_layers)

    def linear_part(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        return self.system.discrete_linear()

    def kalman_reference(self, K: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Classical gains K̃_G^(k) and P(k|k-1) for the assumed covariances (linear part)."""
        A, _, _ = self.linear_part()
        s = self.system
        return kalman_gain_sequence(A, s.C, s.Qf, s.Rf, s.P0f, self.K if K is None else K)[:2]

    def initial_gains(self) -> np.ndarray:
        """Eq. (6.4.24): every K_G^(k) = P(1) Cᵀ R⁻¹ (assumed Q, R, P0)."""
        A, _, _ = self.linear_part()
        s = self.system
        P10 = A @ s.P0f @ A.T + s.Qf
        Ri = np.linalg.inv(s.Rf)
        P1 = np.linalg.inv(np.linalg.inv(P10) + s.C.T @ Ri @ s.C)  # eq. (5.3.9)
        return np.tile(P1 @ s.C.T @ Ri, (self.K, 1, 1))

    def weights(self) -> tuple[np.ndarray, np.ndarray]:
        s = self.system
        if self.r_weight not in ("R", "identity"):
            raise ValueDomainError(f"r_weight must be 'R' or 'identity', got {self.r_weight!r}")
        if self.p_weight not in P_WEIGHTS:
            raise ValueDomainError(f"p_weight must be one of {P_WEIGHTS}, got {self.p_weight!r}")
        R_inv = np.linalg.inv(s.Rf) if self.r_weight == "R" else np.eye(s.m)
        if self.p_weight == "pred":
            _, Pp = self.kalman_reference()
            P_inv = np.linalg.inv(Pp)
        else:
            P = {"P0": s.P0f, "Q": s.Qf, "identity": np.eye(s.n)}[self.p_weight]
            P_inv = np.tile(np.linalg.inv(P), (self.K, 1, 1))
        return R_inv, P_inv

    # ------------------------------------------------------------------ training
    def fit(self, data: dict[str, np.ndarray]) -> DeepKalmanFilter:
        """Train on trajectories: ``y`` (N, K, m), ``x0_hat`` (N, n), ``x`` (N, K+1, n) if λ_K>0.

        Returns self with ``gains_`` (K, n, m), ``p_`` (r,), ``C_`` (m, n), ``gain_beyond_``,
        ``log_`` (:class:`TrainLog`).
        """
        torch = _torch()
        if self.backprop not in BACKPROP:
            raise ValueDomainError(f"backprop must be one of {BACKPROP}, got {self.backprop!r}")
        if self.beyond not in BEYOND:
            raise ValueDomainError(f"beyond must be one of {BEYOND}, got {self.beyond!r}")
        self._check_options()
        s = self.system
        y = np.asarray(data["y"], dtype=np.float64)
        if y.ndim != 3 or y.shape[2] != s.m:
            raise ShapeError(f"y has shape {y.shape}, expected (N, K, {s.m})")
        if y.shape[1] < self.K:
            raise ShapeError(
                f"trajectories have {y.shape[1]} steps, the DKF has K={self.K} layers",
                "simulate longer trajectories or lower steps in system.toml",
            )
        y = y[:, : self.K]
        N = y.shape[0]
        if self.batch_size > N:
            raise ValueDomainError(
                f"batch size {self.batch_size} is larger than the {N} training trajectories",
                f"use a batch size between 1 and {N}",
            )
        x0 = np.asarray(data.get("x0_hat", np.tile(s.x0, (N, 1))), dtype=np.float64)
        xK = None
        if self.lambda_k:
            if "x" not in data:
                raise ShapeError("lambda_k > 0 needs the true states 'x' (for x(K)) in the data")
            xK = torch.tensor(np.asarray(data["x"], dtype=np.float64)[:, self.K])
        R_inv, P_inv = self.weights()
        R_inv_t, P_inv_t = torch.tensor(R_inv), torch.tensor(P_inv)
        Y, X0 = torch.tensor(y), torch.tensor(x0)

        self.sindy_ = None
        predictor = TorchPredictor(s)
        riccati = self.gain_param == "riccati"
        p = torch.zeros(len(s.learn), dtype=torch.float64, requires_grad=bool(s.learn))
        C = torch.tensor(s.C.copy(), requires_grad=s.learn_C)
        cov_params: list[Any] = []
        if riccati:  # (d, N) of L = (1 + N) diag(e^d) for Q, R, P0, from the assumed values
            for P in (s.Qf, s.Rf, s.P0f):
                dd, low = _chol_params(P)
                cov_params += [torch.tensor(dd, requires_grad=True),
                               torch.tensor(low, requires_grad=True)]  # fmt: skip
            gains_leaf = torch.zeros(0, dtype=torch.float64)  # unused: gains are computed
        else:
            g_init = self.kalman_reference()[0] if self.gain_init == "kalman" else (
                self.initial_gains())  # fmt: skip
            gains_leaf = torch.tensor(g_init, requires_grad=True)
        cov_init = [c.detach().clone() for c in cov_params]
        W_t = R_inv_t  # weight of the innovation loss (the minimiser does not depend on it)
        A_fixed = torch.tensor(self.linear_part()[0])

        def covs() -> tuple[Any, Any, Any]:
            Ls = [_chol_factor(cov_params[2 * i], cov_params[2 * i + 1]) for i in range(3)]
            return tuple(L @ L.T for L in Ls)  # type: ignore[return-value]

        def current_gains() -> Any:
            if not riccati:
                return gains_leaf
            if s.kind == "linear":  # learned p enter A
                A_t = predictor.prepare(p)["A"]
            else:
                A_t = A_fixed
            Qh, Rh, Ph = covs()
            return riccati_gains(A_t, C, Qh, Rh, Ph, self.K)

        def unroll(idx: Any | None, grad_mode: str | None = None) -> dict[str, Any]:
            x0b = X0 if idx is None else X0[idx]
            yb = Y if idx is None else Y[idx]
            xkb = None if xK is None else (xK if idx is None else xK[idx])
            g = current_gains()
            if self.loss == "innovation":
                out = innovation_unroll(g, C, predictor, p, x0b, yb, W_t, self.lambda_k,
                                        self.lambda_d, xkb)  # fmt: skip
            else:
                out = dkf_unroll(g, C, predictor, p, x0b, yb, R_inv_t, P_inv_t, self.lambda_k,
                                 self.lambda_d, xkb, grad_mode or self.backprop)  # fmt: skip
            if riccati and self.lambda_c:  # prior: stay at the assumed covariances where the
                prior = sum(((q - q0) ** 2).sum() for q, q0 in zip(cov_params, cov_init,
                                                                   strict=True))  # fmt: skip
                out["loss"] = out["loss"] + 0.5 * self.lambda_c * prior  # data do not inform
                out["loss_grad"] = out["loss_grad"] + 0.5 * self.lambda_c * prior
            return out

        gains = gains_leaf
        ref: list[float] = []  # the first batch's loss: the divergence reference
        rng = np.random.default_rng(self.seed)
        log = TrainLog([], [], [], [])
        rows_obs = gain_mask_rows(s.C, np.ones(s.m, dtype=bool))

        def make_opt(lr_k: float, lr_pc: float, train_pc: bool) -> Any:
            groups = [{"params": cov_params if riccati else [gains], "lr": lr_k}]
            if train_pc and s.learn:
                groups.append({"params": [p], "lr": lr_pc})
            if train_pc and s.learn_C:
                groups.append({"params": [C], "lr": lr_pc})
            return torch.optim.Adam(groups, betas=(0.9, 0.999))

        def run_stage(stage: int, opt: Any, controlled: bool) -> None:
            mask = np.ones((s.n, s.m))
            w_prev = None
            strikes = np.zeros(s.m, dtype=int)
            from tqdm import tqdm

            bar = tqdm(range(self.epochs), desc=f"dkf stage {stage}", disable=None if self.verbose else True,
                       leave=False)  # fmt: skip
            for _ in bar:
                order = rng.permutation(N)
                tot = 0.0
                for b0 in range(0, N, self.batch_size):
                    idx = torch.as_tensor(order[b0 : b0 + self.batch_size])
                    opt.zero_grad()
                    out = unroll(idx)
                    value = float(out["loss"].detach())
                    if not ref:
                        ref.append(value)
                    self._check_divergence(value, ref[0])
                    out["loss_grad"].backward()
                    old = gains.detach().clone()
                    opt.step()
                    if not riccati:
                        with torch.no_grad():  # gain mask (6.4.19): frozen rows keep their value
                            mk = torch.as_tensor(mask)
                            gains.copy_(mk * gains + (1 - mk) * old)
                    tot += value * len(idx)
                with torch.no_grad():
                    full = unroll(None, "complete")
                self._check_divergence(tot / N, ref[0])
                w = whiteness_deviation(np.moveaxis(full["innov"].numpy(), 1, 2)).mean(0)
                log.loss.append(tot / N)
                bar.set_postfix(loss=f"{tot / N:.4g}")
                log.whiteness.append(w.tolist())
                log.stage.append(stage)
                if controlled and w_prev is not None:
                    stop = w >= w_prev  # stop condition (6.4.18), mean over trajectories
                    strikes = np.where(stop, strikes + 1, 0)
                    mask[gain_mask_rows(s.C, strikes >= self.whiteness_patience)] = 0.0
                log.mask_rows.append((mask[:, 0] == 0).tolist())
                w_prev = w
                if controlled and np.all(mask[rows_obs] == 0):
                    break

        has_pc = bool(s.learn) or s.learn_C
        if not self.whiteness_control:
            run_stage(0, make_opt(self.lr, self.lr * self.lr_ratio, True), False)
        else:
            if has_pc:  # step 1: model parameter mismatch, μ_p/μ_K = μ_C/μ_K ≫ 1 (6.4.23)
                run_stage(1, make_opt(self.lr, self.lr * self.lr_ratio, True), True)
            if self.sindy_cycles > 0:  # step 2: unmodelled dynamics (SINDy cycles)
                from tinyunfold.models.sindy import SindyTerm

                for _ in range(self.sindy_cycles):
                    with torch.no_grad():
                        est = unroll(None, "complete")
                    xs = est["x"].numpy()
                    coefs = with_params(s.model, s.learn, p.detach().numpy())
                    term = SindyTerm.fit_from_states(s, coefs, xs, **(self.sindy_options or {}))
                    predictor.sindy = term
                    self.sindy_ = term
                    with torch.no_grad():  # re-initialise the gains (6.4.24), fresh Adam + mask
                        gains.copy_(torch.tensor(self.initial_gains()))
                    run_stage(2, make_opt(self.lr, self.lr * self.lr_ratio, has_pc), True)
            # step 3: stochastic terms, p and C frozen, μ_K increased
            run_stage(3, make_opt(self.lr * self.lr_boost, 0.0, False), True)

        with torch.no_grad():
            self.gains_ = current_gains().detach().numpy().copy()
        self.p_ = p.detach().numpy().copy()
        self.C_ = C.detach().numpy().copy()
        self.log_ = log
        self.R_inv_, self.P_inv_ = R_inv, P_inv
        self.covariances_: dict[str, np.ndarray] | None = None
        if riccati:
            with torch.no_grad():
                self.covariances_ = dict(zip(("Q", "R", "P0"),
                                             (c.numpy().copy() for c in covs()), strict=True))  # fmt: skip
        if not np.all(np.isfinite(self.gains_)):
            raise TrainingError("training produced NaN/Inf gains; nothing was saved",
                                "lower --lr")  # fmt: skip
        if self.beyond == "last":
            self.gain_beyond_ = self.gains_[-1].copy()
        else:
            A = self.discrete_A()
            Qb, Rb = (s.Qf, s.Rf) if self.covariances_ is None else (
                self.covariances_["Q"], self.covariances_["R"])  # fmt: skip
            self.gain_beyond_ = steady_state_gain(A, self.C_, Qb, Rb)
        return self

    def discrete_A(self) -> np.ndarray:
        """Linear part of the predictor with the learned p (A of x̂(k|k-1) = A x̂ + Bu)."""
        return self.system.discrete_linear(self.learned_coefs())[0]

    def _check_options(self) -> None:
        """Impossible training options are errors (cause + fix), before any work is done."""
        if self.loss not in LOSSES:
            raise ValueDomainError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.gain_init not in ("6.4.24", "kalman"):
            raise ValueDomainError(
                f"gain_init must be '6.4.24' or 'kalman', got {self.gain_init!r}"
            )
        if self.gain_param not in GAIN_PARAMS:
            raise ValueDomainError(
                f"gain_param must be one of {GAIN_PARAMS}, got {self.gain_param!r}"
            )
        checks = (
            ("learning rate", self.lr, self.lr > 0 and np.isfinite(self.lr), "e.g. --lr 1e-2"),
            ("learning-rate ratio", self.lr_ratio, self.lr_ratio > 0 and np.isfinite(self.lr_ratio),
             "a positive --lr-ratio, e.g. 100"),
            ("lr boost", self.lr_boost, self.lr_boost > 0, "a positive factor"),
            ("epochs", self.epochs, isinstance(self.epochs, (int, np.integer)) and self.epochs >= 1,
             "--epochs 1 or more"),
            ("batch size", self.batch_size,
             isinstance(self.batch_size, (int, np.integer)) and self.batch_size >= 1,
             "--batch-size 1 or more"),
            ("lambda_k", self.lambda_k, self.lambda_k >= 0 and np.isfinite(self.lambda_k),
             "--lambda-k 0 or more"),
            ("lambda_d", self.lambda_d, self.lambda_d >= 0 and np.isfinite(self.lambda_d),
             "--lambda-d 0 or more"),
            ("lambda_c", self.lambda_c, self.lambda_c >= 0 and np.isfinite(self.lambda_c),
             "--lambda-c 0 or more"),
            ("whiteness patience", self.whiteness_patience, self.whiteness_patience >= 1,
             "--whiteness-patience 1 or more"),
            ("sindy cycles", self.sindy_cycles, self.sindy_cycles >= 0, "--sindy-cycles 0 or more"),
        )  # fmt: skip
        for name, value, ok, fix in checks:
            if not ok:
                raise ValueDomainError(f"{name} must be positive and finite, got {value!r}", fix)
        if self.n_layers is not None and self.n_layers < 1:
            raise ValueDomainError(f"the DKF needs at least 1 layer, got {self.n_layers}",
                                   "--layers 1 or more")  # fmt: skip
        if self.loss == "innovation" and self.backprop == "truncated":
            raise ValueDomainError(
                "truncated backprop (6.A.5) is defined for the loss (6.4.6) only; the innovation "
                "loss of layer k does not depend on K_G^(k)",
                "use --backprop complete with --loss innovation, or --loss map",
            )
        if self.gain_param == "riccati" and (self.whiteness_control or self.sindy_cycles):
            raise ValueDomainError(
                "the gain mask and SINDy cycles act on free gain matrices",
                "use --gains free with --whiteness-control / --sindy-cycles",
            )

    @staticmethod
    def _check_divergence(value: float, ref: float) -> None:
        """Stop on NaN/Inf or a loss DIVERGENCE_FACTOR x above the first batch's (``ref``)."""
        if not np.isfinite(value):
            raise TrainingError(f"training diverged: the loss became {value}; nothing was saved",
                                "lower --lr (e.g. by 10x)")  # fmt: skip
        if value > DIVERGENCE_FACTOR * max(abs(ref), 1e-300):
            raise TrainingError(
                f"training diverged: the loss grew from {ref:.4g} to {value:.4g}; "
                "nothing was saved",
                "lower --lr (e.g. by 10x)",
            )

    # ------------------------------------------------------------------ inference
    def learned_coefs(self) -> dict[str, np.ndarray]:
        return with_params(self.system.model, self.system.learn, self.p_)

    def transform(self, y: np.ndarray, x0: np.ndarray | None = None) -> np.ndarray:
        """Filter y (N, T, m) (T may exceed K: gain_beyond_ is used there) -> x̂ (N, T+1, n)."""
        return run_dkf_numpy(
            self.system,
            self.learned_coefs(),
            self.C_,
            self.gains_,
            self.gain_beyond_,
            y,
            x0,
            self.sindy_,
        )

    # ------------------------------------------------------------------ model file
    def to_modelfile(self) -> ModelFile:
        s = self.system
        coefs = self.learned_coefs()
        predictor = "linear" if s.is_linear else s.scheme
        A, B, u = s.discrete_linear(coefs)  # learned p included; nonlinear: linear part only
        Bu = B @ u if B is not None and u is not None else np.zeros(s.n)
        arrays = {
            "gains": _f32(self.gains_),
            "gain_beyond": _f32(self.gain_beyond_),
            "C": _f32(self.C_),
            "A": _f32(A),
            "Bu": _f32(Bu),
            "x0": _f32(s.x0),
            "p": np.asarray(self.p_, dtype=np.float64),
        }
        if self.sindy_ is not None:
            arrays["sindy_s"] = np.asarray(self.sindy_.s, dtype=np.float64)
        for name, cov in (getattr(self, "covariances_", None) or {}).items():
            arrays[f"learned_{name}"] = np.asarray(cov, dtype=np.float64)  # riccati gains
        return ModelFile(
            kind=KIND,
            params={
                "n_layers": self.K,
                "n_states": s.n,
                "n_outputs": s.m,
                "predictor": predictor,
                "backprop": self.backprop,
                "lambda_k": float(self.lambda_k),
                "lambda_d": float(self.lambda_d),
                "r_weight": self.r_weight,
                "p_weight": self.p_weight,
                "beyond": self.beyond,
                "loss": self.loss,
                "gain_param": self.gain_param,
                "p_labels": [sp.label() for sp in s.learn],
                "sindy": None if self.sindy_ is None else self.sindy_.to_params(),
                "system": s.to_dict(),
                "final_loss": float(self.log_.loss[-1]) if self.log_.loss else None,
                "epochs_run": len(self.log_.loss),
            },
            arrays=arrays,
        )

    @classmethod
    def from_modelfile(cls, model: ModelFile) -> DeepKalmanFilter:
        pr = model.params
        system = System.from_dict(pr["system"])
        obj = cls(
            system,
            n_layers=int(pr["n_layers"]),
            backprop=pr["backprop"],
            lambda_k=pr["lambda_k"],
            lambda_d=pr["lambda_d"],
            r_weight=pr["r_weight"],
            p_weight=pr["p_weight"],
            beyond=pr["beyond"],
            loss=pr.get("loss", "map"),
            gain_param=pr.get("gain_param", "free"),
        )
        obj.gains_ = model.array("gains").astype(np.float64)
        obj.gain_beyond_ = model.array("gain_beyond").astype(np.float64)
        obj.C_ = model.array("C").astype(np.float64)
        obj.p_ = model.array("p").astype(np.float64)
        obj.sindy_ = None
        obj.covariances_ = None
        if all(f"learned_{c}" in model.arrays for c in ("Q", "R", "P0")):
            obj.covariances_ = {c: model.array(f"learned_{c}") for c in ("Q", "R", "P0")}
        if pr.get("sindy"):
            from tinyunfold.models.sindy import SindyTerm

            obj.sindy_ = SindyTerm.from_params(pr["sindy"], model.array("sindy_s"))
        return obj


def run_dkf_numpy(
    system: System,
    coefs: dict[str, np.ndarray],
    C: np.ndarray,
    gains: np.ndarray,
    gain_beyond: np.ndarray,
    y: np.ndarray,
    x0: np.ndarray | None = None,
    sindy: Any | None = None,
    innov: np.ndarray | None = None,
) -> np.ndarray:
    """Float64 DKF forward for a batch y (N, T, m): x̂ (N, T+1, n), x̂[:, 0] = x0.

    If ``innov`` (N, T, m) is given, the innovations e_y(k) are written into it.
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 2:
        y = y[None]
    N, T, _ = y.shape
    x = np.tile(system.x0, (N, 1)) if x0 is None else np.asarray(x0, dtype=np.float64)
    out = np.zeros((N, T + 1, system.n))
    out[:, 0] = x
    for k in range(1, T + 1):
        xp = predict_numpy(system, coefs, x, sindy)  # eq. (6.4.2)
        Kk = gain_for_step(gains, gain_beyond, k)
        e = y[:, k - 1] - xp @ C.T
        if innov is not None:
            innov[:, k - 1] = e
        x = xp + e @ Kk.T  # eq. (6.4.3)
        out[:, k] = x
    return out


def validate_model(model: ModelFile) -> None:
    require_params(
        model, "n_layers", "n_states", "n_outputs", "predictor", "backprop", "beyond", "system"
    )
    pr = model.params
    K = param_int(model, "n_layers", 1, MAX_LAYERS)
    n = param_int(model, "n_states", 1, 4096)
    m = param_int(model, "n_outputs", 1, 4096)
    param_choice(model, "predictor", ("linear", "imex", "rk4"))
    param_choice(model, "backprop", BACKPROP)
    param_choice(model, "beyond", BEYOND)
    if not isinstance(pr["system"], dict):
        raise ModelFileError("dkf: param system must be an object")
    gains = require_array(model, "gains", shape=(K, n, m))
    for name, shape in (
        ("gain_beyond", (n, m)),
        ("C", (m, n)),
        ("A", (n, n)),
        ("Bu", (n,)),
        ("x0", (n,)),
    ):
        arr = require_array(model, name, shape=shape)
        if arr.dtype != np.float32:
            raise ValueDomainError(f"dkf: {name} must be float32, got {arr.dtype}")
    if gains.dtype != np.float32:
        raise ValueDomainError(f"dkf: gains must be float32, got {gains.dtype}")
    require_array(model, "p", ndim=1)
    try:
        json.dumps(pr["system"])
        System.from_dict(pr["system"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"dkf: malformed system description ({exc})") from None


# ================================================================ exact analysis (linear)
def exact_applies(dkf: Any) -> bool:
    """The exact MSE needs the filter's model to be the simulated one (discrete linear kind,
    same A, B u and C as [truth]); otherwise the error has a deterministic part as well."""
    s = dkf.system
    if s.kind != "linear":
        return False
    A_f, B_f, u_f = s.discrete_linear(dkf.learned_coefs())
    A_t, B_t, u_t = s.discrete_linear(s.truth)
    Bu_f = np.zeros(s.n) if B_f is None or u_f is None else B_f @ u_f
    Bu_t = np.zeros(s.n) if B_t is None or u_t is None else B_t @ u_t
    return bool(np.array_equal(A_f, A_t) and np.array_equal(Bu_f, Bu_t)
                and np.allclose(dkf.C_, s.C, rtol=1e-6, atol=1e-7))  # f32 model file  # fmt: skip


def exact_gain_report(dkf: Any, T: int) -> dict[str, Any]:
    """Expected MSE over k = 1..T from the gains alone (no sampling) and the gain distance.

    Uses the true covariances of the system file ([noise]); ``gain_dist_steady`` is the relative
    Frobenius distance ‖K_DKF - K_KF‖ / ‖K_KF‖ to the true-covariance Kalman gains over
    k = 11..T (all layers if T <= 10).
    """
    from tinyunfold.models.kalman import gain_sequence_mse

    s = dkf.system
    A = dkf.discrete_A()
    G = np.stack([gain_for_step(dkf.gains_, dkf.gain_beyond_, k) for k in range(1, T + 1)])
    Kt = kalman_gain_sequence(A, s.C, s.Q, s.R, s.P0, T)[0]
    Kw = kalman_gain_sequence(A, s.C, s.Qf, s.Rf, s.P0f, T)[0]
    lo = 10 if T > 10 else 0

    def mse(g: np.ndarray, last: int | None = None) -> float:
        return gain_sequence_mse(A, s.C, s.Q, s.R, s.P0, g, last)

    def dist(g: np.ndarray) -> float:
        return float(np.linalg.norm(g[lo:] - Kt[lo:]) / np.linalg.norm(Kt[lo:]))

    return {
        "exact_mse": {"dkf": mse(G), "kf_assumed": mse(Kw), "kf_true": mse(Kt)},
        "exact_mse_last10": {"dkf": mse(G, 10), "kf_assumed": mse(Kw, 10), "kf_true": mse(Kt, 10)},
        "gain_dist_steady": {"dkf": dist(G), "kf_assumed": dist(Kw)},
    }
