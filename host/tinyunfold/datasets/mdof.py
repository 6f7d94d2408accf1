"""Synthetic hit datasets from the n-DOF mass-spring-damper chain of thesis section 4.3.5.

The chain (thesis Fig. 4.8, the reading that reproduces Tables 1/2): mass 1 is free on the left,
element i (spring k_i, damper c_i) joins masses i and i+1 for i < n, element n joins mass n to
the ground. With displacements q (n,), ``M q'' + C q' + K q = f(t)``; the state x = [q; q'] obeys

    x' = A x + B u,   A = [[0, I], [-M^-1 K, -M^-1 C]],   B = [[0], [M^-1 E]]

(E selects the forced masses) and the "microphone" is y = 1^T q, the sum of the displacements.

Exact discretisation: at the internal rate fs_int = sample_rate * oversample the input is held
constant over each step (zero-order hold) and ``[[Ad, Bd], [0, I]] = expm([[A, B], [0, 0]] dt)``
(scipy.linalg.expm), so x_{k+1} = Ad x_k + Bd u_k is exact for that input. The response is
propagated in blocks of L steps (lifted form: one matrix product per block for the L outputs,
the state carried exactly from block to block), then decimated to ``sample_rate`` with
scipy.signal.resample_poly (Kaiser-windowed linear-phase FIR anti-aliasing filter).

Noise: the engine-order forcing of eq. (4.3.40), f(t) = (1 - exp(-t^2/2)) sum_{i=1}^{25}
sin(i w t), w = 2800 rad/s, on the noise masses, from rest at t = 0; acquisitions of 1 s start
after ``settle_s`` (3 s) plus a random jitter. Hits: an impulse (velocity jump J/m_j of the probed
mass, or a half-sine force pulse of duration ``impulse_s``) with intensity J set so that the
mixture has the requested SNR. What the thesis leaves open (SNR definition, impulse shape, onset,
SNR grid, sample rate) is chosen and documented in docs/datasets.md; every choice is a parameter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import scipy.linalg
import scipy.signal

from tinyunfold.datasets.io import Dataset, DatasetError, Mixture

# ------------------------------------------------------------------------------------ chain


def _expand(spec: Sequence[tuple[int, int, float]], n: int, name: str) -> np.ndarray:
    """[(first, last, value), ...] with 1-based inclusive ranges -> array (n,)."""
    out = np.full(n, np.nan)
    for a, b, v in spec:
        out[a - 1 : b] = v
    if np.isnan(out).any():
        raise ValueError(f"{name}: ranges do not cover 1..{n}")
    return out


@dataclass(frozen=True)
class Chain:
    """Masses m (kg), spring stiffnesses k (N/m), damper coefficients c (N s/m), each (n,).

    Element i joins masses i and i+1 (i < n); element n joins mass n to the ground.
    """

    m: tuple[float, ...]
    k: tuple[float, ...]
    c: tuple[float, ...]

    def __post_init__(self) -> None:
        n = len(self.m)
        if n < 1 or len(self.k) != n or len(self.c) != n:
            raise ValueError("m, k, c must have the same length n >= 1")
        if min(self.m) <= 0 or min(self.k) <= 0 or min(self.c) < 0:
            raise ValueError("masses and springs must be positive, dampers nonnegative")

    @property
    def n(self) -> int:
        return len(self.m)

    def matrices(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mass, damping and stiffness matrices (M, C, K), each (n, n)."""
        n = self.n

        def assemble(v: np.ndarray) -> np.ndarray:
            S = np.zeros((n, n))
            i = np.arange(n - 1)
            np.add.at(S, (i, i), v[: n - 1])
            np.add.at(S, (i + 1, i + 1), v[: n - 1])
            S[i, i + 1] -= v[: n - 1]
            S[i + 1, i] -= v[: n - 1]
            S[n - 1, n - 1] += v[n - 1]  # element n: mass n to ground
            return S

        return np.diag(self.m), assemble(np.asarray(self.c)), assemble(np.asarray(self.k))

    def state_matrix(self) -> np.ndarray:
        """A (2n, 2n) of x' = A x + B u with x = [q; q']."""
        n = self.n
        M, C, K = self.matrices()
        Mi = np.diag(1.0 / np.asarray(self.m))
        return np.block([[np.zeros((n, n)), np.eye(n)], [-Mi @ K, -Mi @ C]])

    def input_matrix(self, masses: Sequence[int]) -> np.ndarray:
        """B (2n, len(masses)): unit force on each listed mass (1-based)."""
        n = self.n
        B = np.zeros((2 * n, len(masses)))
        for j, mass in enumerate(masses):
            B[n + mass - 1, j] = 1.0 / self.m[mass - 1]
        return B

    def output_matrix(self) -> np.ndarray:
        """C (2n,): the microphone, sum of the displacements."""
        return np.concatenate([np.ones(self.n), np.zeros(self.n)])

    def modes(self) -> tuple[np.ndarray, np.ndarray]:
        """Damped modal frequencies (Hz) and damping ratios, sorted by frequency, each (n,).

        Complex pairs lambda = -xi w0 +- i w0 sqrt(1-xi^2) give f = |Im lambda| / 2 pi and
        xi = -Re lambda / |lambda|; each pair of real eigenvalues is an overdamped mode, reported
        as f = 0, xi = 1 as in thesis Tables 1/2.
        """
        lam = scipy.linalg.eigvals(self.state_matrix())
        osc = lam[lam.imag > 0]
        n_over = (len(lam) - 2 * len(osc)) // 2
        f = np.concatenate([np.zeros(n_over), np.abs(osc.imag) / (2 * np.pi)])
        xi = np.concatenate([np.ones(n_over), -osc.real / np.abs(osc)])
        order = np.argsort(f, kind="stable")
        return f[order], xi[order]

    def perturbed(self, rng: np.random.Generator, rel: float) -> Chain:
        """Every m, k, c multiplied by an independent factor uniform in [1 - rel, 1 + rel]."""

        def p(v: tuple[float, ...]) -> tuple[float, ...]:
            return tuple(float(x) for x in np.asarray(v) * rng.uniform(1 - rel, 1 + rel, len(v)))

        return Chain(p(self.m), p(self.k), p(self.c))


def _chain(n: int, m: Any, k: Any, c: Any) -> Chain:
    return Chain(tuple(_expand(m, n, "m")), tuple(_expand(k, n, "k")), tuple(_expand(c, n, "c")))


# Thesis 4.3.5, Dataset1 (n = 23).
DATASET1_CHAIN = _chain(
    23,
    m=[(1, 8, 2.00e-4), (9, 12, 1.05), (13, 23, 7.04e-2)],
    k=[(1, 8, 1.36e7), (9, 13, 2.00e6), (14, 19, 4.00e8), (20, 23, 8.00e8)],
    c=[(1, 7, 2.14e-1), (8, 8, 1.10), (9, 12, 3.00e3), (13, 13, 1.50), (14, 23, 1.50e-1)],
)
# Thesis 4.3.5, Dataset2 (n = 28); the printed "k_{24:18}" is read as k_{24:28}.
DATASET2_CHAIN = _chain(
    28,
    m=[
        (1, 4, 5.25e-2), (5, 6, 1.00e3), (7, 10, 1.50e-1), (11, 12, 1.00e3), (13, 16, 2.00e-1),
        (17, 18, 1.00e3), (19, 22, 2.50e-1), (23, 24, 1.00e3), (25, 28, 3.50e-1),
    ],
    k=[
        (1, 4, 1.27e6), (5, 5, 1.00e5), (6, 10, 2.20e7), (11, 11, 1.00e5), (12, 16, 9.60e7),
        (17, 17, 1.00e5), (18, 22, 2.25e8), (23, 23, 1.00e5), (24, 28, 6.30e8),
    ],
    c=[
        (1, 4, 5.00), (5, 5, 5.00e1), (6, 10, 7.00), (11, 11, 5.00), (12, 16, 5.00),
        (17, 17, 5.00e1), (18, 22, 5.00), (23, 23, 5.00e1), (24, 28, 7.00),
    ],
)  # fmt: skip

# Thesis Table 1 / Table 2: damped modal frequency (Hz) and damping ratio, mode by mode.
THESIS_TABLE1 = (
    (0, 1.0), (0, 1.0), (0, 1.0), (64, 1.9e-1), (180, 6.6e-1), (2229, 9.0e-4), (3402, 1.1e-3),
    (6086, 1.0e-4), (9622, 4.5e-5), (10080, 1.4e-3), (13504, 3.6e-5), (16686, 2.1e-3),
    (16966, 2.8e-5), (19414, 2.5e-5), (20096, 1.5e-3), (21556, 2.7e-5), (23315, 2.8e-5),
    (24334, 1.2e-3), (26638, 1.5e-3), (26895, 1.8e-5), (32066, 1.9e-5), (57662, 1.9e-3),
    (78012, 2.6e-3),
)  # fmt: skip
THESIS_TABLE2 = (
    (1, 7.0e-4), (1, 1.9e-3), (2, 2.9e-3), (2, 3.5e-3), (15, 3.0e-4), (31, 1.0e-4), (48, 1.0e-4),
    (57, 1.0e-4), (282, 3.7e-3), (785, 1.0e-2), (1170, 1.1e-3), (1185, 1.2e-2), (1561, 1.9e-2),
    (2155, 4.0e-4), (2169, 2.0e-3), (2961, 2.0e-4), (3417, 3.7e-3), (3928, 3.9e-3),
    (4108, 8.0e-4), (4169, 2.0e-4), (5439, 5.0e-4), (5642, 8.0e-4), (6646, 1.1e-3),
    (7853, 3.0e-4), (8090, 5.0e-4), (9204, 6.0e-4), (11159, 4.0e-4), (12992, 5.0e-4),
)  # fmt: skip


# ------------------------------------------------------------------------------- simulation


@dataclass(frozen=True)
class Discrete:
    """Exact ZOH discretisation of a chain at step dt: x_{k+1} = Ad x_k + Bd u_k, y_k = c x_k."""

    Ad: np.ndarray
    Bd: np.ndarray
    c: np.ndarray
    dt: float


def discretise(A: np.ndarray, B: np.ndarray, c: np.ndarray, dt: float) -> Discrete:
    """Zero-order-hold discretisation via one matrix exponential (Van Loan block form)."""
    ns, ni = B.shape
    Z = np.zeros((ns + ni, ns + ni))
    Z[:ns, :ns] = A * dt
    Z[:ns, ns:] = B * dt
    E = scipy.linalg.expm(Z)
    return Discrete(E[:ns, :ns], E[:ns, ns:], np.asarray(c, dtype=float), float(dt))


def simulate(
    d: Discrete, u: np.ndarray | None, n_steps: int, x0: np.ndarray | None = None, block: int = 128
) -> tuple[np.ndarray, np.ndarray]:
    """Output y_k = c x_k for k = 0..n_steps-1 of x_{k+1} = Ad x_k + Bd u_k, and x_{n_steps}.

    Exact up to rounding (same recursion, evaluated in blocks of ``block`` steps: the outputs
    inside a block are one matrix product of the block's initial state with [c Ad^l] plus the
    input block with the Toeplitz matrix of Markov parameters c Ad^(l-1) Bd).

    Parameters
    ----------
    d : Discrete
    u : ndarray (n_inputs, n_steps) or None (free response)
    n_steps : int
    x0 : ndarray (n_states,) or None (rest)
    """
    ns = d.Ad.shape[0]
    ni = d.Bd.shape[1]
    L = int(block)
    nb = -(-n_steps // L)
    x = np.zeros(ns) if x0 is None else np.asarray(x0, dtype=float).copy()
    # Obs[j] = c Ad^j (j = 0..L-1); P = Ad^L
    Obs = np.empty((L, ns))
    P = np.eye(ns)
    for j in range(L):
        Obs[j] = d.c @ P
        P = d.Ad @ P
    Up = None
    if u is not None:
        u = np.asarray(u, dtype=float)
        if u.shape != (ni, n_steps):
            raise ValueError(f"u has shape {u.shape}, expected {(ni, n_steps)}")
        Up = np.zeros((ni, nb * L))
        Up[:, :n_steps] = u
        Up = Up.reshape(ni, nb, L).transpose(1, 0, 2).reshape(nb, ni * L)  # [b, i*L + l]
        # Markov parameters h[l, i] = c Ad^(l-1) Bd[:, i] for l >= 1, h[0] = 0
        h = np.zeros((L, ni))
        h[1:] = Obs[: L - 1] @ d.Bd
        # G[i*L + l', j] = (Ad^(L-1-l') Bd)[:, i] -> state increment over a block
        G = np.empty((ni * L, ns))
        Q = d.Bd.copy()
        for lp in range(L - 1, -1, -1):
            G[np.arange(ni) * L + lp] = Q.T
            Q = d.Ad @ Q
        # Toeplitz T[i*L + l', l] = h[l - l', i] for l > l'
        T = np.zeros((ni * L, L))
        idx = np.arange(L)
        for i in range(ni):
            diff = idx[None, :] - idx[:, None]  # l - l'
            mask = diff > 0
            T[i * L : (i + 1) * L][mask] = h[diff[mask], i]
        V = Up @ G  # (nb, ns) state increments
        Yu = Up @ T  # (nb, L) forced part of the outputs
    X = np.empty((nb, ns))
    for b in range(nb):  # x_{(b+1)L} = Ad^L x_{bL} + increment
        X[b] = x
        x = P @ x
        if Up is not None:
            x = x + V[b]
    Y = X @ Obs.T
    if Up is not None:
        Y = Y + Yu
    y = Y.reshape(-1)
    if nb * L != n_steps:  # recompute the exact final state for partial last block
        x = X[-1]
        r = n_steps - (nb - 1) * L
        for j in range(r):
            x = d.Ad @ x + (d.Bd @ u[:, (nb - 1) * L + j] if u is not None else 0.0)
    return y[:n_steps], x


def steady_state_sines(d: Discrete, thetas: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """State x_0 of the periodic steady state for u_k = sum_h sin(thetas[h] k + phases[h]).

    Each harmonic contributes Im((e^{i theta} I - Ad)^-1 Bd e^{i phase}) (single input).
    """
    ns = d.Ad.shape[0]
    x = np.zeros(ns)
    for th, ph in zip(thetas, phases, strict=True):
        z = np.linalg.solve(np.exp(1j * th) * np.eye(ns) - d.Ad, d.Bd[:, 0] * np.exp(1j * ph))
        x += z.imag
    return x


# ---------------------------------------------------------------------------------- presets


@dataclass(frozen=True)
class MdofConfig:
    """Everything that defines a generated dataset (stored in dataset.json).

    Attributes (all in SI units; ``masses`` are 1-based)
    ----------
    preset : name of the preset it was derived from.
    chain : "dataset1" or "dataset2" (the published parameters).
    noise_masses : masses driven by the engine-order forcing (4.3.40).
    classes : class name -> probed masses whose hits belong to it.
    sample_rate : output rate in Hz; oversample : internal rate factor.
    omega : engine-order fundamental in rad/s; n_harmonics : harmonics in (4.3.40).
    duration_s : length of every acquisition; settle_s : forcing time before the first one.
    jitter_s : window starts are settle_s + U(0, jitter_s) (random noise phase).
    snr_db : SNR grid (one mixture per probed mass and SNR, times n_per_snr).
    train_snr_rank : indices into the sorted SNR grid marked split=train (thesis: 2nd lowest
        and 2nd highest), the others test.
    n_nohit_train, n_nohit_test : no-hit mixtures per split.
    onset_s : (lo, hi) onset range; lo == hi is a fixed onset.
    impulse_s : 0 = ideal impulse (velocity jump), > 0 = half-sine force of this duration.
    target_snr_db : intensity of the clean target files: the geometric mean over the probed
        masses of the intensities giving this SNR against the reference noise window.
    mic_rms : every file is scaled by one gain so that the reference noise file has this RMS.
    speed_range : engine speed varies in [1 - r, 1 + r] (0 = constant), linear ramp per window.
    flow_db : broadband flow-force response level relative to the engine-order response (dB),
        None = off.
    flow_masses : masses driven by the flow force (default: the noise masses).
    flow_highpass_hz : the white flow force is high-passed at this frequency (0 = off).
    mismatch : relative +- perturbation of every m, k, c of the chain producing the mixtures
        (targets/ and noise/ use the nominal chain).
    n_two_hit : two-hit test mixtures (two different classes, random onsets).
    n_noise_files : noise/ recordings (the first is the reference window).
    n_extra_test : extra split=test mixtures per probed mass and SNR, at *every* SNR of the grid
        (the training SNRs too), drawn after all other files from the same random stream: the
        files of the preset itself do not change, the test split grows (``mMM_<snr>_xR.wav``).
    n_extra_nohit_train : extra split=train no-hit mixtures (the monitored machine's background
        recorded for longer), drawn after every other file, so the preset's files, the test
        split included, do not change (``nohit_train_xNNN.wav``).
    preroll_s : simulated time before each window when the window needs its own simulation
        (speed ramps / flow), starting from the exact periodic steady state.
    seed : random seed (everything is deterministic given the config).
    """

    preset: str
    chain: str
    noise_masses: tuple[int, ...]
    classes: dict[str, tuple[int, ...]]
    sample_rate: int
    snr_db: tuple[float, ...]
    n_nohit_train: int
    n_nohit_test: int
    oversample: int = 8
    omega: float = 2800.0
    n_harmonics: int = 25
    duration_s: float = 1.0
    settle_s: float = 3.0
    jitter_s: float = 0.1
    n_per_snr: int = 1
    train_snr_rank: tuple[int, ...] = (1, -2)
    onset_s: tuple[float, float] = (0.0, 0.0)
    impulse_s: float = 0.0
    target_snr_db: float = 0.0
    mic_rms: float = 0.1
    speed_range: float = 0.0
    flow_db: float | None = None
    flow_masses: tuple[int, ...] | None = None
    flow_highpass_hz: float = 200.0
    mismatch: float = 0.0
    n_two_hit: int = 0
    n_noise_files: int = 1
    n_extra_test: int = 0
    n_extra_nohit_train: int = 0
    preroll_s: float = 0.25
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["classes"] = {k: list(v) for k, v in self.classes.items()}
        return d

    @property
    def hard(self) -> bool:
        """True when each window needs its own simulation (speed ramps or flow noise)."""
        return self.speed_range > 0 or self.flow_db is not None


CHAINS = {"dataset1": DATASET1_CHAIN, "dataset2": DATASET2_CHAIN}

_D2_CLASSES = {
    "m02-m03": (2, 3),
    "m08-m09": (8, 9),
    "m14-m15": (14, 15),
    "m20-m21": (20, 21),
    "m26-m28": (26, 28),
}

PRESETS: dict[str, MdofConfig] = {
    "dataset1": MdofConfig(
        preset="dataset1",
        chain="dataset1",
        noise_masses=(10,),
        classes={"m01-m08": tuple(range(1, 9)), "m14-m23": tuple(range(14, 24))},
        sample_rate=96000,
        snr_db=(-40.0, -30.0, -20.0, -10.0, 0.0, 10.0),
        n_nohit_train=18,
        n_nohit_test=18,
    ),
    "dataset2": MdofConfig(
        preset="dataset2",
        chain="dataset2",
        noise_masses=(4, 10, 16, 22, 27),
        classes=dict(_D2_CLASSES),
        sample_rate=48000,
        snr_db=(-40.0, -28.0, -16.0, -4.0, 8.0, 20.0),
        n_nohit_train=10,
        n_nohit_test=10,
        oversample=4,
    ),
    "dataset2-hard": MdofConfig(
        preset="dataset2-hard",
        chain="dataset2",
        noise_masses=(4, 10, 16, 22, 27),
        classes=dict(_D2_CLASSES),
        sample_rate=48000,
        snr_db=(-40.0, -28.0, -16.0, -4.0, 8.0, 20.0),
        n_nohit_train=10,
        n_nohit_test=20,
        oversample=4,
        onset_s=(0.0, 0.6),
        speed_range=0.15,
        flow_db=-6.0,
        mismatch=0.03,
        n_two_hit=20,
        n_noise_files=4,
    ),
}


def preset_config(name: str, **overrides: Any) -> MdofConfig:
    """The named preset with some fields replaced (None values are ignored)."""
    if name not in PRESETS:
        raise DatasetError(f"unknown preset {name!r}", f"use one of {', '.join(PRESETS)}")
    kw = {k: v for k, v in overrides.items() if v is not None}
    try:
        return replace(PRESETS[name], **kw)
    except TypeError as err:
        raise DatasetError(f"bad preset override: {err}", "check the option names") from None


# ---------------------------------------------------------------------------------- generator


def check_config(cfg: MdofConfig) -> None:
    """Raise DatasetError (with the fix) when ``cfg`` cannot be generated."""
    chain = CHAINS.get(cfg.chain)
    if chain is None:
        raise DatasetError(f"unknown chain {cfg.chain!r}", f"use one of {', '.join(CHAINS)}")
    n = chain.n
    masses = list(cfg.noise_masses) + [m for ms in cfg.classes.values() for m in ms]
    if cfg.flow_masses:
        masses += list(cfg.flow_masses)
    if any(not 1 <= m <= n for m in masses):
        raise DatasetError(f"mass index outside 1..{n} in {cfg.preset}", "fix the mass lists")
    probed = [m for ms in cfg.classes.values() for m in ms]
    if len(set(probed)) != len(probed):
        raise DatasetError("a probed mass belongs to two classes", "fix the class definition")
    checks = [
        (cfg.sample_rate >= 1000, "sample_rate must be >= 1000 Hz", "e.g. --sample-rate 48000"),
        (cfg.oversample >= 1, "oversample must be >= 1", "e.g. --oversample 8"),
        (cfg.duration_s > 0, "duration_s must be positive", "e.g. --duration-s 1"),
        (cfg.n_per_snr >= 1, "n_per_snr must be >= 1", "e.g. --n-per-snr 1"),
        (
            cfg.n_nohit_train >= 0 and cfg.n_nohit_test >= 0,
            "no-hit counts must be >= 0",
            "use --n-nohit-train/--n-nohit-test >= 0",
        ),
        (len(cfg.snr_db) >= 1, "need at least one SNR", "e.g. --snr-db=-20,0,10"),
        (
            0 <= cfg.onset_s[0] <= cfg.onset_s[1] < cfg.duration_s,
            f"onset range {cfg.onset_s} s is not inside the {cfg.duration_s} s window",
            "use --onset-s t or --onset-s lo,hi with 0 <= lo <= hi < --duration-s",
        ),
        (cfg.impulse_s >= 0, "impulse_s must be >= 0", "0 = ideal impulse"),
        (0 <= cfg.speed_range < 1, "speed_range must be in [0, 1)", "e.g. --speed-range 0.15"),
        (0 <= cfg.mismatch < 0.5, "mismatch must be in [0, 0.5)", "e.g. --mismatch 0.03"),
        (
            min(cfg.n_two_hit, cfg.n_extra_test, cfg.n_extra_nohit_train) >= 0
            and cfg.n_noise_files >= 1,
            "n_two_hit, n_extra_test and n_extra_nohit_train must be >= 0, n_noise_files >= 1",
            "fix the counts",
        ),
        (
            cfg.n_two_hit == 0 or len(cfg.classes) >= 2,
            "two-hit mixtures need two classes",
            "use --n-two-hit 0",
        ),
        (
            cfg.settle_s >= 0 and cfg.jitter_s >= 0 and cfg.preroll_s >= 0,
            "settle_s, jitter_s and preroll_s must be >= 0",
            "fix the configuration",
        ),
    ]
    for ok, msg, fix in checks:
        if not ok:
            raise DatasetError(f"invalid mdof configuration: {msg}", fix)
    nyq_int = cfg.sample_rate * cfg.oversample / 2
    top = cfg.n_harmonics * cfg.omega * (1 + cfg.speed_range) / (2 * np.pi)
    if top >= nyq_int:
        raise DatasetError(
            f"forcing harmonics reach {top:.0f} Hz, above the internal Nyquist {nyq_int:.0f} Hz",
            "raise --oversample or --sample-rate",
        )


class _Sim:
    """Discretised chain with its noise and probe inputs at the internal rate."""

    def __init__(self, chain: Chain, cfg: MdofConfig) -> None:
        self.chain = chain
        self.cfg = cfg
        self.fs_int = cfg.sample_rate * cfg.oversample
        self.dt = 1.0 / self.fs_int
        A = chain.state_matrix()
        c = chain.output_matrix()
        # engine input: the same force f(t) on every noise mass (one input column)
        b_noise = chain.input_matrix(cfg.noise_masses).sum(axis=1, keepdims=True)
        self.noise = discretise(A, b_noise, c, self.dt)  # eq. (4.3.40) input
        flow = cfg.flow_masses or cfg.noise_masses
        self.flow = discretise(A, chain.input_matrix(flow), c, self.dt) if cfg.flow_db else None
        self.free = discretise(A, np.zeros((2 * chain.n, 1)), c, self.dt)
        self.A = A
        self.c = c

    def decimate(self, y: np.ndarray) -> np.ndarray:
        q = self.cfg.oversample
        if q == 1:
            return y
        return scipy.signal.resample_poly(y, 1, q)

    def hit_response(self, mass: int, n_out: int) -> np.ndarray:
        """Microphone response (output rate, n_out samples) to a unit impulse (1 N s) on mass."""
        cfg = self.cfg
        n_int = n_out * cfg.oversample
        if cfg.impulse_s <= 0:  # ideal impulse: velocity jump 1/m
            x0 = np.zeros(2 * self.chain.n)
            x0[self.chain.n + mass - 1] = 1.0 / self.chain.m[mass - 1]
            y, _ = simulate(self.free, None, n_int, x0)
        else:  # half-sine force pulse of unit impulse: F(t) = pi/(2 tau) sin(pi t / tau)
            d = discretise(self.A, self.chain.input_matrix([mass]), self.c, self.dt)
            t = np.arange(n_int) * self.dt
            tau = cfg.impulse_s
            f = np.where(t < tau, np.pi / (2 * tau) * np.sin(np.pi * t / tau), 0.0)
            y, _ = simulate(d, f[None, :], n_int)
        return self.decimate(y)[:n_out]

    def engine_force(self, phase: np.ndarray) -> np.ndarray:
        """sum_{i=1}^{N} sin(i phi) of eq. (4.3.40) (A(t) applied by the caller).

        Closed form sin(N phi/2) sin((N+1) phi/2) / sin(phi/2), summed directly near phi = 0 mod
        2 pi where the quotient is ill-conditioned.
        """
        N = self.cfg.n_harmonics
        half = 0.5 * np.asarray(phase, dtype=float)
        den = np.sin(half)
        small = np.abs(den) < 1e-3
        safe = np.where(small, 1.0, den)
        out = np.sin(N * half) * np.sin((N + 1) * half) / safe
        if np.any(small):
            ph = 2 * half[small]
            out[small] = np.sin(np.outer(np.arange(1, N + 1), ph)).sum(axis=0)
        return out

    def steady_noise_record(self, length_s: float) -> np.ndarray:
        """Eq. (4.3.40) from rest at t = 0 for settle_s + length_s, decimated (whole record)."""
        cfg = self.cfg
        n_out = int(round((cfg.settle_s + length_s) * cfg.sample_rate))
        n_int = n_out * cfg.oversample
        t = np.arange(n_int) * self.dt
        amp = 1.0 - np.exp(-0.5 * t**2)  # A(t) of eq. (4.3.40)
        u = amp * self.engine_force(cfg.omega * t)
        y, _ = simulate(self.noise, u[None, :], n_int)
        return self.decimate(y)

    def varying_noise(
        self, rng: np.random.Generator, n_out: int
    ) -> tuple[np.ndarray, dict[str, float]]:
        """One window with a speed ramp and/or flow noise, from the periodic steady state."""
        cfg = self.cfg
        r = cfg.speed_range
        s0, s1 = rng.uniform(-r, r, 2) if r > 0 else (0.0, 0.0)
        pre = int(round(cfg.preroll_s * cfg.sample_rate)) * cfg.oversample
        n_int = pre + n_out * cfg.oversample
        w0 = cfg.omega * (1 + s0)
        # speed: constant w0 during the pre-roll, then a linear ramp to omega (1 + s1)
        k = np.arange(n_int)
        ramp = np.clip((k - pre) / max(n_int - pre, 1), 0.0, 1.0)
        w = cfg.omega * (1 + s0 + (s1 - s0) * ramp)
        phi0 = rng.uniform(0, 2 * np.pi)
        phase = phi0 + np.concatenate([[0.0], np.cumsum(w[:-1]) * self.dt])
        u = self.engine_force(phase)
        h = np.arange(1, cfg.n_harmonics + 1)
        x0 = steady_state_sines(self.noise, h * w0 * self.dt, h * phi0)
        y, _ = simulate(self.noise, u[None, :], n_int, x0)
        info = {"speed_start": float(1 + s0), "speed_end": float(1 + s1)}
        if self.flow is not None and cfg.flow_db is not None:
            nf = self.flow.Bd.shape[1]
            # white force, high-passed (2nd-order Butterworth at flow_highpass_hz) so that the
            # ~1 Hz suspension modes do not turn it into a sub-audio drift
            uf = rng.standard_normal((nf, n_int))
            if cfg.flow_highpass_hz > 0:
                sos = scipy.signal.butter(
                    2, cfg.flow_highpass_hz, "highpass", fs=self.fs_int, output="sos"
                )
                uf = scipy.signal.sosfilt(sos, uf, axis=1)
            yf, _ = simulate(self.flow, uf, n_int)
            eng = self.decimate(y)[pre // cfg.oversample :][:n_out]
            flow = self.decimate(yf)[pre // cfg.oversample :][:n_out]
            # level over the output window: 10 log10(||flow||^2 / ||engine||^2) = flow_db
            g = math.sqrt(10 ** (cfg.flow_db / 10) * _energy(eng) / max(_energy(flow), 1e-300))
            return eng + g * flow, info
        return self.decimate(y)[pre // cfg.oversample :][:n_out], info


def _energy(x: np.ndarray) -> float:
    return float(np.dot(x, x))


def _shifted(resp: np.ndarray, onset: int, n: int) -> np.ndarray:
    out = np.zeros(n)
    out[onset:] = resp[: n - onset]
    return out


def _name_snr(s: float) -> str:
    return f"{s:+g}dB".replace("+", "p").replace("-", "m")


def generate(
    cfg: MdofConfig, progress: Callable[[int], Any] | None = None, total_cb: Any = None
) -> Dataset:
    """Generate the dataset described by ``cfg`` in memory (deterministic given ``cfg.seed``).

    ``progress(n)`` is called after each unit of work (for a progress bar); ``total_cb(n)`` once
    with the total number of units.
    """
    check_config(cfg)
    rng = np.random.default_rng(cfg.seed)
    fs = cfg.sample_rate
    n_out = int(round(cfg.duration_s * fs))
    nominal = CHAINS[cfg.chain]
    test_chain = nominal.perturbed(rng, cfg.mismatch) if cfg.mismatch > 0 else nominal
    sim_nom = _Sim(nominal, cfg)
    sim_test = _Sim(test_chain, cfg) if test_chain is not nominal else sim_nom
    probed = [(c, m) for c, ms in cfg.classes.items() for m in ms]
    snrs = sorted(cfg.snr_db)
    train_snrs = {snrs[i] for i in cfg.train_snr_rank if -len(snrs) <= i < len(snrs)}
    n_hit = len(probed) * len(snrs) * cfg.n_per_snr
    n_mix = n_hit + cfg.n_nohit_train + cfg.n_nohit_test + cfg.n_two_hit
    n_mix += len(probed) * len(snrs) * cfg.n_extra_test + cfg.n_extra_nohit_train
    units = 2 * len(probed) + cfg.n_noise_files + n_mix
    if total_cb is not None:
        total_cb(units)

    def tick() -> None:
        if progress is not None:
            progress(1)

    # unit hit responses (1 N s) on both chains
    resp_nom: dict[int, np.ndarray] = {}
    resp_test: dict[int, np.ndarray] = {}
    for _, m in probed:
        resp_nom[m] = sim_nom.hit_response(m, n_out)
        tick()
        resp_test[m] = sim_test.hit_response(m, n_out) if sim_test is not sim_nom else resp_nom[m]
        tick()

    # noise windows
    n_jit = int(round(cfg.jitter_s * fs))
    settle = int(round(cfg.settle_s * fs))
    record_nom: np.ndarray | None = None
    record_test: np.ndarray | None = None
    if not cfg.hard:
        record_nom = sim_nom.steady_noise_record(cfg.duration_s + cfg.jitter_s)
        record_test = (
            sim_test.steady_noise_record(cfg.duration_s + cfg.jitter_s)
            if sim_test is not sim_nom
            else record_nom
        )

    def noise_window(test: bool, ref: bool = False) -> tuple[np.ndarray, dict[str, float]]:
        if cfg.hard:
            return (sim_test if test else sim_nom).varying_noise(rng, n_out)
        rec = record_test if test else record_nom
        assert rec is not None
        off = 0 if ref else int(rng.integers(0, n_jit + 1))
        return rec[settle + off : settle + off + n_out], {"window_start_s": (settle + off) / fs}

    noise_files = []
    noise_info = []
    for i in range(cfg.n_noise_files):
        w, info = noise_window(test=False, ref=(i == 0))
        noise_files.append(w)
        noise_info.append(info)
        tick()
    e_ref = _energy(noise_files[0])
    if e_ref <= 0:
        raise DatasetError("the reference noise window is silent", "check the noise masses")

    # clean targets at one fixed intensity for every probed mass
    j0 = {
        m: math.sqrt(10 ** (cfg.target_snr_db / 10) * e_ref / _energy(resp_nom[m]))
        for _, m in probed
    }
    j_ref = float(np.exp(np.mean(np.log(list(j0.values())))))
    targets: dict[str, list[np.ndarray]] = {c: [] for c in cfg.classes}
    target_files: dict[str, list[str]] = {c: [] for c in cfg.classes}
    for c, m in probed:
        targets[c].append(j_ref * resp_nom[m])
        target_files[c].append(f"mass{m:02d}.wav")

    onset_lo = int(round(cfg.onset_s[0] * fs))
    onset_hi = int(round(cfg.onset_s[1] * fs))

    def draw_onset() -> int:
        return int(rng.integers(onset_lo, onset_hi + 1))

    mixtures: list[Mixture] = []

    def add_mixture(name: str, hits: list[tuple[str, int, float, int]], split: str) -> None:
        noise, info = noise_window(test=True)
        e_n = _energy(noise)
        target = np.zeros(n_out)
        snr_each, intens = [], []
        for _, m, snr, onset in hits:
            r = _shifted(resp_test[m], onset, n_out)
            # SNR := 10 log10(||s||^2 / ||n||^2) over the window (s: this hit, n: the noise)
            J = math.sqrt(10 ** (snr / 10) * e_n / max(_energy(r), 1e-300))
            target += J * r
            snr_each.append(snr)
            intens.append(J)
        snr_tot: float | None = None
        if len(hits) == 1:
            snr_tot = float(hits[0][2])  # exact by construction
        elif hits:  # total target energy of all hits vs the noise
            snr_tot = round(10 * math.log10(_energy(target) / e_n), 6)
        extra = {k: repr(v) for k, v in info.items()}
        if hits:
            extra["snr_db_each"] = ";".join(f"{s:g}" for s in snr_each)
            extra["impulse_Ns"] = ";".join(f"{j:.6g}" for j in intens)  # before mic gain
        mixtures.append(
            Mixture(
                name=name,
                audio=noise + target,
                classes=tuple(h[0] for h in hits),
                snr_db=snr_tot,
                onsets_s=tuple(h[3] / fs for h in hits),
                target_stem=target if hits else None,
                split=split,
                sources=tuple(f"{h[0]}/mass{h[1]:02d}.wav" for h in hits),
                extra=extra,
            )
        )
        tick()

    for c, m in probed:
        for snr in snrs:
            for r in range(cfg.n_per_snr):
                split = "train" if snr in train_snrs else "test"
                add_mixture(
                    f"m{m:02d}_{_name_snr(snr)}_{r}.wav", [(c, m, snr, draw_onset())], split
                )
    for i in range(cfg.n_nohit_train):
        add_mixture(f"nohit_train_{i:03d}.wav", [], "train")
    for i in range(cfg.n_nohit_test):
        add_mixture(f"nohit_test_{i:03d}.wav", [], "test")
    class_names = list(cfg.classes)
    for i in range(cfg.n_two_hit):
        ca, cb = rng.choice(len(class_names), 2, replace=False)
        hits = []
        for ci in (ca, cb):
            c = class_names[int(ci)]
            m = int(rng.choice(cfg.classes[c]))
            hits.append((c, m, float(rng.choice(snrs)), draw_onset()))
        hits.sort(key=lambda h: h[3])
        add_mixture(f"twohit_{i:03d}.wav", hits, "test")
    for r in range(cfg.n_extra_test):
        for c, m in probed:
            for snr in snrs:
                add_mixture(
                    f"m{m:02d}_{_name_snr(snr)}_x{r}.wav", [(c, m, snr, draw_onset())], "test"
                )
    for i in range(cfg.n_extra_nohit_train):
        add_mixture(f"nohit_train_x{i:03d}.wav", [], "train")

    # one microphone gain for every file: the reference noise window gets RMS mic_rms
    gain = cfg.mic_rms / math.sqrt(e_ref / n_out)
    for c in targets:
        targets[c] = [gain * x for x in targets[c]]
    noise_files = [gain * x for x in noise_files]
    for mx in mixtures:
        mx.audio = gain * mx.audio
        if mx.target_stem is not None:
            mx.target_stem = gain * mx.target_stem
    f_nom, xi_nom = nominal.modes()
    meta = {
        "generator": "tinyunfold dataset mdof",
        "config": cfg.to_dict(),
        "mic_gain": gain,
        "target_impulse_Ns": j_ref,
        "noise_files": noise_info,
        "chain_nominal": {"m": list(nominal.m), "k": list(nominal.k), "c": list(nominal.c)},
        "chain_test": {"m": list(test_chain.m), "k": list(test_chain.k), "c": list(test_chain.c)},
        "modes_hz": [float(f) for f in f_nom],
        "snr_definition": "10 log10(sum target^2 / sum noise^2) over the whole mixture window",
    }
    return Dataset(
        sample_rate=fs,
        classes=class_names,
        targets=targets,
        noise=noise_files,
        mixtures=mixtures,
        target_files=target_files,
        noise_files=[f"noise_{i:03d}.wav" for i in range(len(noise_files))],
        meta=meta,
    )
