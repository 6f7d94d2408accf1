"""``tinyunfold sweep <kind>``: search training configurations of a detector with Optuna
(argparse and printing; the pipeline is :mod:`tinyunfold.pipelines.sweep`)."""

from __future__ import annotations

import argparse

from tinyunfold import kinds

DESCRIPTION = """\
Search training configurations of a hit detector with Optuna (pip install "tinyunfold[sweep]").

Each trial samples the keys of --space, trains the kind on k-1 folds of the dataset's split=train
mixtures and scores the held-out fold; the objective is the set-exact accuracy (the reported set
of classes equals the true set) of the detector's threshold decision (--decision ur: its
uncertainty reduction), pooled over the folds. The test split is never read. At the end the best
config of the whole study is written to OUT/best.toml, which `tinyunfold train KIND --config`
accepts.

The space is a TOML file with the sections of a training config, one table per sampled key:

  [model]
  n_layers = {int = [20, 200], log = true}
  alpha_h = {float = [1e-4, 1e-1], log = true}
  h_mask = {choice = [true, false]}
  [detection]
  threshold_rule = {choice = ["fpr", "gm"]}

(int/float: [low, high], optional log = true or step; choice: a list). Fixed values go into the
base config (--config, --set). Trials are stored in an Optuna study (default SQLite OUT/study.db):
rerunning the same command continues the study; any SQLAlchemy URL (--storage
postgresql://user@host/db) lets workers on several machines share one study (run the same
command with the same --storage and --study-name on each). --jobs N starts N worker processes
sharing the database (processes, not threads: training is CPU bound). Set [model] n_threads = 1
(the default) so N workers use N cores.
"""

EPILOG = """\
examples:
  tinyunfold sweep padnmf --dataset data/d2h --config examples/padnmf/dataset2-hard.toml \\
      --space space.toml --out sweep/ --trials 40 --jobs 2
  tinyunfold sweep padnmf ... --out sweep/ --trials 20          # continue the same study
  tinyunfold train padnmf --dataset data/d2h --config sweep/best.toml --out best.tum
"""


def register(sub: argparse._SubParsersAction) -> None:
    sweepable = [k.name for k in kinds.REGISTRY.values() if k.training and k.detection]
    p = sub.add_parser(
        "sweep",
        help="search detector training configs with Optuna (validation folds of split=train)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("kind", choices=sweepable, help="the detector kind to train")
    p.add_argument("--dataset", required=True, help="dataset folder (only split=train is read)")
    p.add_argument("--space", required=True, help="search-space TOML (see above)")
    p.add_argument("--out", required=True, help="folder for best.toml (and study.db by default)")
    p.add_argument("--config", help="base training config TOML (`train KIND --help`)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one base config value, e.g. --set model.n_epochs=2 (repeat)",
    )
    p.add_argument(
        "--storage", help="SQLAlchemy database URL of the study (default sqlite:///OUT/study.db)"
    )
    p.add_argument("--study-name", help="study name (default KIND-sweep); reused: continued")
    p.add_argument("--trials", type=int, default=20, help="trials to add in this run (20)")
    p.add_argument(
        "--timeout",
        type=float,
        help="seconds after which no new trial starts (running trials finish)",
    )
    p.add_argument("--jobs", type=int, default=1, help="worker processes sharing the study (1)")
    p.add_argument("--folds", type=int, default=3, help="k of the k-fold validation (3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the folds and the sampler (0)")
    p.add_argument(
        "--decision",
        choices=["threshold", "ur", "readout"],
        default="threshold",
        help="decision scored: thresholds (default), uncertainty reduction or the readout "
        "([detection] readout = true)",
    )
    p.set_defaults(func=_run)


def _fmt_params(params: dict[str, object]) -> str:
    return " ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )


def _run(args: argparse.Namespace) -> int:
    from tinyunfold.pipelines import sweep

    opts = sweep.SweepOptions(
        kind=args.kind,
        dataset=args.dataset,
        space=args.space,
        out=args.out,
        config=args.config,
        overrides=tuple(args.set),
        storage=args.storage,
        study_name=args.study_name,
        trials=args.trials,
        timeout=args.timeout,
        jobs=args.jobs,
        folds=args.folds,
        seed=args.seed,
        decision=args.decision,
    )
    plan = sweep.prepare(opts)
    sizes = "/".join(str(len(f)) for f in plan.folds)
    print(
        f"study {opts.name!r} in {plan.display_url}: {plan.n_before} trials so far; "
        f"{opts.folds}-fold validation of {len(plan.dataset.mixtures)} split=train mixtures "
        f"(held out {sizes}; the test split is not read); objective: set-exact accuracy "
        f"({opts.decision} decision); {opts.trials} trials, {max(1, min(opts.jobs, opts.trials))} "
        f"worker(s); space: {', '.join(p.name for p in plan.space)}",
        flush=True,
    )

    def report(ev: sweep.TrialEvent) -> None:
        if ev.state == "COMPLETE" and ev.value is not None:
            what = f"{100 * ev.value:5.1f}% ({ev.correct}/{ev.total}) in {ev.seconds:.1f} s"
        else:
            what = f"failed after {ev.seconds:.1f} s ({ev.error or 'no reason recorded'})"
        best = (
            ""
            if ev.best_number is None
            else f"; best {100 * (ev.best_value or 0):.1f}% (trial {ev.best_number})"
        )
        print(
            f"trial {ev.number:3d} [{ev.worker}] {what}{best}; {_fmt_params(ev.params)}",
            flush=True,
        )
        for note in ev.notes[:2]:
            print(f"    note: {note}", flush=True)

    res = sweep.run_sweep(plan, report)
    print(f"{res.n_new} trials added, {res.n_total} in the study ({res.n_complete} complete); top:")
    for number, value, params in res.top:
        print(f"  trial {number:3d} {100 * value:5.1f}%  {_fmt_params(params)}")
    print(
        f"best: trial {res.best_number}, set-exact {100 * res.best_value:.1f}% "
        f"({res.best_correct}/{res.best_total}) on the validation folds; wrote {res.best_path}\n"
        f"train it: tinyunfold train {opts.kind} --dataset {opts.dataset} "
        f"--config {res.best_path} --out {opts.kind}-best.tum"
    )
    return 0
