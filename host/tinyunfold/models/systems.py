"""State-space systems for the Deep Kalman Filter: ``system.toml`` parsing, simulation, predictors.

A ``system.toml`` names one predictor ``f`` of eq. (6.4.1)-(6.4.2)::

    name = "strong2"
    kind = "linear"          # linear | continuous | fitzhugh_nagumo | lorenz63
    steps = 50               # K, number of DKF layers / trajectory length
    x0 = [1.0, 1.0]          # μ0 = x̂(0)
    C = [[1, 0], [0, 1]]     # observation matrix (shared weight C)
    learn_C = false

    [model]                  # what the predictor knows (coefficients by kind, see below)
    A = [[1.01, -0.002], [0, 1.005]]

    [truth]                  # optional overrides used only by `simulate` (the true system)

    [noise]                  # true noise: sigma_q / sigma_r / sigma_p (or full Q, R, P0)
    sigma_q = 2e-2
    sigma_r = 3.5e-2
    sigma_p = 1e-1

    [filter]                 # optional covariances assumed by the KF / DKF loss (default = noise);
    q_scale = 0.1            # also *_scale multipliers (Q̃ = 0.1 Q ...)

    [[learn]]                # learnable predictor parameters p (start at 0, eq. 6.4.3)
    target = "A"             # coefficient name
    index = [0, 0]           # entry of a matrix coefficient (omit for scalars)

Coefficients by ``kind``:

* ``linear``: ``A`` (n x n), optional ``B`` (n x q) and constant input ``u`` (q,).
* ``continuous``: ``M``, ``K`` (n x n), optional ``d`` (n,), ``dt``: M x' = K x + d discretised
  by implicit Euler (6.4.25): A = (1 - Δt M⁻¹K)⁻¹, B = A Δt M⁻¹, u(k) = d.
* ``fitzhugh_nagumo`` (6.4.26): ``L`` (2 x 2 linear part), scalars ``alpha``, ``beta``,
  ``gamma``: x' = L x + (α x1³ + β, γ x1²).
* ``lorenz63`` (6.4.28): ``M`` (3 x 3), ``L`` (3 x 3), scalar ``eps``:
  M x' = L x + (ε x1³, -x1 x3, x1 x2).

Predictor discretisation (``scheme``): ``imex`` — a linearly-implicit Euler step, the linear
part implicit as in (6.4.25), the nonlinear part explicit: (M - Δt L) x(k) = M x(k-1) +
Δt (N(x(k-1)) + d); for a linear model this is exactly (6.4.25) and it is the default of
``continuous``. ``rk4`` — one classical Runge-Kutta step of M x' = L x + N(x) + d per Δt, the
default of the nonlinear kinds (implicit Euler is strongly dissipative at the thesis' Δt = 0.08
for FitzHugh-Nagumo, and the learned p then absorb the numerical damping).

The true nonlinear trajectories of ``simulate`` are integrated by RK4 with ``substeps`` sub-steps per Δt (the thesis used MATLAB's ode45), with the
additive process noise w(k) of (6.4.1) added once per sample.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyunfold.errors import ShapeError, TinyUnfoldError, ValueDomainError, check_known_keys

KINDS = ("linear", "continuous", "fitzhugh_nagumo", "lorenz63")
LINEAR_KINDS = ("linear", "continuous")
_COEFS: dict[str, dict[str, str]] = {
    # coefficient -> "matrix" | "vector" | "scalar"
    "linear": {"A": "matrix", "B": "matrix", "u": "vector"},
    "continuous": {"M": "matrix", "K": "matrix", "d": "vector"},
    "fitzhugh_nagumo": {
        "L": "matrix",
        "alpha": "scalar",
        "beta": "scalar",
        "gamma": "scalar",
        "M": "matrix",
        "d": "vector",
    },
    "lorenz63": {"M": "matrix", "L": "matrix", "eps": "scalar", "d": "vector"},
}
_DEFAULTS: dict[str, dict[str, Any]] = {
    "fitzhugh_nagumo": {
        "L": [[0.01, 2.0], [-3.0, -0.08]],
        "alpha": -0.5,
        "beta": 1.0,
        "gamma": 0.1,
        "M": [[1.0, 0.0], [0.0, 1.0]],
        "d": [0.0, 0.0],
    },
    "lorenz63": {
        "M": [[0.1, 0, 0], [0, 0.1, 0], [0, 0, 0.1]],
        "L": [[-7.0, 7.0, 0.0], [28.0, -1.0, 0.0], [0.0, 0.0, -8.0 / 3.0]],
        "eps": 0.01,
        "d": [0.0, 0.0, 0.0],
    },
}


class SystemError_(TinyUnfoldError):
    """A system.toml is malformed."""


@dataclass
class LearnSpec:
    """One learnable scalar p_i added to coefficient ``target`` (at ``index`` for arrays)."""

    target: str
    index: tuple[int, ...] = ()

    def label(self) -> str:
        return self.target + ("[" + ",".join(map(str, self.index)) + "]" if self.index else "")


@dataclass
class System:
    """A resolved system: predictor coefficients, true coefficients, noise and assumed noise."""

    name: str
    kind: str
    steps: int
    x0: np.ndarray  # (n,)
    C: np.ndarray  # (m, n)
    model: dict[str, np.ndarray]  # predictor coefficients
    truth: dict[str, np.ndarray]  # simulation coefficients
    Q: np.ndarray
    R: np.ndarray
    P0: np.ndarray
    Qf: np.ndarray  # covariances assumed by KF / DKF loss
    Rf: np.ndarray
    P0f: np.ndarray
    dt: float = 1.0
    substeps: int = 10
    scheme: str = "imex"
    learn: list[LearnSpec] = field(default_factory=list)
    learn_C: bool = False

    @property
    def n(self) -> int:
        return int(self.x0.shape[0])

    @property
    def m(self) -> int:
        return int(self.C.shape[0])

    @property
    def is_linear(self) -> bool:
        return self.kind in LINEAR_KINDS

    # ------------------------------------------------------------ discrete linear matrices
    def discrete_linear(
        self, coefs: dict[str, np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(A, B, u) of the discrete predictor; for nonlinear kinds, the linear part only."""
        c = self.model if coefs is None else coefs
        n = self.n
        if self.kind == "linear":
            B = c.get("B")
            return c["A"], B, c.get("u") if B is not None else None
        M = c["M"] if "M" in c else np.eye(n)
        Lin = c["K"] if self.kind == "continuous" else c["L"]
        Minv = np.linalg.inv(M)
        A = np.linalg.inv(np.eye(n) - self.dt * Minv @ Lin)  # eq. (6.4.25)
        d = c.get("d")
        if d is None or not np.any(d):
            return A, None, None
        B = A @ (self.dt * Minv)  # B = (1 - Δt M⁻¹K)⁻¹ Δt M⁻¹
        return A, B, np.asarray(d)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description (stored in the dkf model file)."""

        def conv(d: dict[str, np.ndarray]) -> dict[str, Any]:
            return {k: np.asarray(v).tolist() for k, v in d.items()}

        return {
            "name": self.name,
            "kind": self.kind,
            "steps": self.steps,
            "dt": self.dt,
            "substeps": self.substeps,
            "scheme": self.scheme,
            "x0": self.x0.tolist(),
            "C": self.C.tolist(),
            "model": conv(self.model),
            "truth": conv(self.truth),
            "Q": self.Q.tolist(),
            "R": self.R.tolist(),
            "P0": self.P0.tolist(),
            "Qf": self.Qf.tolist(),
            "Rf": self.Rf.tolist(),
            "P0f": self.P0f.tolist(),
            "learn": [{"target": s.target, "index": list(s.index)} for s in self.learn],
            "learn_C": self.learn_C,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> System:
        def arr(v: Any) -> np.ndarray:
            return np.asarray(v, dtype=np.float64)

        return cls(
            name=str(d["name"]),
            kind=str(d["kind"]),
            steps=int(d["steps"]),
            dt=float(d["dt"]),
            substeps=int(d["substeps"]),
            scheme=str(d.get("scheme", "imex")),
            x0=arr(d["x0"]),
            C=arr(d["C"]),
            model={k: arr(v) for k, v in d["model"].items()},
            truth={k: arr(v) for k, v in d["truth"].items()},
            Q=arr(d["Q"]),
            R=arr(d["R"]),
            P0=arr(d["P0"]),
            Qf=arr(d["Qf"]),
            Rf=arr(d["Rf"]),
            P0f=arr(d["P0f"]),
            learn=[LearnSpec(s["target"], tuple(s["index"])) for s in d["learn"]],
            learn_C=bool(d["learn_C"]),
        )


# ---------------------------------------------------------------------------------- parsing
def _matrix(v: Any, what: str) -> np.ndarray:
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise SystemError_(f"{what} is not a numeric array: {v!r}") from None
    if not np.all(np.isfinite(a)):
        raise ValueDomainError(f"{what} contains NaN or Inf")
    return a


def _cov(sec: dict[str, Any], key: str, dim: int, where: str, default: np.ndarray | None):
    big = {"q": "Q", "r": "R", "p": "P0"}[key]
    if big in sec:
        M = _matrix(sec[big], f"[{where}] {big}")
        if M.shape != (dim, dim):
            raise ShapeError(f"[{where}] {big} has shape {M.shape}, expected ({dim}, {dim})")
    elif f"sigma_{key}" in sec:
        s = float(sec[f"sigma_{key}"])
        M = s * s * np.eye(dim)
    elif default is not None:
        M = default.copy()
    else:
        raise SystemError_(f"[{where}] needs sigma_{key} or {big}", "add it to system.toml")
    M = M * float(sec.get(f"{key}_scale", 1.0))
    if not np.allclose(M, M.T) or np.linalg.eigvalsh(0.5 * (M + M.T)).min() < 0:
        raise ValueDomainError(f"[{where}] {big} must be symmetric positive semidefinite")
    return M


def load_system(path: str | Path) -> System:
    """Parse and validate a ``system.toml``."""
    path = Path(path)
    if not path.is_file():
        raise SystemError_(f"system file {path} does not exist", "check the --system path")
    try:
        with open(path, "rb") as fh:
            data = fh.read(_MAX_TOML_BYTES + 1)
        if len(data) > _MAX_TOML_BYTES:
            raise SystemError_(f"{path} is larger than {_MAX_TOML_BYTES:,} bytes")
        doc = tomllib.loads(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as exc:
        raise SystemError_(f"{path}: not valid TOML ({exc})") from None
    return system_from_toml(doc, str(path))


_MAX_TOML_BYTES = 1 << 20
TOP_KEYS = (
    "name", "kind", "steps", "x0", "C", "learn_C", "model", "truth", "noise", "filter", "learn",
    "dt", "substeps", "scheme",
)  # fmt: skip
NOISE_KEYS = ("sigma_q", "sigma_r", "sigma_p", "Q", "R", "P0", "q_scale", "r_scale", "p_scale")
_FIX = "see the system.toml layout in docs/dkf.md"


def _check_types(doc: dict[str, Any], where: str) -> None:
    """Keys known (close match named otherwise) and scalars typed: nothing is coerced."""
    check_known_keys(doc, TOP_KEYS, where, _FIX, SystemError_)
    for sec in ("model", "truth", "noise", "filter"):
        if not isinstance(doc.get(sec, {}), dict):
            raise SystemError_(f"{where}: [{sec}] must be a table", _FIX)
    for sec in ("noise", "filter"):
        check_known_keys(doc.get(sec, {}), NOISE_KEYS, f"{where} [{sec}]", _FIX, SystemError_)
        for k, v in doc.get(sec, {}).items():
            if k.startswith(("sigma_", "q_", "r_", "p_")) and (
                type(v) not in (int, float) or not np.isfinite(v) or v < 0
            ):
                raise SystemError_(f"{where}: [{sec}] {k} must be a number >= 0, got {v!r}", _FIX)
    learn = doc.get("learn", [])
    if not isinstance(learn, list) or not all(isinstance(i, dict) for i in learn):
        raise SystemError_(f"{where}: learn must be [[learn]] tables", _FIX)
    for item in learn:
        check_known_keys(item, ("target", "index"), f"{where} [[learn]]", _FIX, SystemError_)
        idx = item.get("index", [])
        if not isinstance(idx, list) or any(type(i) is not int for i in idx):
            raise SystemError_(f"{where}: [[learn]] index must be a list of integers", _FIX)
    for key, types, what in (
        ("steps", (int,), "an integer"),
        ("substeps", (int,), "an integer"),
        ("dt", (int, float), "a number"),
        ("learn_C", (bool,), "true or false"),
        ("scheme", (str,), "a string"),
        ("name", (str,), "a string"),
        ("kind", (str,), "a string"),
    ):
        if key in doc and type(doc[key]) not in types:
            raise SystemError_(f"{where}: {key} must be {what}, got {doc[key]!r}", _FIX)
    if not 1 <= doc.get("steps", 50) <= 1_000_000 or not 1 <= doc.get("substeps", 10) <= 10_000:
        raise SystemError_(f"{where}: steps must be in [1, 1e6] and substeps in [1, 1e4]", _FIX)
    dt = doc.get("dt", 1.0)
    if not (np.isfinite(dt) and dt > 0):
        raise SystemError_(f"{where}: dt must be a finite number > 0, got {dt!r}", _FIX)


def system_from_toml(doc: dict[str, Any], where: str = "system.toml") -> System:
    _check_types(doc, where)
    kind = doc.get("kind")
    if kind not in KINDS:
        raise SystemError_(f"{where}: kind must be one of {KINDS}, got {kind!r}")
    spec = _COEFS[kind]
    model: dict[str, np.ndarray] = {k: _matrix(v, k) for k, v in _DEFAULTS.get(kind, {}).items()}
    for k, v in doc.get("model", {}).items():
        if k not in spec:
            raise SystemError_(
                f"{where}: [model] has unknown coefficient {k!r} for kind {kind}",
                f"allowed: {', '.join(spec)}",
            )
        model[k] = _matrix(v, f"[model] {k}")
    truth = {k: v.copy() for k, v in model.items()}
    for k, v in doc.get("truth", {}).items():
        if k not in spec:
            raise SystemError_(f"{where}: [truth] has unknown coefficient {k!r}")
        truth[k] = _matrix(v, f"[truth] {k}")
    need = {"linear": ["A"], "continuous": ["M", "K"]}.get(kind, [])
    for k in need:
        if k not in model:
            raise SystemError_(f"{where}: kind {kind} needs [model] {k}")
    if "x0" not in doc or "C" not in doc:
        raise SystemError_(f"{where}: needs top-level x0 (initial state) and C (observations)")
    x0 = _matrix(doc["x0"], "x0").reshape(-1)
    n = x0.shape[0]
    C = _matrix(doc["C"], "C")
    if C.ndim != 2 or C.shape[1] != n:
        raise ShapeError(f"{where}: C has shape {C.shape}, expected (m, {n})")
    for name, coefs in (("model", model), ("truth", truth)):
        for k, v in coefs.items():
            if spec[k] == "matrix" and k != "B" and v.shape != (n, n):
                raise ShapeError(f"{where}: [{name}] {k} has shape {v.shape}, expected ({n}, {n})")
            if spec[k] == "scalar" and v.ndim != 0:
                raise ShapeError(f"{where}: [{name}] {k} must be a number")
    if kind == "fitzhugh_nagumo" and n != 2:
        raise ShapeError("fitzhugh_nagumo has 2 states")
    if kind == "lorenz63" and n != 3:
        raise ShapeError("lorenz63 has 3 states")
    if kind != "linear" and "dt" not in doc:
        raise SystemError_(f"{where}: kind {kind} needs dt (time step Δt)")
    scheme = str(doc.get("scheme", "imex" if kind in LINEAR_KINDS else "rk4"))
    if scheme not in ("imex", "rk4"):
        raise SystemError_(f"{where}: scheme must be 'imex' or 'rk4', got {scheme!r}")
    steps = int(doc.get("steps", 50))
    if steps < 1:
        raise ValueDomainError("steps must be >= 1")
    noise = doc.get("noise", {})
    m = C.shape[0]
    Q = _cov(noise, "q", n, "noise", None)
    R = _cov(noise, "r", m, "noise", None)
    P0 = _cov(noise, "p", n, "noise", np.zeros((n, n)) if "sigma_p" not in noise else None)
    filt = doc.get("filter", {})
    Qf = _cov(filt, "q", n, "filter", Q)
    Rf = _cov(filt, "r", m, "filter", R)
    P0f = _cov(filt, "p", n, "filter", P0)
    if np.linalg.eigvalsh(Rf).min() <= 0:
        raise ValueDomainError("the assumed R ([filter] or [noise]) must be positive definite")
    learn = []
    for item in doc.get("learn", []):
        t = item.get("target")
        if t not in model:
            raise SystemError_(f"{where}: [[learn]] target {t!r} is not a [model] coefficient")
        idx = tuple(int(i) for i in item.get("index", []))
        if len(idx) != model[t].ndim or any(
            not 0 <= i < s for i, s in zip(idx, model[t].shape, strict=True)
        ):
            raise SystemError_(
                f"{where}: [[learn]] index {list(idx)} invalid for {t} of shape {model[t].shape}"
            )
        learn.append(LearnSpec(t, idx))
    return System(
        name=str(doc.get("name", "system")),
        kind=kind,
        steps=steps,
        x0=x0,
        C=C,
        model=model,
        truth=truth,
        Q=Q,
        R=R,
        P0=P0,
        Qf=Qf,
        Rf=Rf,
        P0f=P0f,
        dt=float(doc.get("dt", 1.0)),
        substeps=int(doc.get("substeps", 10)),
        scheme=scheme,
        learn=learn,
        learn_C=bool(doc.get("learn_C", False)),
    )


def with_params(coefs: dict[str, np.ndarray], learn: list[LearnSpec], p: np.ndarray):
    """Coefficients with the learned offsets p added (eq. 6.4.3: p = 0 is the prior model)."""
    out = {k: np.array(v, dtype=np.float64, copy=True) for k, v in coefs.items()}
    for s, val in zip(learn, np.asarray(p, dtype=np.float64).reshape(-1), strict=True):
        if s.index:
            out[s.target][s.index] += val
        else:
            out[s.target] = out[s.target] + val
    return out


# ------------------------------------------------------------------------------ dynamics
def nonlinear_term(kind: str, c: dict[str, Any], x: Any, lib: Any = np) -> Any:
    """N(x) of the built-in models for a batch x (B, n); works for numpy and torch."""
    x1 = x[..., 0]
    if kind == "fitzhugh_nagumo":
        return lib.stack([c["alpha"] * x1**3 + c["beta"], c["gamma"] * x1**2], -1)  # (6.4.26)
    if kind == "lorenz63":
        x2, x3 = x[..., 1], x[..., 2]
        return lib.stack([c["eps"] * x1**3, -x1 * x3, x1 * x2], -1)  # (6.4.28)
    return 0.0 * x


def ode_rhs(system: System, c: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """x' for the continuous-time kinds: M⁻¹ (L x + N(x) + d). x: (B, n)."""
    Lin = c["K"] if system.kind == "continuous" else c["L"]
    M = c.get("M", np.eye(system.n))
    rhs = x @ Lin.T + nonlinear_term(system.kind, c, x)
    if "d" in c:
        rhs = rhs + c["d"]
    return np.linalg.solve(M, rhs.T).T


def simulate(system: System, n_traj: int, steps: int | None, seed: int) -> dict[str, np.ndarray]:
    """Draw trajectories of the *true* system: x (N, K+1, n), y (N, K, m), x0_hat (N, n)."""
    rng = np.random.default_rng(seed)
    K = system.steps if steps is None else int(steps)
    n, m = system.n, system.m
    x = np.zeros((n_traj, K + 1, n))
    x[:, 0] = system.x0 + _gauss(rng, system.P0, n_traj)
    if system.is_linear:
        A, B, u = system.discrete_linear(system.truth)
    for k in range(K):
        if system.is_linear:
            xn = x[:, k] @ A.T
            if B is not None and u is not None:
                xn = xn + B @ u
        else:
            h = system.dt / system.substeps
            xn = x[:, k]
            for _ in range(system.substeps):  # RK4
                k1 = ode_rhs(system, system.truth, xn)
                k2 = ode_rhs(system, system.truth, xn + 0.5 * h * k1)
                k3 = ode_rhs(system, system.truth, xn + 0.5 * h * k2)
                k4 = ode_rhs(system, system.truth, xn + h * k3)
                xn = xn + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        x[:, k + 1] = xn + _gauss(rng, system.Q, n_traj)  # w(k), eq. (6.4.1)
        bad = ~np.all(np.isfinite(x[:, k + 1]) & (np.abs(x[:, k + 1]) < _ESCAPE), axis=1)
        if np.any(bad):
            raise ValueDomainError(
                f"simulation diverged: trajectory {int(np.argmax(bad))} of {n_traj} escaped to "
                f"infinity at step {k + 1} of {K} (|x| > {_ESCAPE:.0e}); the true system itself "
                "blows up there (e.g. lorenz63's ε x1³ pushes |x1| > sqrt(L00/ε) outward), "
                "not the integrator",
                "draw another --seed, simulate fewer --steps or lower the [noise] sigma_q/sigma_p",
            )
    y = x[:, 1:] @ system.C.T + _gauss(rng, system.R, n_traj * K).reshape(n_traj, K, m)
    if not np.all(np.isfinite(x)):
        raise ValueDomainError("simulation diverged (NaN/Inf)", "reduce dt or the noise levels")
    return {"x": x, "y": y, "x0_hat": np.tile(system.x0, (n_traj, 1))}


_ESCAPE = 1e6  # |x| beyond which a trajectory is taken to have escaped (finite-time blow-up)


def _gauss(rng: np.random.Generator, cov: np.ndarray, size: int) -> np.ndarray:
    w, V = np.linalg.eigh(0.5 * (cov + cov.T))
    L = V * np.sqrt(np.clip(w, 0.0, None))
    return rng.standard_normal((size, cov.shape[0])) @ L.T


# ------------------------------------------------------------------------- trajectories
def save_trajectories(path: str | Path, data: dict[str, np.ndarray], system: System) -> Path:
    import json

    path = Path(path)
    arrays: dict[str, Any] = {**data, "system_json": np.array(json.dumps(system.to_dict()))}
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path if path.suffix == ".npz" else path.with_suffix(path.suffix + ".npz")


def load_trajectories(path: str | Path, system: System | None = None) -> dict[str, np.ndarray]:
    """Load a trajectories .npz: ``y`` (N, K, m) required; ``x`` (N, K+1, n) and ``x0_hat``."""
    path = Path(path)
    if not path.is_file():
        raise SystemError_(
            f"trajectories file {path} does not exist", "create one with `tinyunfold simulate`"
        )
    from tinyunfold.datasets.io import read_npz

    data = read_npz(path, "trajectories", text=("system_json",))
    if "y" not in data:
        raise SystemError_(f"{path} has no array 'y' (observations, shape (N, K, m))")
    y = data["y"]
    if y.ndim == 2:
        y = y[None]
        data["y"] = y
        if "x" in data and data["x"].ndim == 2:
            data["x"] = data["x"][None]
    if y.ndim != 3:
        raise ShapeError(f"{path}: y has shape {y.shape}, expected (N, K, m)")
    for name in ("y", "x", "x0_hat"):
        if name in data and not np.all(np.isfinite(data[name])):
            bad = int(np.size(data[name]) - np.count_nonzero(np.isfinite(data[name])))
            raise ValueDomainError(
                f"{path}: {name} contains {bad} NaN or Inf values",
                "drop or re-simulate the broken trajectories",
            )
    if system is not None:
        if y.shape[2] != system.m:
            raise ShapeError(f"{path}: y has {y.shape[2]} outputs, the system has {system.m}")
        if "x" in data and data["x"].shape[1:] != (y.shape[1] + 1, system.n):
            raise ShapeError(
                f"{path}: x has shape {data['x'].shape}, expected (N, {y.shape[1] + 1}, {system.n})"
            )
        if "x0_hat" not in data:
            data["x0_hat"] = np.tile(system.x0, (y.shape[0], 1))
    return data
