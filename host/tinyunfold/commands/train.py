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
from typing import Any

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
        tunable = kind.training.finetune is not None
        add_training_arguments(t, dataset_required=not tunable)
        if tunable:
            _add_init_arguments(t)
        t.set_defaults(func=_train, kind=kind.name)
    for name in TRAIN_MODULES:
        importlib.import_module(name).register_train(fam)


INIT_EPILOG = """\
fine-tuning (--init): the published piano network of thesis 4.3.6 (docs/padnmf.md):
  D=../shared/external/padnmf-piano
  tinyunfold import padnmf-mat --params $D/NetParameters_ARM.mat --weights $D/NetWeights_ARM.mat \\
      --classes C4,E4,G4 --training-set $D/TrainingSetPiano_ARM.mat \\
      --train-labels $D/train_labels.csv --out piano.tum
  tinyunfold train padnmf --init piano.tum --training-set $D/TrainingSetPiano_ARM.mat \\
      --train-labels $D/train_labels.csv --test-set $D/TestingSetPiano_ARM.mat \\
      --test-labels $D/test_labels.csv --tolerance 1 --set model.n_epochs=15 --out piano_ft.tum

--init keeps the model's network (K, C, T, ranks, masks, α_H, ε, Ŵ) and starts the multiplicative
updates from its C-1 trained dictionaries; the config sets only training options and [detection].
"""


def _add_init_arguments(t: argparse.ArgumentParser) -> None:
    t.epilog = (t.epilog or "") + "\n" + INIT_EPILOG
    g = t.add_argument_group("fine-tuning a model on spectrogram sets (instead of --dataset)")
    g.add_argument("--init", metavar="MODEL.tum", help="model to start from (same kind)")
    g.add_argument("--training-set", help="TrainingSet*.mat: mixtures and clean targets")
    g.add_argument("--train-labels", help="CSV 'mixture,label' of the training set")
    g.add_argument("--test-set", help="TestingSet*.mat: report the --init and the new model on it")
    g.add_argument("--test-labels", help="CSV 'mixture,label' of the test set")
    g.add_argument(
        "--tolerance",
        type=int,
        default=0,
        metavar="N",
        help="also report with a ±N-window tolerance on the test labels (consecutive windows)",
    )
    g.add_argument("--report", help="folder for the test report (report.json)")


def _finetune(args: argparse.Namespace, cfg: dict[str, dict[str, Any]]) -> int:
    from tinyunfold.errors import TinyUnfoldError
    from tinyunfold.pipelines.evaluation import format_spectrogram_set_report
    from tinyunfold.pipelines.plots import plot_curves
    from tinyunfold.pipelines.spectrogram_sets import evaluate_models, finetune_model

    if args.dataset or not (args.training_set and args.train_labels):
        raise TinyUnfoldError(
            "--init fine-tunes on a spectrogram set: it needs --training-set and --train-labels "
            "(not --dataset)",
            "see the --init example in `tinyunfold train padnmf --help`",
        )
    if bool(args.test_set) != bool(args.test_labels) or args.tolerance < 0:
        raise TinyUnfoldError(
            "--test-set and --test-labels go together; --tolerance is >= 0",
            "give both (and e.g. --tolerance 1), or neither",
        )
    t0 = time.time()
    ft = finetune_model(
        args.kind, args.init, args.training_set, args.train_labels, cfg, not args.no_progress
    )
    trained = ft.trained
    out = Path(args.out)
    kinds.save_model(out, trained.modelfile())
    (out.parent / (out.name + ".loss.json")).write_text(json.dumps(trained.curves))
    if any(trained.curves.values()):
        title = f"train {args.kind} --init {Path(args.init).name}"
        plot_curves(trained.curves, title, out.parent / (out.name + ".loss.png"))
    for msg in trained.extra.get("health", []):
        print(f"tinyunfold: warning: degenerate detector: {msg}", file=sys.stderr)
    info = trained.extra["finetune"]
    el = trained.curves.get("epoch_loss") or []
    print(
        f"wrote {out} ({time.time() - t0:.1f} s; {info['n_mixtures']} training mixtures; "
        f"dictionaries changed by up to {info['max_rel_change']:.3g} (relative); loss "
        + (f"{el[0]:.4g} -> {el[-1]:.4g}" if el else "n/a")
        + ")"
    )
    if args.test_set:
        t1 = time.time()
        reps = evaluate_models(
            {
                "--init model (its stored detector)": ft.init,
                "--init model, detector refitted (0 epochs)": ft.untrained.modelfile(),
                "fine-tuned": trained.modelfile(),
            },
            args.test_set,
            args.test_labels,
            args.tolerance,
        )
        for name, rep in reps.items():
            print(format_spectrogram_set_report(name, rep))
        print(f"(test forward passes {time.time() - t1:.1f} s)")
        if args.report:
            rd = Path(args.report)
            rd.mkdir(parents=True, exist_ok=True)
            (rd / "report.json").write_text(json.dumps(reps, indent=1))
            print(f"wrote {rd / 'report.json'}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from tinyunfold.datasets import load_dataset
    from tinyunfold.errors import TinyUnfoldError
    from tinyunfold.pipelines.plots import plot_curves

    require_extra("train", "torch", "training")
    require_extra("plots", "matplotlib", "the training-loss plot")
    training = kinds.get(args.kind).require("training")
    cfg = training.load_config(args.config, args.set)
    if getattr(args, "init", None):
        return _finetune(args, cfg)
    extra_opts = [
        o
        for o in ("training_set", "train_labels", "test_set", "test_labels", "report")
        if getattr(args, o, None)
    ]
    if extra_opts:
        raise TinyUnfoldError(
            f"--{extra_opts[0].replace('_', '-')} needs --init (fine-tuning on a spectrogram set)",
            f"see `tinyunfold train {args.kind} --help`",
        )
    if not args.dataset:
        raise TinyUnfoldError(
            "train needs --dataset (or --init with a spectrogram set)",
            f"see `tinyunfold train {args.kind} --help`",
        )
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
