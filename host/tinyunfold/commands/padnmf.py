"""``tinyunfold padnmf-bench``: PAD-NMF and Deep-NMF against the fixed-dictionary baselines."""

from __future__ import annotations

import argparse
import json

from tinyunfold.extras import require_extra

BENCH_EPILOG = """\
examples (numbers in docs/padnmf.md):
  tinyunfold dataset mdof --preset dataset1 --out data/d1
  tinyunfold padnmf-bench --dataset data/d1 --config configs/padnmf_dataset1.toml --out bench/d1
  tinyunfold padnmf-bench --dataset data/d1 --config cfg.toml --set features.n_bands=48 --out b48
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "padnmf-bench",
        help="train PAD-NMF and Deep-NMF on a dataset, compare with KL-NMF baselines",
        description="Train every kind with one config, evaluate them and the fixed-dictionary "
        "KL-NMF baselines (with and without the T-frame context) on the test mixtures, time the "
        "training against a straightforward autograd implementation, and write report.txt, "
        "report.json, indices_vs_snr.png, timing.json and the models into --out.",
        epilog=BENCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dataset", required=True, help="dataset folder")
    p.add_argument("--config", help="TOML config (see `tinyunfold train padnmf --help`)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one config value (repeat)",
    )
    p.add_argument("--kinds", default="padnmf,deepnmf", help="comma-separated kinds to train")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--no-speed", action="store_true", help="skip the autograd timing")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_bench)


def _bench(args: argparse.Namespace) -> int:
    require_extra("train", "torch", "the PAD-NMF bench")
    from tinyunfold.pipelines.evaluation import bench

    res = bench(
        args.dataset,
        args.config,
        args.set,
        args.out,
        [k for k in args.kinds.split(",") if k],
        progress=not args.no_progress,
        speed=not args.no_speed,
    )
    print(res["text"])
    print(json.dumps(res["timing"], indent=1))
    return 0
