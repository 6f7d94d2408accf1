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
from pathlib import Path

from tinyunfold.extras import require_extra
from tinyunfold.kinds import save_model

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
    k = fam.add_parser(
        "kalmannet",
        help="train KalmanNet (thesis 6.3), the learned-gain baseline of the DKF",
        description=(
            "Train KalmanNet: a GRU of hidden size c (n² + m²) maps innovation features to the "
            "gain of x̂(k) = f(x̂(k-1)) + K(k) (y(k) - C f(...)) (6.3.3), supervised on full "
            "states (loss 6.3.4), Adam. Evaluate it with `tinyunfold evaluate --trajectories`."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    k.add_argument("--system", required=True, help=SYSTEM_HELP)
    k.add_argument("--trajectories", required=True, help=".npz with states x (`simulate`)")
    k.add_argument("--out", required=True, help="output model file (.tum, kind kalmannet)")
    k.add_argument("--hidden-mult", type=int, default=2, help="c of the hidden size c (n² + m²)")
    k.add_argument("--epochs", type=int, default=100, help="training epochs")
    k.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    k.add_argument("--batch-size", type=int, default=10, help="trajectories per batch")
    k.add_argument("--seed", type=int, default=0, help="initialisation and batch-order seed")
    k.set_defaults(func=_train_kalmannet)
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
        help="epochs (per stage); default: enough for 300 Adam updates, at least 30",
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
    from tinyunfold.training.dkf import train_dkf

    dkf, dt = train_dkf(args.system, args.trajectories, vars(args))
    model = dkf.to_modelfile()
    model.params["train_seconds"] = round(dt, 3)
    save_model(args.out, model)
    log = dkf.log_
    print(
        f"trained {len(log.loss)} epochs in {dt:.1f} s: "
        f"loss {log.loss[0]:.4g} -> {log.loss[-1]:.4g}"
    )
    if dkf.system.learn:
        labels = [sp.label() for sp in dkf.system.learn]
        print(
            "learned p: "
            + ", ".join(f"{lb}+={v:+.5g}" for lb, v in zip(labels, dkf.p_, strict=True))
        )
    print(f"wrote {args.out}")
    return 0


def _train_kalmannet(args: argparse.Namespace) -> int:
    require_extra("train", "torch", "training")
    from tinyunfold.training.dkf import train_kalmannet

    net, dt = train_kalmannet(
        args.system, args.trajectories, args.hidden_mult, args.epochs, args.lr,
        args.batch_size, args.seed,
    )  # fmt: skip
    save_model(args.out, net.to_modelfile())
    print(f"trained {args.epochs} epochs in {dt:.1f} s: loss {net.loss_[0]:.4g} -> "
          f"{net.loss_[-1]:.4g}; {net.n_params_} parameters")  # fmt: skip
    print(f"wrote {args.out}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    require_extra("train", "torch", "dkf-bench")
    require_extra("plots", "matplotlib", "dkf-bench")
    from tinyunfold.pipelines.kalman_bench import run_bench

    res = run_bench(Path(args.out), quick=args.quick, only=args.only)
    print(json.dumps(res, indent=1)[:4000])
    return 0
