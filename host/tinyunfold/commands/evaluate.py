"""``tinyunfold evaluate --model M ...``: dispatches on the model file's kind.

``EVALUATORS`` maps a kind to ``"module:function"``; the function takes the loaded
:class:`~tinyunfold.modelfile.ModelFile` and the parsed args and returns an exit code. Options of
all evaluators are declared here once (each evaluator uses the ones it needs)."""

from __future__ import annotations

import argparse
import importlib

from tinyunfold.errors import ModelFileError
from tinyunfold.modelfile import load_model

EVALUATORS: dict[str, str] = {
    "dkf": "tinyunfold.commands.dkf:evaluate_dkf",
    "padnmf": "tinyunfold.evaluation:evaluate_model",
    "deepnmf": "tinyunfold.evaluation:evaluate_model",
    "dnmfd": "tinyunfold.commands.nmfd:evaluate_dnmfd",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a trained model on a dataset or trajectories")
    p.add_argument("--model", required=True, help="model file (.tum)")
    p.add_argument("--dataset", help="dataset folder (hit detectors)")
    p.add_argument("--trajectories", help="trajectories .npz (Kalman models)")
    p.add_argument("--out", help="folder for the JSON report and plots")
    p.add_argument("--no-plots", action="store_true", help="skip matplotlib figures")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    target = EVALUATORS.get(model.kind)
    if target is None:
        raise ModelFileError(
            f"no evaluator for model kind {model.kind!r} (have: {', '.join(sorted(EVALUATORS))})"
        )
    mod, fn = target.split(":")
    return int(getattr(importlib.import_module(mod), fn)(model, args) or 0)
