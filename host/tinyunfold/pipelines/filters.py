"""Evaluation of filters (kinds whose task is ``filter``) on trajectories: MSE against the
classical filters (KF with the assumed and the true covariances, RTS; the Ensemble Kalman filter
for nonlinear predictors), whiteness of the innovations (6.4.16), exact expected MSE from the gains
where it applies, plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tinyunfold.extras import require_extra


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a - b) ** 2))


def db(v: float) -> float:
    return float(10.0 * np.log10(v)) if v > 0 else float("-inf")


def compare_filters(filt: Any, data: dict[str, np.ndarray], name: str) -> dict[str, Any]:
    """The filter ``name`` vs KF (assumed and true covariances) vs RTS on the same trajectories.

    ``filt`` is the :class:`~tinyunfold.kinds.base.Filtering` of a model: its system, its
    estimates and innovations, and extra report entries (the exact MSE of gain filters).
    """
    from tinyunfold.models.dkf import whiteness_deviation
    from tinyunfold.models.kalman import kalman_filter, rts_smoother

    s = filt.system
    y = data["y"]
    N, T, m = y.shape
    x0 = data.get("x0_hat", np.tile(s.x0, (N, 1)))
    xd, innov = filt.estimate(y, x0)
    report: dict[str, Any] = {"n_trajectories": int(N), "steps": int(T), "K": filt.layers}
    est: dict[str, np.ndarray] = {name: xd}
    wh: dict[str, list[float]] = {}
    if innov is not None:
        wh[name] = whiteness_deviation(np.moveaxis(innov, 1, 2)).mean(0).tolist()
    if s.is_linear:
        A, B, u = s.discrete_linear()
        Bu = None if B is None or u is None else np.tile(u, (T, 1))
        for name, (Q, R, P0) in {
            "kf_assumed": (s.Qf, s.Rf, s.P0f),
            "kf_true": (s.Q, s.R, s.P0),
        }.items():
            xs = np.zeros_like(xd)
            xr = np.zeros_like(xd)
            inn = np.zeros_like(y)
            for i in range(N):
                res = kalman_filter(y[i], A, s.C, Q, R, x0[i], P0, B, Bu)
                xs[i], inn[i] = res.x_filt, res.innov
                if name == "kf_true" and B is None:
                    xr[i] = rts_smoother(res, A).x_smooth
            est[name] = xs
            wh[name] = whiteness_deviation(np.moveaxis(inn, 1, 2)).mean(0).tolist()
            if name == "kf_true" and B is None:
                est["rts_true"] = xr
    else:  # nonlinear predictor: the Ensemble Kalman filter (5.4.1) as classical baseline
        from tinyunfold.models.dkf import predict_numpy
        from tinyunfold.models.kalman import ensemble_kalman_filter

        coefs = s.model

        def f(X: np.ndarray) -> np.ndarray:
            return predict_numpy(s, coefs, X)

        rng = np.random.default_rng(0)
        est["enkf_assumed"] = np.array([
            ensemble_kalman_filter(y[i], f, s.C, s.Qf, s.Rf, x0[i], s.P0f, 200, rng)[0]
            for i in range(N)
        ])  # fmt: skip
    if filt.extra is not None:
        report.update(filt.extra(T))
    if "x" in data:
        x = data["x"]
        report["mse"] = {k: mse(v[:, 1:], x[:, 1:]) for k, v in est.items()}
        report["mse_db"] = {k: db(v) for k, v in report["mse"].items()}
        report["mse_last10"] = {k: mse(v[:, -10:], x[:, -10:]) for k, v in est.items()}
    report["whiteness"] = wh
    report["_estimates"] = est
    return report


def plot_gains(
    G: np.ndarray, Kt: np.ndarray, path: Path, extra: dict[str, np.ndarray] | None = None
) -> None:
    """Learned gains K_G^(k)_ij (K, n, m) vs the classical Kalman gains Kt (assumed covariances)."""
    require_extra("plots", "matplotlib", "plotting")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    K, n, m = G.shape
    fig, axes = plt.subplots(n, m, figsize=(3.2 * m, 2.4 * n), squeeze=False)
    ks = np.arange(1, K + 1)
    for i in range(n):
        for j in range(m):
            ax = axes[i, j]
            ax.plot(ks, G[:, i, j], "b-", label="DKF")
            ax.plot(ks, Kt[:, i, j], "r-.", label="KF (assumed cov.)")
            for name, g in (extra or {}).items():
                ax.plot(ks, g[:, i, j], ":", label=name)
            ax.set_title(f"K[{i},{j}]", fontsize=9)
            if i == n - 1:
                ax.set_xlabel("layer k")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_trajectory(data: dict[str, np.ndarray], est: dict[str, np.ndarray], path: Path) -> None:
    require_extra("plots", "matplotlib", "plotting")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = data["x"][0]
    n = x.shape[1]
    fig, axes = plt.subplots(n, 1, figsize=(7, 2.2 * n), squeeze=False)
    for i in range(n):
        ax = axes[i, 0]
        ax.plot(x[:, i], "k-", lw=1.5, label="true")
        for name, v in est.items():
            ax.plot(v[0, :, i], lw=1, label=name)
        ax.set_ylabel(f"x{i}")
    axes[0, 0].legend(fontsize=7)
    axes[-1, 0].set_xlabel("k")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def evaluate_filter(
    model: Any, trajectories: str | None, out: Path, plots: bool
) -> tuple[dict[str, Any], str]:
    """``tinyunfold evaluate`` for every filter kind: report dict (also written as JSON) and text."""
    from tinyunfold import kinds
    from tinyunfold.errors import ShapeError
    from tinyunfold.models.systems import load_trajectories

    if not trajectories:
        raise ShapeError("filters are evaluated on trajectories", "pass --trajectories test.npz")
    filt = kinds.get(model.kind).require("filtering")(model)
    data = load_trajectories(trajectories, filt.system)
    rep = compare_filters(filt, data, model.kind)
    est = rep.pop("_estimates")
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(rep, indent=1))
    layers = "" if rep["K"] is None else f" ({model.kind} has K={rep['K']})"
    lines = [f"{rep['n_trajectories']} trajectories x {rep['steps']} steps{layers}"]
    if "mse" in rep:
        lines.append(
            f"{'estimator':<12} {'MSE':>11} {'dB':>8} {'MSE last10':>11}  whiteness dev. per output"
        )
        for k in rep["mse"]:
            w = " ".join(f"{v:.3f}" for v in rep["whiteness"].get(k, []))
            lines.append(f"{k:<12} {rep['mse'][k]:11.4e} {rep['mse_db'][k]:8.2f} "
                         f"{rep['mse_last10'][k]:11.4e}  {w}")  # fmt: skip
    if "exact_mse" in rep:
        ex, g = rep["exact_mse"], rep["gain_dist_steady"]
        lines.append(f"exact expected MSE (true covariances, from the gains): DKF {ex['dkf']:.4e}, "
                     f"KF assumed {ex['kf_assumed']:.4e}, KF true {ex['kf_true']:.4e}")  # fmt: skip
        lines.append(f"gains vs true-covariance KF gains (k > 10, rel. Frobenius): DKF "
                     f"{g['dkf']:.2%}, KF assumed {g['kf_assumed']:.2%}")  # fmt: skip
    if plots:
        if filt.gains is not None:
            G, Kt = filt.gains()
            plot_gains(G, Kt, out / "gains.png")
        if "x" in data:
            plot_trajectory(data, est, out / "trajectory.png")
    lines.append(f"wrote {out / 'report.json'}")
    return rep, "\n".join(lines)
