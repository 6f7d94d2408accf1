"""``tinyunfold evaluate --model M ...``: evaluates a model by what its kind does.

Hit detectors (every kind whose registry task is ``detector``) are evaluated on a dataset's test
mixtures next to the baselines their kind names; filters (``filter``) on trajectories. Options of
all evaluators are declared here once (each uses the ones it needs)."""

from __future__ import annotations

import argparse

from tinyunfold import kinds
from tinyunfold.errors import ModelFileError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a trained model on a dataset or trajectories")
    p.add_argument("--model", required=True, help="model file (.tum)")
    p.add_argument("--dataset", help="dataset folder (hit detectors)")
    p.add_argument("--trajectories", help="trajectories .npz (Kalman models)")
    p.add_argument("--out", help="folder for the JSON report and plots")
    p.add_argument("--no-plots", action="store_true", help="skip matplotlib figures")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    model = kinds.load_model(args.model)
    task = kinds.get(model.kind).task
    if task == "detector":
        from tinyunfold.pipelines.evaluation import evaluate_dataset

        text, problems = evaluate_dataset(model, args.dataset, args.out, plots=not args.no_plots)
        print(text)
        return 1 if problems else 0
    if task == "filter":
        from pathlib import Path

        from tinyunfold.pipelines.filters import evaluate_filter

        out = Path(args.out) if args.out else Path(str(args.model) + ".eval")
        _, text = evaluate_filter(model, args.trajectories, out, plots=not args.no_plots)
        print(text)
        return 0
    raise ModelFileError(
        f"model kind {model.kind!r} ({task}) has nothing to evaluate against",
        "evaluate a hit detector (--dataset) or a filter (--trajectories)",
    )
