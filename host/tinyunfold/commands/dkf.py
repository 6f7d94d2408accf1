"""Deep Kalman Filter commands: ``simulate``, ``train dkf``, the ``dkf`` evaluator, ``dkf-bench``.

::

    tinyunfold simulate --system system.toml --n 100 --steps 50 --seed 0 --out train.npz
    tinyunfold train dkf --system system.toml --trajectories train.npz --out chain.tum
    tinyunfold evaluate --model chain.tum --trajectories test.npz --out eval/
    tinyunfold dkf-bench --out build/dkf-bench        # the thesis experiments (docs/dkf.md)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from tinyunfold.extras import require_extra
from tinyunfold.kinds import save_model
from tinyunfold.modelfile import ModelFile

MIN_UPDATES = 300  # default training budget in Adam updates (the Riccati gains need ~200-300)
SYSTEM_HELP = "system.toml describing the predictor, C, noise (see examples/dkf/ and docs/dkf.md)"


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "simulate",
        help="draw noisy trajectories of a system.toml (states x and observations y) into .npz",
        description=(
            "Sample N trajectories of the *true* system of a system.toml ([model] overridden by "
            "[truth]): x(0) ~ N(x0, P0), x(k) = f(x(k-1)) + w(k), y(k) = C x(k) + v(k). The .npz "
            "holds x (N, K+1, n), y (N, K, m), x0_hat (N, n) and the system as JSON."
        ),
    )
    s.add_argument("--system", required=True, help=SYSTEM_HELP)
    s.add_argument("--n", type=int, default=100, help="number of trajectories (default 100)")
    s.add_argument("--steps", type=int, help="trajectory length K (default: steps in the toml)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--out", required=True, help="output .npz")
    s.set_defaults(func=_simulate)

    b = sub.add_parser(
        "dkf-bench",
        help="run the Deep Kalman Filter experiments of thesis 6.4.4 (gain convergence, Table 2)",
        description=(
            "Reproduce the thesis' linear DKF experiments: Fig. 6.5 (learned vs Kalman gains on "
            "the strongly observable 2-state model), Table 2 (wrong covariances, KF/RTS/DKF "
            "side by side) and the weakly observable 3-state model's KF gains (Table 3). Writes "
            "results.json and plots to --out. Takes several minutes on 2 CPU cores."
        ),
    )
    b.add_argument("--out", default="build/dkf-bench", help="output folder")
    b.add_argument("--quick", action="store_true", help="fewer epochs/trajectories (smoke run)")
    b.add_argument(
        "--only",
        nargs="*",
        default=None,
        help="subset of: fig65 table2 weak kalmannet (default: all)",
    )
    b.set_defaults(func=_bench)


def register_train(fam: argparse._SubParsersAction) -> None:
    p = fam.add_parser(
        "dkf",
        help="train a Deep Kalman Filter (untied gains, shared p and C) on trajectories",
        description=(
            "Train the Deep Kalman Filter of thesis sect. 6.4: K unrolled predictor/corrector "
            "layers x̂(k) = f(x̂(k-1), p) + K_G^(k) (y(k) - C f(...)), loss (6.4.6) = "
            "λ_K/2‖x̂(K)-x(K)‖² + Σ½‖y-Cx̂‖²_{R⁻¹} + Σ½‖K e‖²_{P⁻¹} + λ_D smoothing, Adam. "
            "Gains start at P(1)CᵀR⁻¹ (6.4.24). Only y (and x(K) if λ_K > 0) is used."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--system", required=True, help=SYSTEM_HELP)
    p.add_argument("--trajectories", required=True, help=".npz from `tinyunfold simulate`")
    p.add_argument("--out", required=True, help="output model file (.tum, kind dkf)")
    p.add_argument(
        "--loss",
        choices=("innovation", "map"),
        default="innovation",
        help="innovation: ½Σ‖y(k) - C x̂(k|k-1)‖² (prediction error; learns the true-covariance "
        "gains when the assumed covariances are wrong, docs/dkf.md); map: the thesis' (6.4.6)",
    )
    p.add_argument(
        "--gains",
        choices=("auto", "riccati", "free"),
        default="auto",
        help="riccati: gains from the Riccati recursion of learned Q, R, P0 (Cholesky factors); "
        "free: untied gain matrices (thesis 6.4.3); auto: riccati for linear systems, else free",
    )
    p.add_argument(
        "--gain-init",
        choices=("6.4.24", "kalman"),
        default="6.4.24",
        help="free gains start at P(1)CᵀR⁻¹ (6.4.24) or at the Kalman gains of the assumed "
        "covariances",
    )
    p.add_argument(
        "--backprop",
        choices=("truncated", "complete"),
        default="complete",
        help="complete (6.A.4) or truncated (6.A.5, --loss map only)",
    )
    p.add_argument("--lambda-k", type=float, default=0.0, help="λ_K, final-state weight")
    p.add_argument(
        "--lambda-d",
        type=float,
        default=None,
        help="λ_D, gain smoothing weight (default: 10 for free gains, 0 for Riccati gains, "
        "whose smoothness is built in and which H would bias)",
    )
    p.add_argument(
        "--lambda-c",
        type=float,
        default=0.0,
        help="λ_C, prior weight keeping learned covariances (Riccati gains) at the assumed ones",
    )
    p.add_argument(
        "--p-weight",
        choices=("pred", "P0", "Q", "identity"),
        default="pred",
        help="P_k of the loss: P(k|k-1) from the assumed covariances, P0, Q or 1",
    )
    p.add_argument("--r-weight", choices=("R", "identity"), default="R", help="R_k of the loss")
    p.add_argument("--lr", type=float, default=1e-2, help="μ_K, Adam learning rate of the gains")
    p.add_argument("--lr-ratio", type=float, default=100.0, help="μ_p/μ_K = μ_C/μ_K (6.4.23)")
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help=f"epochs (per stage); default: enough for {MIN_UPDATES} Adam updates, at least 30",
    )
    p.add_argument("--batch-size", type=int, default=10, help="trajectories per update")
    p.add_argument(
        "--whiteness-control",
        action="store_true",
        help="gain mask from the whiteness index (6.4.16-6.4.19) + three-step Algorithm 6.3.3",
    )
    p.add_argument(
        "--whiteness-patience",
        type=int,
        default=1,
        help="epochs in a row the whiteness stop condition must hold before a gain row freezes",
    )
    p.add_argument("--sindy-cycles", type=int, default=0, help="SINDy cycles in step 2")
    p.add_argument(
        "--beyond",
        choices=("last", "kalman"),
        default="last",
        help="gain after layer K when streaming: last trained gain or stationary Kalman gain",
    )
    p.add_argument("--layers", type=int, help="K (default: steps of the system)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_train)


def _simulate(args: argparse.Namespace) -> int:
    from tinyunfold.models.systems import load_system, save_trajectories, simulate

    system = load_system(args.system)
    data = simulate(system, args.n, args.steps, args.seed)
    path = save_trajectories(args.out, data, system)
    print(
        f"wrote {path}: {args.n} trajectories, K={data['y'].shape[1]}, "
        f"n={system.n} states, m={system.m} outputs"
    )
    return 0


def _train(args: argparse.Namespace) -> int:
    require_extra("train", "torch", "training")
    import torch

    from tinyunfold.models.dkf import DeepKalmanFilter
    from tinyunfold.models.systems import load_system, load_trajectories

    torch.set_num_threads(1)  # n x m matrices: a thread pool only adds overhead
    system = load_system(args.system)
    data = load_trajectories(args.trajectories, system)
    gain_param = args.gains
    if gain_param == "auto":
        gain_param = "riccati" if system.is_linear and not (
            args.whiteness_control or args.sindy_cycles) else "free"  # fmt: skip
    epochs = args.epochs
    if epochs is None:  # a budget in updates, so few trajectories still train to convergence
        per_epoch = -(-data["y"].shape[0] // max(args.batch_size, 1))
        epochs = max(30, -(-MIN_UPDATES // per_epoch))
    t0 = time.perf_counter()
    dkf = DeepKalmanFilter(
        system,
        n_layers=args.layers,
        backprop=args.backprop,
        lambda_k=args.lambda_k,
        lambda_d=(10.0 if gain_param == "free" else 0.0)
        if args.lambda_d is None
        else args.lambda_d,
        lambda_c=args.lambda_c,
        gain_init=args.gain_init,
        r_weight=args.r_weight,
        p_weight=args.p_weight,
        lr=args.lr,
        lr_ratio=args.lr_ratio,
        epochs=epochs,
        batch_size=args.batch_size,
        whiteness_control=args.whiteness_control,
        whiteness_patience=args.whiteness_patience,
        sindy_cycles=args.sindy_cycles,
        beyond=args.beyond,
        loss=args.loss,
        gain_param=gain_param,
        seed=args.seed,
        verbose=True,
    ).fit(data)
    dt = time.perf_counter() - t0
    model = dkf.to_modelfile()
    model.params["train_seconds"] = round(dt, 3)
    save_model(args.out, model)
    log = dkf.log_
    print(
        f"trained {len(log.loss)} epochs in {dt:.1f} s: "
        f"loss {log.loss[0]:.4g} -> {log.loss[-1]:.4g}"
    )
    if system.learn:
        labels = [sp.label() for sp in system.learn]
        print(
            "learned p: "
            + ", ".join(f"{lb}+={v:+.5g}" for lb, v in zip(labels, dkf.p_, strict=True))
        )
    print(f"wrote {args.out}")
    return 0


# ------------------------------------------------------------------------------ evaluation
def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a - b) ** 2))


def db(v: float) -> float:
    return float(10.0 * np.log10(v)) if v > 0 else float("-inf")


def compare_filters(dkf: Any, data: dict[str, np.ndarray]) -> dict[str, Any]:
    """DKF vs KF (assumed and true covariances) vs RTS on the same trajectories."""
    from tinyunfold.models.dkf import run_dkf_numpy, whiteness_deviation
    from tinyunfold.models.kalman import kalman_filter, rts_smoother

    s = dkf.system
    y = data["y"]
    N, T, m = y.shape
    x0 = data.get("x0_hat", np.tile(s.x0, (N, 1)))
    innov = np.zeros_like(y)
    xd = run_dkf_numpy(
        s, dkf.learned_coefs(), dkf.C_, dkf.gains_, dkf.gain_beyond_, y, x0, dkf.sindy_, innov
    )
    report: dict[str, Any] = {"n_trajectories": int(N), "steps": int(T), "K": int(dkf.K)}
    est: dict[str, np.ndarray] = {"dkf": xd}
    wh: dict[str, list[float]] = {
        "dkf": whiteness_deviation(np.moveaxis(innov, 1, 2)).mean(0).tolist()
    }
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

        coefs = dkf.system.model

        def f(X: np.ndarray) -> np.ndarray:
            return predict_numpy(s, coefs, X)

        rng = np.random.default_rng(0)
        est["enkf_assumed"] = np.array([
            ensemble_kalman_filter(y[i], f, s.C, s.Qf, s.Rf, x0[i], s.P0f, 200, rng)[0]
            for i in range(N)
        ])  # fmt: skip
    if exact_applies(dkf):
        report.update(exact_gain_report(dkf, T))
    if "x" in data:
        x = data["x"]
        report["mse"] = {k: mse(v[:, 1:], x[:, 1:]) for k, v in est.items()}
        report["mse_db"] = {k: db(v) for k, v in report["mse"].items()}
        report["mse_last10"] = {k: mse(v[:, -10:], x[:, -10:]) for k, v in est.items()}
    report["whiteness"] = wh
    report["_estimates"] = est
    return report


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
    from tinyunfold.models.dkf import gain_for_step
    from tinyunfold.models.kalman import gain_sequence_mse, kalman_gain_sequence

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


def evaluate_dkf(model: ModelFile, args: argparse.Namespace) -> int:
    """``tinyunfold evaluate`` for kind ``dkf``: MSE vs KF, whiteness, gain plots."""
    from tinyunfold.errors import ShapeError
    from tinyunfold.models.dkf import DeepKalmanFilter
    from tinyunfold.models.systems import load_trajectories

    if not args.trajectories:
        raise ShapeError("dkf models are evaluated on trajectories", "pass --trajectories test.npz")
    dkf = DeepKalmanFilter.from_modelfile(model)
    data = load_trajectories(args.trajectories, dkf.system)
    rep = compare_filters(dkf, data)
    est = rep.pop("_estimates")
    out = Path(args.out) if args.out else Path(str(args.model) + ".eval")
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(rep, indent=1))
    print(f"{rep['n_trajectories']} trajectories x {rep['steps']} steps (DKF has K={rep['K']})")
    if "mse" in rep:
        print(
            f"{'estimator':<12} {'MSE':>11} {'dB':>8} {'MSE last10':>11}  whiteness dev. per output"
        )
        for k in rep["mse"]:
            w = " ".join(f"{v:.3f}" for v in rep["whiteness"].get(k, []))
            print(f"{k:<12} {rep['mse'][k]:11.4e} {rep['mse_db'][k]:8.2f} "
                  f"{rep['mse_last10'][k]:11.4e}  {w}")  # fmt: skip
    if "exact_mse" in rep:
        ex, g = rep["exact_mse"], rep["gain_dist_steady"]
        print(f"exact expected MSE (true covariances, from the gains): DKF {ex['dkf']:.4e}, "
              f"KF assumed {ex['kf_assumed']:.4e}, KF true {ex['kf_true']:.4e}")  # fmt: skip
        print(f"gains vs true-covariance KF gains (k > 10, rel. Frobenius): DKF {g['dkf']:.2%}, "
              f"KF assumed {g['kf_assumed']:.2%}")  # fmt: skip
    if not args.no_plots:
        plot_gains(dkf, out / "gains.png")
        if "x" in data:
            plot_trajectory(data, est, out / "trajectory.png")
    print(f"wrote {out / 'report.json'}")
    return 0


def plot_gains(dkf: Any, path: Path, extra: dict[str, np.ndarray] | None = None) -> None:
    """Learned gains K_G^(k)_ij vs the classical Kalman gains (assumed covariances)."""
    require_extra("plots", "matplotlib", "plotting")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    G = dkf.gains_
    Kt, _ = dkf.kalman_reference()
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


def _bench(args: argparse.Namespace) -> int:
    require_extra("train", "torch", "dkf-bench")
    require_extra("plots", "matplotlib", "dkf-bench")
    from tinyunfold.pipelines.kalman_bench import run_bench

    res = run_bench(Path(args.out), quick=args.quick, only=args.only)
    print(json.dumps(res, indent=1)[:4000])
    return 0
