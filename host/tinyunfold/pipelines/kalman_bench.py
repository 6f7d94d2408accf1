"""Deep Kalman Filter experiments of thesis sect. 6.4.4 (run by ``tinyunfold dkf-bench``).

Each experiment returns a JSON-able dict and may write plots into the output folder. The
numbers, with the thesis' numbers beside them, are in docs/dkf.md.

* ``fig65``  — learned vs Kalman gains on the strongly observable 2-state model (Fig. 6.5).
* ``fig63``  — residual gains M(k) = K̃ - K and the innovations (Fig. 6.3, toy A, K = 50).
* ``table2`` — wrong covariances Q̃ = 0.1Q, R̃ = 5R, P̃0 = 0.1P0, 100 trajectories, complete
  backprop; KF, RTS and DKF side by side (Table 2).
* ``weak``   — weakly observable 3-state model: KF gains at k = 1, 50 (Table 3) and the
  observability Gramian for A[0:2, 2] = 5.27e-5 vs the printed 1e-4; DKF vs KF MSE.
* ``kalmannet`` — DKF vs KalmanNet vs KF on the same trajectories (MSE dB, time, parameters).
* ``fhn``, ``lorenz`` — parameter recovery with learnable p on a reduced noise grid
  (Fig. 6.11 / 6.14 style; one realisation per grid point instead of 20).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from tinyunfold.errors import ValueDomainError
from tinyunfold.models.dkf import DeepKalmanFilter, run_dkf_numpy
from tinyunfold.models.kalman import kalman_filter, observability_gramian, rts_smoother
from tinyunfold.models.systems import System, simulate, system_from_toml

STRONG2: dict[str, Any] = {
    "name": "strong2",
    "kind": "linear",
    "steps": 50,
    "x0": [1.0, 1.0],
    "C": [[1.0, 0.0], [0.0, 1.0]],
    "model": {"A": [[1.01, -0.002], [0.0, 1.005]]},
    "noise": {"sigma_q": 2e-2, "sigma_r": 3.5e-2, "sigma_p": 1e-1},
}
WRONG = {"sigma_q": 2e-2, "sigma_r": 3.5e-2, "sigma_p": 1e-1, "q_scale": 0.1, "r_scale": 5.0,
         "p_scale": 0.1}  # fmt: skip
TOY63: dict[str, Any] = {
    "name": "toy63",
    "kind": "linear",
    "steps": 50,
    "x0": [0.0, 2.0],
    "C": [[1.0, 0.0], [0.0, 1.0]],
    "model": {"A": [[1.05, 0.05], [-0.005, 1.0]]},
    "noise": {
        "Q": [[0.01, 0.0], [0.0, 0.01]],
        "R": [[1.0, 0.0], [0.0, 1.0]],
        "P0": [[0.1, 0.0], [0.0, 0.1]],
    },  # fmt: skip
}


def weak3(a02: float = 5.27e-5) -> dict[str, Any]:
    return {
        "name": "weak3",
        "kind": "linear",
        "steps": 50,
        "x0": [2.0, 1.0, 1.5],
        "C": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
        "model": {"A": [[1.0030, 0.0502, a02], [0.0502, 1.0030, a02], [0.0, 0.0, 1.0005]]},
        "noise": {"sigma_q": 1e-4, "sigma_r": 1e-4, "sigma_p": 5.0},
    }


def _torch_threads() -> None:
    import torch

    torch.set_num_threads(1)  # tiny matrices: threading only adds overhead


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a - b) ** 2))


def classical(system: System, data: dict[str, np.ndarray], which: str) -> dict[str, np.ndarray]:
    """KF and RTS estimates (N, K+1, n) with the true (``true``) or assumed (``assumed``) cov."""
    A = system.model["A"]
    Q, R, P0 = (system.Q, system.R, system.P0) if which == "true" else (
        system.Qf, system.Rf, system.P0f)  # fmt: skip
    kf, rts = [], []
    for y, x0 in zip(data["y"], data["x0_hat"], strict=True):
        res = kalman_filter(y, A, system.C, Q, R, x0, P0)
        kf.append(res.x_filt)
        rts.append(rts_smoother(res, A).x_smooth)
    return {"kf": np.array(kf), "rts": np.array(rts)}


# ------------------------------------------------------------------------------ Fig. 6.5
def fig65(out: Path, quick: bool = False) -> dict[str, Any]:
    _torch_threads()
    s = system_from_toml(STRONG2)
    data = simulate(s, 1, None, seed=0)  # a single training trajectory
    epochs = 60 if quick else 400
    cols = [("pred", 10.0), ("pred", 0.0), ("P0", 10.0), ("Q", 10.0)]
    res: dict[str, Any] = {"epochs": epochs, "trajectories": 1, "lr": 1e-2, "columns": []}
    learned = []
    Kt = None
    for pw, ld in cols:
        t0 = time.perf_counter()
        m = DeepKalmanFilter(s, backprop="truncated", lambda_d=ld, p_weight=pw, epochs=epochs,
                             lr=1e-2).fit(data)  # fmt: skip
        Kt, _ = m.kalman_reference()
        dev = np.abs(m.gains_ - Kt)
        res["columns"].append({
            "P_k": pw, "lambda_d": ld,
            "mean_abs_dev": float(dev.mean()),
            "max_abs_dev_k_ge_5": float(dev[4:].max()),
            "oscillation": float(np.abs(np.diff(m.gains_, 2, axis=0)).mean()),
            "seconds": round(time.perf_counter() - t0, 1),
        })  # fmt: skip
        learned.append(m.gains_)
    assert Kt is not None
    res["kalman_gain_k50"] = Kt[-1].tolist()
    _plot_fig65(out / "fig65_gains.png", learned, Kt, cols)
    return res


def _plot_fig65(path: Path, learned: list[np.ndarray], Kt: np.ndarray, cols: list) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(4, len(cols), figsize=(3.2 * len(cols), 8), squeeze=False)
    ks = np.arange(1, Kt.shape[0] + 1)
    for c, (G, (pw, ld)) in enumerate(zip(learned, cols, strict=True)):
        for r, (i, j) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
            ax = axes[r, c]
            ax.plot(ks, G[:, i, j], "b-", lw=1)
            ax.plot(ks, Kt[:, i, j], "r-.", lw=1)
            if r == 0:
                ax.set_title(f"P_k={pw}, λ_D={ld:g}", fontsize=8)
            if c == 0:
                ax.set_ylabel(f"K[{i},{j}]")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ------------------------------------------------------------------------------ Fig. 6.3
def fig63(out: Path, quick: bool = False) -> dict[str, Any]:
    _torch_threads()
    s = system_from_toml(TOY63)
    data = simulate(s, 1, None, seed=0)
    epochs = 60 if quick else 600
    m = DeepKalmanFilter(s, backprop="truncated", lambda_d=0.0, lambda_k=0.0, p_weight="pred",
                         epochs=epochs, lr=1e-2).fit(data)  # fmt: skip
    Kt, _ = m.kalman_reference()
    innov = np.zeros_like(data["y"])
    run_dkf_numpy(s, s.model, s.C, m.gains_, m.gain_beyond_, data["y"], data["x0_hat"], None,
                  innov)  # fmt: skip
    cos_min, cos_max, sv = [], [], []
    for k in range(s.steps):
        M = Kt[k] - m.gains_[k]  # residual M(k)
        _, S, Vt = np.linalg.svd(M)
        e = innov[0, k] / np.linalg.norm(innov[0, k])
        cos_max.append(abs(float(Vt[0] @ e)))
        cos_min.append(abs(float(Vt[-1] @ e)))
        sv.append(S.tolist())
    return {
        "epochs": epochs,
        "mean_abs_cos_innovation_smallest_sv": float(np.mean(cos_min)),
        "mean_abs_cos_innovation_largest_sv": float(np.mean(cos_max)),
        "mean_singular_values": np.mean(sv, 0).tolist(),
    }


# ------------------------------------------------------------------------------ Table 2
def table2(out: Path, quick: bool = False) -> dict[str, Any]:
    _torch_threads()
    s = system_from_toml({**STRONG2, "name": "strong2_wrong", "filter": WRONG})
    N = 30 if quick else 100
    train = simulate(s, N, None, seed=0)
    test = simulate(s, N, None, seed=1)
    epochs = 10 if quick else 150
    res: dict[str, Any] = {"trajectories": N, "K": s.steps, "epochs": epochs, "lr": 1e-2,
                           "batch_size": 10, "backprop": "complete", "rows": {}}  # fmt: skip

    def row(est: np.ndarray, data: dict[str, np.ndarray]) -> dict[str, float]:
        x = data["x"]
        return {"all": _mse(est[:, 1:], x[:, 1:]), "last10": _mse(est[:, -10:], x[:, -10:])}

    for which in ("true", "assumed"):
        for name, data in (("train", train), ("test", test)):
            cl = classical(s, data, which)
            res["rows"].setdefault(f"KF {which} cov.", {})[name] = row(cl["kf"], data)
            res["rows"].setdefault(f"RTS {which} cov.", {})[name] = row(cl["rts"], data)
    gains = {}
    for ld in (0.0, 1e3):
        for lk in (0.0, 1e3):
            t0 = time.perf_counter()
            m = DeepKalmanFilter(s, backprop="complete", lambda_d=ld, lambda_k=lk, epochs=epochs,
                                 lr=1e-2, batch_size=10).fit(train)  # fmt: skip
            key = f"DKF λ_D={ld:g} λ_K={lk:g}"
            res["rows"][key] = {
                "train": row(m.transform(train["y"], train["x0_hat"]), train),
                "test": row(m.transform(test["y"], test["x0_hat"]), test),
                "seconds": round(time.perf_counter() - t0, 1),
            }
            gains[key] = m.gains_
    # beyond the thesis: the innovation loss (free gains, and Riccati gains = the CLI default)
    for key, gp, ld in (
        ("DKF innovation, free gains λ_D=10", "free", 10.0),
        ("DKF innovation, Riccati gains (CLI default)", "riccati", 0.0),
    ):
        t0 = time.perf_counter()
        m = DeepKalmanFilter(s, loss="innovation", gain_param=gp, lambda_d=ld, backprop="complete",
                             lr=1e-2, batch_size=10, epochs=10 if quick else 30).fit(train)  # fmt: skip
        res["rows"][key] = {
            "train": row(m.transform(train["y"], train["x0_hat"]), train),
            "test": row(m.transform(test["y"], test["x0_hat"]), test),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        gains[key] = m.gains_
    res["exact"] = exact_rows(s, gains)
    _plot_table2_gains(out / "table2_gains.png", s, gains)
    return res


def exact_rows(s: System, gains: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Expected MSE (true covariances, no sampling) and distance to the true KF gains (k > 10)."""
    from tinyunfold.models.kalman import gain_sequence_mse, kalman_gain_sequence

    A = s.model["A"]
    Kt = kalman_gain_sequence(A, s.C, s.Q, s.R, s.P0, s.steps)[0]
    Kw = kalman_gain_sequence(A, s.C, s.Qf, s.Rf, s.P0f, s.steps)[0]
    out = {}
    for name, G in {"KF true cov.": Kt, "KF assumed cov.": Kw, **gains}.items():
        out[name] = {
            "all": gain_sequence_mse(A, s.C, s.Q, s.R, s.P0, G),
            "last10": gain_sequence_mse(A, s.C, s.Q, s.R, s.P0, G, 10),
            "gain_dist": float(np.linalg.norm(G[10:] - Kt[10:]) / np.linalg.norm(Kt[10:])),
        }
    return out


def _plot_table2_gains(path: Path, s: System, gains: dict[str, np.ndarray]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tinyunfold.models.kalman import kalman_gain_sequence

    K = s.steps
    Kt = kalman_gain_sequence(s.model["A"], s.C, s.Q, s.R, s.P0, K)[0]
    Kw = kalman_gain_sequence(s.model["A"], s.C, s.Qf, s.Rf, s.P0f, K)[0]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    ks = np.arange(1, K + 1)
    for d, ax in enumerate(axes):
        ax.plot(ks, Kt[:, d, d], "k-.", label="KF true cov.")
        ax.plot(ks, Kw[:, d, d], "kx", ms=3, label="KF wrong cov.")
        for name, G in gains.items():
            ax.plot(ks, G[:, d, d], lw=1, label=name)
        ax.set_title(f"diagonal gain K[{d},{d}]")
        ax.set_xlabel("layer k")
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ------------------------------------------------------------------------------ Fig. 6.6
def fig66(out: Path, quick: bool = False) -> dict[str, Any]:
    """Wrong Q̃ = 0.1 Q only, truncated backprop, the (λ_K, λ_D) settings of Fig. 6.6."""
    _torch_threads()
    s = system_from_toml({**STRONG2, "name": "strong2_wrongQ",
                          "filter": {**STRONG2["noise"], "q_scale": 0.1}})  # fmt: skip
    N = 30 if quick else 100
    train = simulate(s, N, None, seed=0)
    test = simulate(s, N, None, seed=1)
    epochs = 10 if quick else 100

    def mses(est: np.ndarray, data: dict[str, np.ndarray]) -> dict[str, float]:
        return {"vs_true_states": _mse(est[:, 1:], data["x"][:, 1:]),
                "vs_measurements": _mse(est[:, 1:] @ s.C.T, data["y"])}  # fmt: skip

    res: dict[str, Any] = {"trajectories": N, "epochs": epochs, "lr": 1e-2, "batch_size": 10,
                           "rows": {}}  # fmt: skip
    for which in ("assumed", "true"):
        cl = classical(s, test, which)
        res["rows"][f"KF {which} cov."] = mses(cl["kf"], test)
    for lk, ld in ((0.0, 1.0), (1e3, 2.5e5), (7e4, 2.5e5), (5e5, 2.5e5)):
        m = DeepKalmanFilter(s, backprop="truncated", lambda_k=lk, lambda_d=ld, epochs=epochs,
                             lr=1e-2, batch_size=10).fit(train)  # fmt: skip
        res["rows"][f"DKF λ_K={lk:g} λ_D={ld:g}"] = mses(m.transform(test["y"], test["x0_hat"]),
                                                         test)  # fmt: skip
    return res


# ------------------------------------------------------------------------------ weak 3-state
def weak(out: Path, quick: bool = False) -> dict[str, Any]:
    _torch_threads()
    res: dict[str, Any] = {}
    from tinyunfold.models.kalman import kalman_gain_sequence

    for a in (5.27e-5, 1e-4):
        s = system_from_toml(weak3(a))
        G = kalman_gain_sequence(s.model["A"], s.C, s.Q, s.R, s.P0, 50)[0]
        res[f"A02={a:g}"] = {
            "kf_gain_k1": np.round(G[0], 4).tolist(),
            "kf_gain_k50": np.round(G[49], 4).tolist(),
            "gramian": observability_gramian(s.model["A"], s.C).tolist(),
        }
    s = system_from_toml(weak3(5.27e-5))
    N = 10 if quick else 20
    train = simulate(s, N, None, seed=0)
    test = simulate(s, N, None, seed=1)
    cl = classical(s, test, "true")
    x = test["x"]
    res["mse_test"] = {
        "KF": _mse(cl["kf"][:, 1:], x[:, 1:]),
        "RTS": _mse(cl["rts"][:, 1:], x[:, 1:]),
    }
    epochs = 10 if quick else 40
    for bp in ("truncated", "complete"):
        m = DeepKalmanFilter(s, backprop=bp, lambda_d=1.0, epochs=epochs, lr=1e-3,
                             batch_size=5).fit(train)  # fmt: skip
        est = m.transform(test["y"], test["x0_hat"])
        res["mse_test"][f"DKF {bp}"] = _mse(est[:, 1:], x[:, 1:])
        res[f"dkf_{bp}_gain_k1"] = np.round(m.gains_[0], 4).tolist()
        res[f"dkf_{bp}_gain_k50"] = np.round(m.gains_[-1], 4).tolist()
    m = DeepKalmanFilter(s, loss="innovation", gain_param="riccati", backprop="complete",
                         lr=1e-2, epochs=epochs, batch_size=5).fit(train)  # fmt: skip
    est = m.transform(test["y"], test["x0_hat"])
    res["mse_test"]["DKF innovation riccati"] = _mse(est[:, 1:], x[:, 1:])
    res["dkf_riccati_gain_k50"] = np.round(m.gains_[-1], 4).tolist()
    res["epochs"] = epochs
    return res


# ------------------------------------------------------------------------------ KalmanNet
def kalmannet(out: Path, quick: bool = False) -> dict[str, Any]:
    _torch_threads()
    from tinyunfold.models.kalmannet import KalmanNet

    s = system_from_toml({**STRONG2, "name": "strong2_wrong", "filter": WRONG})
    N = 30 if quick else 100
    train = simulate(s, N, None, seed=0)
    test = simulate(s, N, None, seed=1)
    x = test["x"]
    res: dict[str, Any] = {"trajectories": N, "K": s.steps}
    cl = classical(s, test, "true")
    clw = classical(s, test, "assumed")
    rows: dict[str, dict[str, Any]] = {
        "KF true cov.": {"mse": _mse(cl["kf"][:, 1:], x[:, 1:]), "params": 0, "seconds": 0.0},
        "KF wrong cov.": {"mse": _mse(clw["kf"][:, 1:], x[:, 1:]), "params": 0, "seconds": 0.0},
    }
    for bp in ("truncated", "complete"):
        t0 = time.perf_counter()
        m = DeepKalmanFilter(s, backprop=bp, lambda_d=1e3, epochs=10 if quick else 150, lr=1e-2,
                             batch_size=10).fit(train)  # fmt: skip
        dt = time.perf_counter() - t0
        est = m.transform(test["y"], test["x0_hat"])
        rows[f"DKF {bp}"] = {"mse": _mse(est[:, 1:], x[:, 1:]), "params": int(m.gains_.size),
                             "seconds": round(dt, 1)}  # fmt: skip
    t0 = time.perf_counter()
    m = DeepKalmanFilter(s, loss="innovation", gain_param="riccati", backprop="complete",
                         lambda_d=0.0, epochs=10 if quick else 30, lr=1e-2,
                         batch_size=10).fit(train)  # fmt: skip
    dt = time.perf_counter() - t0
    est = m.transform(test["y"], test["x0_hat"])
    rows["DKF innovation, Riccati gains"] = {
        "mse": _mse(est[:, 1:], x[:, 1:]),
        "params": int(m.gains_.size),  # deployed gains; 9 learned covariance parameters
        "learned_params": 3 * s.n * (s.n + 1) // 2 if s.n == s.m else None,
        "seconds": round(dt, 1),
    }
    t0 = time.perf_counter()
    kn = KalmanNet(s, epochs=10 if quick else 150, lr=1e-3, batch_size=10, seed=0).fit(train)
    dt = time.perf_counter() - t0
    est = kn.transform(test["y"], test["x0_hat"])
    rows["KalmanNet"] = {"mse": _mse(est[:, 1:], x[:, 1:]), "params": kn.n_params_,
                         "seconds": round(dt, 1)}  # fmt: skip
    for r in rows.values():
        r["mse_db"] = float(10 * np.log10(r["mse"]))
    res["rows"] = rows
    return res


# ------------------------------------------------------------------------------ nonlinear
def _nonlinear(toml: str, grid: list[tuple[float, float]], truth_p: list[float], lr: float,
               epochs: int, seeds: list[int]) -> dict[str, Any]:  # fmt: skip
    import tomllib

    _torch_threads()
    doc = tomllib.loads(_example(toml))
    rows = []
    for sq, sr in grid:
        for seed0 in seeds:
            d = {**doc, "noise": {"sigma_q": sq, "sigma_r": sr, "sigma_p": sr}}
            s = system_from_toml(d)  # P(0) = R as in the thesis
            # the perturbed Lorenz system (ε x³) can blow up under large process noise: skip
            # diverging noise draws and count them
            diverged = 0
            for seed in range(seed0, seed0 + 20):
                try:
                    with np.errstate(all="ignore"):
                        data = simulate(s, 1, None, seed=seed)
                    break
                except ValueDomainError:
                    diverged += 1
            else:
                rows.append({"sigma_q": sq, "sigma_r": sr, "diverged": diverged})
                continue
            t0 = time.perf_counter()
            m = DeepKalmanFilter(s, backprop="truncated", lambda_k=1.0, lambda_d=1.0, lr=lr,
                                 lr_ratio=100.0, epochs=epochs).fit(data)  # fmt: skip
            est = m.p_  # learned offsets p (truth_p: the p* that gives the true model)
            truth = np.array(truth_p)
            rel = np.abs(est - truth) / np.abs(truth)
            rows.append({
                "sigma_q": sq, "sigma_r": sr, "seed": seed, "diverged_draws": diverged,
                "estimate": est.tolist(), "relative_residues": rel.tolist(),
                "residue_norm": float(np.linalg.norm(rel)),
                "seconds": round(time.perf_counter() - t0, 1),
            })  # fmt: skip
    return {"epochs": epochs, "lr_K": lr, "lr_p": lr * 100.0, "labels":
            [sp.label() for sp in system_from_toml(doc).learn], "truth": truth_p,
            "rows": rows}  # fmt: skip


def _example(name: str) -> str:
    from tinyunfold.platform.paths import REPO_ROOT

    for root in (REPO_ROOT, Path.cwd()):
        f = root / "examples" / "dkf" / name
        if f.is_file():
            return f.read_text()
    raise FileNotFoundError(f"examples/dkf/{name} not found (run from the repository root)")


def fhn(out: Path, quick: bool = False) -> dict[str, Any]:
    """FitzHugh-Nagumo (6.4.26): α, β, γ learned as p (the thesis uses SINDy, Fig. 6.11)."""
    grid = [(0.01, 0.01), (0.05, 0.05)] if quick else [(0.01, 0.01), (0.05, 0.05), (0.2, 0.2)]
    # truth p for the [model] values α = β = γ = 0 (so est = p)
    return _nonlinear("fitzhugh_nagumo.toml", grid, [-0.5, 1.0, 0.1], 3e-4,
                      10 if quick else 80, [0])  # fmt: skip


def lorenz(out: Path, quick: bool = False) -> dict[str, Any]:
    """Lorenz '63 (6.4.28)/(6.4.31): mass entry 0.5 + p → 0.1 (p* = -0.4) and ε* = 0.01."""
    grid = [(0.4, 0.2)] if quick else [(0.4, 0.2), (1.0, 0.5), (2.0, 1.0)]
    return _nonlinear("lorenz63.toml", grid, [-0.4, 0.01], 1e-4, 10 if quick else 60, [0])


EXPERIMENTS = {"fig65": fig65, "fig63": fig63, "fig66": fig66, "table2": table2, "weak": weak,
               "kalmannet": kalmannet, "fhn": fhn, "lorenz": lorenz}  # fmt: skip


def run_bench(out: Path, quick: bool = False, only: list[str] | None = None) -> dict[str, Any]:
    """Run the selected experiments, write ``results.json`` (merged with earlier runs)."""
    from tqdm import tqdm

    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    results: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    names = list(EXPERIMENTS) if not only else only
    for name in tqdm(names, desc="dkf-bench", disable=None):
        if name not in EXPERIMENTS:
            raise KeyError(f"unknown experiment {name!r} (have {', '.join(EXPERIMENTS)})")
        t0 = time.perf_counter()
        results[name] = EXPERIMENTS[name](out, quick)
        results[name]["total_seconds"] = round(time.perf_counter() - t0, 1)
        results[name]["quick"] = quick
        path.write_text(json.dumps(results, indent=1))
    return results
