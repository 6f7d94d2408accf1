"""``tinyunfold model``: create and inspect model files."""

from __future__ import annotations

import argparse
import json

import numpy as np

from tinyunfold.errors import ShapeError
from tinyunfold.kinds import load_model, save_model


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("model", help="create or inspect model files (.tum)")
    msub = p.add_subparsers(dest="what", metavar="<what>", required=True)
    n = msub.add_parser(
        "nmf",
        help="a fixed-dictionary KL-NMF model (random dictionary, or W from a .npy file)",
        description="Create an `nmf` model: K layers of eq. (4.2.2) with a fixed dictionary W.",
    )
    n.add_argument("--W", help="dictionary .npy (F x R, nonnegative); default: random")
    n.add_argument("--features", type=int, default=32, help="F for a random dictionary")
    n.add_argument("--rank", type=int, default=8, help="R for a random dictionary")
    n.add_argument("--frames", type=int, default=4, help="N, frames per input block")
    n.add_argument("--layers", type=int, default=50, help="K, unrolled layers")
    n.add_argument("--alpha-h", type=float, default=0.0, help="α_H, sparsity weight")
    n.add_argument("--eps", type=float, default=1e-9, help="ε floor")
    n.add_argument("--seed", type=int, default=0, help="seed of the random dictionary")
    n.add_argument("--out", required=True, help="output .tum file")
    n.set_defaults(func=_nmf)
    k = msub.add_parser(
        "kinds",
        help="list the model kinds: family, task, whether they deploy to a board",
        description="The kind registry (tinyunfold.kinds): every model kind a .tum file can hold.",
    )
    k.set_defaults(func=_kinds)
    s = msub.add_parser(
        "stream",
        help="set a hit detector's streaming parameters (window stride, decision rule)",
        description="Set params['stream'] of a detector model: windows start every --stride "
        "frames (default: the window length n, no overlap; smaller strides overlap and hits seen "
        "by several windows are reported once, docs/architecture.md) and the device runs "
        "--decision (threshold 4.3.32, ur 4.3.37, or readout: the linear readout of H).",
    )
    s.add_argument("model")
    s.add_argument("--stride", type=int, help="frames between window starts (1..n)")
    s.add_argument(
        "--decision", choices=("threshold", "ur", "readout"), help="decision rule on the device"
    )
    s.add_argument(
        "--warm",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="start each window after the first from the previous window's H (warm_stride = "
        "stride; --no-warm: warm_stride = 0, every window cold)",
    )
    s.add_argument("--out", help="output .tum (default: overwrite the model)")
    s.set_defaults(func=_stream)
    i = msub.add_parser("info", help="print a model file's kind, params and arrays")
    i.add_argument("model")
    i.set_defaults(func=_info)


def _nmf(args: argparse.Namespace) -> int:
    from tinyunfold.models.nmf import NMFInference

    if args.W:
        from tinyunfold.datasets.io import read_npy

        W = read_npy(args.W, "dictionary --W").astype(np.float32)
        if W.ndim != 2:
            raise ShapeError(f"dictionary --W {args.W} has shape {W.shape}", "pass an F x R matrix")
    else:
        W = np.random.default_rng(args.seed).random((args.features, args.rank)).astype(np.float32)
    model = NMFInference(
        W, n_layers=args.layers, alpha_h=args.alpha_h, eps=args.eps, n_frames=args.frames
    ).to_modelfile()
    save_model(args.out, model)
    print(f"wrote {args.out}: nmf F={W.shape[0]} R={W.shape[1]} N={args.frames} K={args.layers}")
    return 0


def _stream(args: argparse.Namespace) -> int:
    from tinyunfold.pipelines.detect import stream_config

    m = load_model(args.model)
    params = dict(m.params)
    st = dict(params.get("stream") or {})
    if args.stride is not None:
        st["stride"] = args.stride
    if args.decision is not None:
        st["decision"] = args.decision
    params["stream"] = st
    if args.warm is not None:  # the forward pass's warm start follows the stream's stride
        stride = stream_config(type(m)(kind=m.kind, params=params, arrays=m.arrays)).stride
        params["warm_stride"] = stride if args.warm else 0
    m2 = type(m)(kind=m.kind, params=params, arrays=m.arrays)
    cfg = stream_config(m2)  # refuses what the device does not run, with the reason
    out = save_model(args.out or args.model, m2)
    ws = int(params.get("warm_stride", 0))
    start = "warm" if cfg.warm else ("cold" if ws == 0 else f"cold (warm_stride {ws} != stride)")
    print(
        f"wrote {out}: stride {cfg.stride} of {cfg.n_frames} frames, decision {cfg.decision}, "
        f"{start} starts"
    )
    return 0


def _kinds(args: argparse.Namespace) -> int:
    from tinyunfold import kinds

    for k in kinds.REGISTRY.values():
        deploy = "deploys" if k.deploys else f"does not deploy: {k.not_deployable}"
        print(f"{k.name:12s} {k.family:11s} {k.task:11s} {k.summary}")
        print(f"{'':12s} {deploy}")
    return 0


def _info(args: argparse.Namespace) -> int:
    m = load_model(args.model)
    arrays = {k: f"{v.dtype}{list(v.shape)}" for k, v in m.arrays.items()}
    print(json.dumps({"kind": m.kind, "params": m.params, "arrays": arrays}, indent=1))
    return 0
