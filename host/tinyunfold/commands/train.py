"""``tinyunfold train <kind>``: one sub-command per trainable model kind.

Every kind of the registry with a dataset ``training`` gets ``train <kind> --dataset D --config
C.toml --out M.tum`` (its config documented in its ``--help``); kinds that train from other data
(the Deep Kalman Filter from trajectories) register their own parser in ``TRAIN_MODULES``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

from tinyunfold import kinds
from tinyunfold.commands.config import add_training_arguments
from tinyunfold.extras import require_extra

TRAIN_MODULES: list[str] = ["tinyunfold.commands.dkf"]

EPILOG = """\
examples:
  tinyunfold dataset mdof --preset dataset1 --out data/d1
  tinyunfold train {kind} --dataset data/d1 --config cfg.toml --out d1.tum
  tinyunfold evaluate --model d1.tum --dataset data/d1 --out report/
  tinyunfold detect --model d1.tum mixture.wav --json

Training uses the mixtures with split=train in labels.csv (an error if none is marked) and
their target stems (the loss needs the clean target S); the thresholds are fitted on the no-hit
training mixtures only. The loss curves are written next to the model (<out>.loss.png/.json).
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model (see `tinyunfold train --help`)")
    fam = p.add_subparsers(dest="family", metavar="<kind>", required=True)
    for kind in kinds.REGISTRY.values():
        if kind.training is None:
            continue
        t = fam.add_parser(
            kind.name,
            help=kind.summary,
            description=kind.training.help,
            epilog=EPILOG.format(kind=kind.name),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_training_arguments(t)
        t.set_defaults(func=_train, kind=kind.name)
    for name in TRAIN_MODULES:
        importlib.import_module(name).register_train(fam)


def _train(args: argparse.Namespace) -> int:
    from tinyunfold.datasets import load_dataset
    from tinyunfold.pipelines.plots import plot_curves

    require_extra("train", "torch", "training")
    require_extra("plots", "matplotlib", "the training-loss plot")
    training = kinds.get(args.kind).require("training")
    cfg = training.load_config(args.config, args.set)
    ds = load_dataset(args.dataset)
    t0 = time.time()
    trained = training.fit(ds, cfg, not args.no_progress)
    out = Path(args.out)
    kinds.save_model(out, trained.modelfile())
    (out.parent / (out.name + ".loss.json")).write_text(json.dumps(trained.curves))
    if any(trained.curves.values()):
        title = f"train {args.kind}: {Path(args.dataset).name}"
        plot_curves(trained.curves, title, out.parent / (out.name + ".loss.png"))
    for msg in trained.extra.get("health", []):
        print(f"tinyunfold: warning: degenerate detector: {msg}", file=sys.stderr)
    thr = trained.detector.thresholds.tolist()
    print(f"wrote {out} ({time.time() - t0:.1f} s; thresholds {thr})")
    return 0
