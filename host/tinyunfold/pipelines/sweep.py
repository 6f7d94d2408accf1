"""``tinyunfold sweep``: search detector training configurations with Optuna.

A sweep trains a dataset-trained detector kind (``padnmf``, ``deepnmf``, ...) once per fold of a
k-fold split of the ``split=train`` mixtures of a dataset folder and scores each trained model on
its held-out fold. The objective is the **set-exact accuracy** (the reported set of classes equals
the true set, :func:`tinyunfold.pipelines.evaluation.set_exact_scores`) of the detector's
threshold decision (or its uncertainty reduction, ``decision="ur"``), pooled over the validation
folds: correct mixtures / validation mixtures. The test split is never read
(``load_dataset(..., only_split="train")`` skips every other labels.csv row unread).

Trials live in an Optuna study in a SQLAlchemy database (default: SQLite ``<out>/study.db``).
Rerunning with the same storage and study name continues the study; workers on several
machines share one study through one database URL. ``jobs > 1`` starts separate worker
processes (``spawn``) that share the database: training is CPU bound and holds the GIL in numpy
and torch, so threads (Optuna's ``n_jobs``) would not run trials in parallel.

The search space is a small TOML file with the sections of a training config, one table per
sampled key::

    [model]
    n_layers = {int = [20, 200], log = true}
    alpha_h = {float = [1e-4, 1e-1], log = true}
    h_mask = {choice = [true, false]}
    [detection]
    threshold_rule = {choice = ["fpr", "gm"]}

``int`` / ``float`` take ``[low, high]`` (inclusive) and optionally ``log = true`` or ``step``;
``choice`` a list of values. Fixed values go into the base config (``--config``, ``--set``).
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import queue as queue_mod
import socket
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from tinyunfold import kinds
from tinyunfold.datasets import load_dataset
from tinyunfold.datasets.prep import model_front_end
from tinyunfold.errors import TinyUnfoldError, check_known_keys, one_line
from tinyunfold.extras import require_extra
from tinyunfold.pipelines.evaluation import evaluate_methods
from tinyunfold.training.config import SECTIONS, read_toml

SPACE_FIX = (
    "write one table per key, e.g. [model] n_layers = {int = [20, 200], log = true}, "
    'alpha_h = {float = [1e-4, 1e-1], log = true}, h_mask = {choice = [true, false]} (docs/padnmf.md "Sweeps")'
)
STORAGE_FIX = (
    "use sqlite:///path/study.db (its folder must exist) or a SQLAlchemy database URL "
    "(dialect+driver://user:password@host/database) whose driver is installed"
)
DECISIONS = ("threshold", "ur", "readout")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
SPEC_KEYS = ("int", "float", "choice", "log", "step")
# study attributes that must match when a study is continued (scores are only comparable then)
STUDY_KEYS = ("kind", "folds", "fold_seed", "decision", "space", "base_config", "train_set")


class SweepError(TinyUnfoldError):
    """A bad search space, storage URL, study or sweep option."""

    default_fix = "see `tinyunfold sweep --help`"


# ---------------------------------------------------------------------------------- space


@dataclass(frozen=True)
class Param:
    """One sampled config key: ``section.key`` from ``int``/``float`` ``[low, high]`` or ``choice``."""

    section: str
    key: str
    kind: str  # "int", "float" or "choice"
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}"

    def suggest(self, trial: Any) -> Any:
        """The value of this key for an Optuna ``trial``."""
        if self.kind == "int":
            step = int(self.step) if self.step is not None else 1
            return trial.suggest_int(
                self.name, int(self.low), int(self.high), step=step, log=self.log
            )
        if self.kind == "float":
            return trial.suggest_float(
                self.name, float(self.low), float(self.high), step=self.step, log=self.log
            )
        return trial.suggest_categorical(self.name, list(self.choices))

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, (), False)} | {
            "choices": list(self.choices)
        }


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _parse_param(path: str, section: str, key: str, spec: Any) -> Param:
    name = f"{section}.{key}"
    where = f"space {path}: {name}"
    if not isinstance(spec, dict):
        raise SweepError(
            f"{where} = {spec!r} is not a range or a choice",
            f"{SPACE_FIX}; fixed values go into the base config (--config, --set)",
        )
    check_known_keys(spec, SPEC_KEYS, where, SPACE_FIX, SweepError)
    given = [k for k in ("int", "float", "choice") if k in spec]
    if len(given) != 1:
        raise SweepError(f"{where} needs exactly one of int, float, choice", SPACE_FIX)
    what = given[0]
    log = spec.get("log", False)
    step = spec.get("step")
    if not isinstance(log, bool):
        raise SweepError(f"{where}: log must be true or false, got {log!r}", SPACE_FIX)
    if what == "choice":
        choices = spec["choice"]
        if "log" in spec or step is not None:
            raise SweepError(f"{where}: log and step apply to int and float ranges only", SPACE_FIX)
        if (
            not isinstance(choices, list)
            or not choices
            or not all(isinstance(c, str | bool | int | float) for c in choices)
        ):
            raise SweepError(
                f"{where}: choice must be a non-empty list of strings, numbers or booleans",
                SPACE_FIX,
            )
        if len({json.dumps(c) for c in choices}) != len(choices):
            raise SweepError(f"{where}: choice repeats a value", "list each value once")
        return Param(section, key, "choice", choices=tuple(choices))
    rng = spec[what]
    ok_type = (
        (lambda v: isinstance(v, int) and not isinstance(v, bool)) if what == "int" else _is_num
    )
    if not isinstance(rng, list) or len(rng) != 2 or not all(ok_type(v) for v in rng):
        kind = "integers" if what == "int" else "finite numbers"
        raise SweepError(f"{where}: {what} must be [low, high] of two {kind}", SPACE_FIX)
    low, high = rng
    if low > high:
        raise SweepError(f"{where}: low {low} > high {high}", "write the range as [low, high]")
    if log and low <= 0:
        raise SweepError(
            f"{where}: a log range needs low > 0, got {low}", "use low > 0 or log = false"
        )
    if step is not None:
        if log:
            raise SweepError(f"{where}: step and log = true do not go together", "drop one")
        if not ok_type(step) or step <= 0:
            raise SweepError(f"{where}: step must be a positive {what}, got {step!r}", SPACE_FIX)
    return Param(section, key, what, low=low, high=high, log=log, step=step)


def load_space(path: str, kind: str) -> list[Param]:
    """Read a search-space TOML for ``kind``; every key must be a key of the kind's config.

    Unknown sections, keys of a range, or config keys are one-line errors naming the closest
    match (the kind's config loader checks the config keys, as for ``train --config``).
    """
    training = kinds.get(kind).require("training")
    raw = read_toml(path, "search space", SPACE_FIX)
    params: list[Param] = []
    for section, table in raw.items():
        check_known_keys(
            [section], SECTIONS, f"space {path}: unknown section", SPACE_FIX, SweepError
        )
        if not isinstance(table, dict):
            raise SweepError(f"space {path}: [{section}] must be a table", SPACE_FIX)
        for key, spec in table.items():
            p = _parse_param(path, section, key, spec)
            probe = p.choices[0] if p.kind == "choice" else p.low
            try:  # the same key check as `train --config` (nothing is trained here)
                training.load_config(None, [f"{p.name}={toml_value(probe)}"])
            except TinyUnfoldError as err:
                raise SweepError(
                    f"space {path}: [{section}] unknown key {key[:60]!r} for {kind}", err.fix
                ) from None
            params.append(p)
    if not params:
        raise SweepError(f"space {path} samples no key", SPACE_FIX)
    return params


# ---------------------------------------------------------------------------------- configs


def toml_value(v: Any) -> str:
    """A TOML literal of a config value (bool, int, float, str or a list of them)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(v, list | tuple):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise SweepError(f"config value {v!r} has no TOML form", "use numbers, strings or booleans")


def config_toml(cfg: dict[str, dict[str, Any]], header: Sequence[str] = ()) -> str:
    """The TOML text of a training config (``[features]``, ``[model]``, ``[detection]``)."""
    lines = [f"# {h}" for h in header]
    for section in SECTIONS:
        lines += ["", f"[{section}]"]
        lines += [f"{k} = {toml_value(v)}" for k, v in sorted(cfg.get(section, {}).items())]
    return "\n".join(lines).lstrip("\n") + "\n"


def trial_config(
    kind: str, config: str | None, overrides: Sequence[str], values: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """The training config of one trial: the base config, its ``--set`` overrides, then the
    sampled ``values`` (``section.key -> value``), read by the kind's own config loader."""
    training = kinds.get(kind).require("training")
    sets = [*overrides, *(f"{k}={toml_value(v)}" for k, v in values.items())]
    cfg: dict[str, dict[str, Any]] = training.load_config(config, sets)
    return cfg


# ---------------------------------------------------------------------------------- folds


def make_folds(label_sets: Sequence[Sequence[int]], k: int, seed: int) -> list[list[int]]:
    """k folds of mixture indices, stratified by the set of classes present (no-hit, each
    single class, each pair, ...): each label set is shuffled (``seed``) and dealt round-robin,
    so every fold holds its share of the no-hit mixtures the thresholds are fitted on."""
    n = len(label_sets)
    if not 2 <= k <= n:
        raise SweepError(
            f"{k}-fold validation needs 2 <= folds <= {n} (the split=train mixtures)",
            "choose --folds between 2 and the number of training mixtures",
        )
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, ls in enumerate(label_sets):
        groups.setdefault(tuple(sorted(ls)), []).append(i)
    rng = np.random.default_rng(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    dealt = 0
    for key in sorted(groups):
        for i in rng.permutation(groups[key]):
            folds[dealt % k].append(int(i))
            dealt += 1
    return [sorted(f) for f in folds]


@dataclass(frozen=True)
class Score:
    """Validation result of one config: ``correct`` of ``total`` held-out mixtures set-exact."""

    correct: int
    total: int
    per_fold: tuple[float, ...]
    false_positive_any: float | None
    warnings: tuple[str, ...] = ()

    @property
    def rate(self) -> float:
        return self.correct / self.total if self.total else 0.0


def cross_validate(
    ds: Any,
    kind: str,
    cfg: dict[str, dict[str, Any]],
    folds: Sequence[Sequence[int]],
    decision: str = "threshold",
) -> Score:
    """Train ``kind`` with ``cfg`` on all but one fold of ``ds.mixtures`` (the ``split=train``
    mixtures) and score the set-exact accuracy of ``decision`` on the held-out fold; pooled.

    Training sees only the fold's training part (its split is ``train``; augmentation draws from
    ``targets/`` and ``noise/``), the thresholds are fitted on it, the held-out fold is only
    transformed and scored (:func:`tinyunfold.pipelines.evaluation.evaluate_methods`).
    """
    from tinyunfold.detection import DegenerateDetectorWarning

    training = kinds.get(kind).require("training")
    correct = total = 0
    fp = [0, 0]
    per_fold = []
    notes: list[str] = []
    for val in folds:
        held = set(val)
        fit_part = [replace(m, split="train") for i, m in enumerate(ds.mixtures) if i not in held]
        val_part = [replace(m, split="test") for i, m in enumerate(ds.mixtures) if i in held]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DegenerateDetectorWarning)
            trained = training.fit(replace(ds, mixtures=fit_part), cfg, False)
        notes += [one_line(str(w.message), 200) for w in caught]
        feats, scale = model_front_end(trained.modelfile().params)
        method: dict[str, Any] = {kind: (trained.transformer, trained.detector, {})}
        res = evaluate_methods(method, replace(ds, mixtures=val_part), feats, scale, progress=False)
        scores = res[kind]["scores"]
        if decision == "threshold":
            rule: str | None = "threshold"
        elif decision == "readout":
            rule = "readout" if "readout" in scores else None
        else:
            rule = next((r for r in scores if r.startswith("UR")), None)
        if rule is None:
            raise SweepError(
                f"decision {decision}: the detector fitted no "
                + ("readout" if decision == "readout" else "uncertainty reduction"),
                "use --decision threshold, or set [detection] "
                + ("readout = true" if decision == "readout" else "ur_* keys that fit one"),
            )
        se = scores[rule]["set_exact"]
        correct += int(se["overall"]["k"])
        total += int(se["overall"]["n"])
        per_fold.append(se["overall"]["rate"] or 0.0)
        fp[0] += int(se["false_positive_any"]["k"])
        fp[1] += int(se["false_positive_any"]["n"])
    return Score(
        correct,
        total,
        tuple(per_fold),
        fp[0] / fp[1] if fp[1] else None,
        tuple(dict.fromkeys(notes)),
    )


# ---------------------------------------------------------------------------------- study


@dataclass(frozen=True)
class SweepOptions:
    """What ``tinyunfold sweep`` was asked (picklable: sent to the worker processes)."""

    kind: str
    dataset: str
    space: str
    out: str
    config: str | None = None
    overrides: tuple[str, ...] = ()
    storage: str | None = None
    study_name: str | None = None
    trials: int = 20
    timeout: float | None = None
    jobs: int = 1
    folds: int = 3
    seed: int = 0
    decision: str = "threshold"

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{(Path(self.out) / 'study.db').resolve()}"

    @property
    def name(self) -> str:
        return self.study_name or f"{self.kind}-sweep"


@dataclass(frozen=True)
class TrialEvent:
    """One finished trial, as reported to the command's printer."""

    number: int
    worker: str
    state: str  # "COMPLETE" or "FAIL"
    value: float | None
    correct: int | None
    total: int | None
    seconds: float
    params: dict[str, Any]
    error: str | None
    best_number: int | None
    best_value: float | None
    notes: tuple[str, ...] = ()


@dataclass
class SweepPlan:
    """A prepared sweep: the space, the training mixtures, the folds and the open study."""

    options: SweepOptions
    space: list[Param]
    dataset: Any
    folds: list[list[int]]
    base_config: dict[str, dict[str, Any]]
    n_before: int
    display_url: str
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SweepResult:
    """The outcome: trials of this run and in the study, the best trial and its config file."""

    n_new: int
    n_total: int
    n_complete: int
    best_number: int
    best_value: float
    best_correct: int
    best_total: int
    best_params: dict[str, Any]
    best_path: Path
    top: list[tuple[int, float, dict[str, Any]]]


def _optuna() -> Any:
    optuna = require_extra("sweep", "optuna", "tinyunfold sweep")
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # the command prints its own lines
    return optuna


def display_url(url: str) -> str:
    """The storage URL without its password (for messages)."""
    try:
        from sqlalchemy.engine import make_url

        return str(make_url(url).render_as_string(hide_password=True))
    except Exception:
        return url.split("@")[-1] if "@" in url else url


def open_storage(url: str) -> Any:
    """An Optuna RDB storage of a SQLAlchemy URL, or one line naming the cause and the fix."""
    optuna = _optuna()
    engine: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # several worker processes write one SQLite file: wait for its lock instead of failing
        engine = {"connect_args": {"timeout": 120}}
    shown = display_url(url)
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=engine)
    except ImportError as err:  # optuna re-raises a missing driver module as an ImportError
        driver = f" {err.name!r}" if getattr(err, "name", None) else ""
        raise SweepError(
            f"storage {shown}: its database driver{driver} is not installed",
            "pip install the driver (e.g. psycopg2-binary for postgresql://, pymysql for "
            f"mysql+pymysql://), or {STORAGE_FIX}",
        ) from None
    except Exception as err:  # sqlalchemy ArgumentError, OperationalError, optuna errors, ...
        raise SweepError(
            f"cannot open storage {shown}: {type(err).__name__}: "
            f"{one_line(str(err).replace(url, shown), 200)}",
            STORAGE_FIX,
        ) from None


def _train_set_id(ds: Any) -> str:
    text = "\n".join(f"{m.name}:{';'.join(m.classes)}" for m in ds.mixtures)
    return f"{len(ds.mixtures)} mixtures, sha256 {hashlib.sha256(text.encode()).hexdigest()[:16]}"


def prepare(options: SweepOptions) -> SweepPlan:
    """Check everything a sweep needs before any training: optuna, the space, the base config,
    the ``split=train`` mixtures (the test split is not read), the folds, the storage, the study
    (created, or continued when its kind, folds, space, base config and training set match)."""
    o = options
    optuna = _optuna()
    if o.decision not in DECISIONS:
        raise SweepError(f"unknown decision {o.decision!r}", "use threshold, ur or readout")
    if o.trials < 0 or o.jobs < 1 or (o.timeout is not None and not o.timeout > 0):
        raise SweepError(
            f"--trials {o.trials}, --jobs {o.jobs}, --timeout {o.timeout}",
            "use --trials >= 0, --jobs >= 1 and a timeout > 0 seconds",
        )
    kind = kinds.get(o.kind)
    if kind.training is None or kind.detection is None:
        raise SweepError(
            f"kind {o.kind!r} does not train a detector from a dataset folder",
            "sweep a kind listed by `tinyunfold sweep --help`",
        )
    require_extra("train", "torch", "training")
    space = load_space(o.space, o.kind)
    base = trial_config(o.kind, o.config, o.overrides, {})
    ds = load_dataset(o.dataset, only_split="train")
    labels = [[ds.classes.index(c) for c in m.classes] for m in ds.mixtures]
    folds = make_folds(labels, o.folds, o.seed)
    Path(o.out).mkdir(parents=True, exist_ok=True)
    storage = open_storage(o.storage_url)
    attrs = {
        "kind": o.kind,
        "folds": o.folds,
        "fold_seed": o.seed,
        "decision": o.decision,
        "space": [p.describe() for p in space],
        "base_config": base,
        "train_set": _train_set_id(ds),
    }
    attrs = json.loads(json.dumps(attrs))  # as the storage returns it (lists, not tuples)
    try:
        study = optuna.create_study(
            storage=storage, study_name=o.name, direction="maximize", load_if_exists=True
        )
    except Exception as err:
        raise SweepError(
            f"cannot create or load study {o.name!r} in {display_url(o.storage_url)}: "
            f"{type(err).__name__}: {one_line(str(err), 200)}",
            "use another --study-name, or check the database",
        ) from None
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise SweepError(
            f"study {o.name!r} minimises: it is not a tinyunfold sweep", "use another --study-name"
        )
    old = study.user_attrs
    if not old:
        for k, v in attrs.items():
            study.set_user_attr(k, v)
    else:
        for k in STUDY_KEYS:
            if old.get(k) != attrs[k]:
                raise SweepError(
                    f"study {o.name!r} in {display_url(o.storage_url)} was run with another {k} "
                    f"({one_line(json.dumps(old.get(k)), 160)}); its scores would not compare",
                    "continue it with the same kind, dataset, --space, --config/--set, --folds, "
                    "--seed and --decision, or start another --study-name",
                )
    return SweepPlan(
        o, space, ds, folds, base, len(study.trials), display_url(o.storage_url), attrs
    )


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_trials(
    options: SweepOptions,
    n_trials: int,
    seed: int,
    report: Callable[[TrialEvent], None],
    plan: SweepPlan | None = None,
) -> None:
    """Run ``n_trials`` trials of the study in this process (one worker), reporting each."""
    optuna = _optuna()
    o = options
    if plan is None:  # a worker process: load what the parent checked
        space = load_space(o.space, o.kind)
        ds = load_dataset(o.dataset, only_split="train")
        labels = [[ds.classes.index(c) for c in m.classes] for m in ds.mixtures]
        folds = make_folds(labels, o.folds, o.seed)
    else:
        space, ds, folds = plan.space, plan.dataset, plan.folds
    storage = open_storage(o.storage_url)
    sampler = optuna.samplers.TPESampler(seed=seed)
    study = optuna.load_study(study_name=o.name, storage=storage, sampler=sampler)
    worker = _worker_id()

    def objective(trial: Any) -> float:
        trial.set_user_attr("worker", worker)
        t0 = time.time()
        try:
            values = {p.name: p.suggest(trial) for p in space}
            cfg = trial_config(o.kind, o.config, o.overrides, values)
            sc = cross_validate(ds, o.kind, cfg, folds, o.decision)
        except Exception as err:
            why = err.cause if isinstance(err, TinyUnfoldError) else f"{type(err).__name__}: {err}"
            trial.set_user_attr("error", one_line(why, 300))
            trial.set_user_attr("seconds", time.time() - t0)
            raise
        trial.set_user_attr("correct", sc.correct)
        trial.set_user_attr("total", sc.total)
        trial.set_user_attr("per_fold", list(sc.per_fold))
        trial.set_user_attr("false_positive_any", sc.false_positive_any)
        trial.set_user_attr("notes", list(sc.warnings[:5]))
        trial.set_user_attr("seconds", time.time() - t0)
        return sc.rate

    def callback(study: Any, ft: Any) -> None:
        try:
            best = study.best_trial
            bn, bv = best.number, best.value
        except ValueError:  # no complete trial yet
            bn = bv = None
        ua = ft.user_attrs
        report(
            TrialEvent(
                number=ft.number,
                worker=str(ua.get("worker", worker)),
                state=ft.state.name,
                value=ft.value,
                correct=ua.get("correct"),
                total=ua.get("total"),
                seconds=float(ua.get("seconds", 0.0)),
                params=dict(ft.params),
                error=ua.get("error"),
                best_number=bn,
                best_value=bv,
                notes=tuple(ua.get("notes", ())),
            )
        )

    # a failing config (diverged training, an invalid combination of values) fails its trial
    # only; the sweep goes on and the command prints the reason
    study.optimize(
        objective,
        n_trials=n_trials,
        timeout=o.timeout,
        catch=(TinyUnfoldError, ValueError, ArithmeticError, RuntimeError),
        callbacks=[callback],
    )


def worker_main(options: SweepOptions, n_trials: int, seed: int, events: Any) -> None:
    """Entry point of a worker process: trials go to ``events`` (a multiprocessing queue)."""
    try:
        run_trials(options, n_trials, seed, lambda ev: events.put(("trial", ev)))
    except TinyUnfoldError as err:
        events.put(("error", err.cause, err.fix, err.exit_code))
    except BaseException as err:  # reported to the parent, which raises it
        events.put(("error", f"worker crashed: {type(err).__name__}: {err}", "report it", 2))
    finally:
        events.put(("done", os.getpid()))


def _shares(n: int, jobs: int) -> list[int]:
    return [n // jobs + (1 if i < n % jobs else 0) for i in range(jobs)]


def run_sweep(plan: SweepPlan, report: Callable[[TrialEvent], None]) -> SweepResult:
    """Run the planned trials (``jobs`` worker processes sharing the study when > 1), then
    write the best config of the whole study to ``<out>/best.toml``."""
    o = plan.options
    base_seed = o.seed + 7919 * plan.n_before  # a continued study samples new points
    jobs = max(1, min(o.jobs, o.trials))
    if o.trials == 0:
        return finish(plan)  # only rewrite best.toml
    if jobs == 1:
        run_trials(o, o.trials, base_seed, report, plan)
    else:
        ctx = multiprocessing.get_context("spawn")  # no fork of a process holding torch threads
        events = ctx.Queue()
        procs = [
            ctx.Process(
                target=worker_main,
                args=(o, share, base_seed + 104729 * (w + 1), events),
                daemon=True,
            )
            for w, share in enumerate(_shares(o.trials, jobs))
        ]
        # one BLAS/OpenMP thread per worker (the children read these at import): N workers on
        # N cores, no oversubscription; torch's threads follow [model] n_threads (default 1)
        saved = {v: os.environ.get(v) for v in THREAD_VARS}
        try:
            for v in THREAD_VARS:
                os.environ.setdefault(v, "1")
            for p in procs:
                p.start()
        finally:
            for v, val in saved.items():
                if val is None:
                    os.environ.pop(v, None)
                else:
                    os.environ[v] = val
        done = 0
        error: tuple[Any, ...] | None = None
        try:
            while done < len(procs):
                try:
                    msg = events.get(timeout=1.0)
                except queue_mod.Empty:
                    if all(p.exitcode is not None for p in procs) and events.empty():
                        break  # a worker died without a word (killed)
                    continue
                if msg[0] == "trial":
                    report(msg[1])
                elif msg[0] == "error":
                    error = error or msg
                else:
                    done += 1
        finally:
            for p in procs:
                p.join(timeout=30)
                if p.is_alive():
                    p.terminate()
        if error is not None:
            err = SweepError(error[1], error[2])
            err.exit_code = int(error[3])
            raise err
        if any(p.exitcode for p in procs):
            raise SweepError(
                f"a worker process exited with status {[p.exitcode for p in procs]}",
                "rerun the same command: the study continues",
            )
    return finish(plan)


def finish(plan: SweepPlan) -> SweepResult:
    """The best trial of the study and its config written as ``<out>/best.toml``."""
    optuna = _optuna()
    o = plan.options
    study = optuna.load_study(study_name=o.name, storage=open_storage(o.storage_url))
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        failed = [t for t in trials if t.user_attrs.get("error")]
        why = f"; first failure: {failed[0].user_attrs['error']}" if failed else ""
        raise SweepError(
            f"study {o.name!r} has no complete trial ({len(trials)} in all){why}",
            "fix the base config or the space so that training succeeds, then rerun",
        )
    best = max(complete, key=lambda t: (t.value, -t.number))
    cfg = trial_config(o.kind, o.config, o.overrides, dict(best.params))
    ua = best.user_attrs
    header = [
        f"tinyunfold sweep: study {o.name!r} ({display_url(o.storage_url)}), best of "
        f"{len(complete)} complete trials: trial {best.number}",
        f"set-exact accuracy ({o.decision} decision) {100 * best.value:.1f}% "
        f"({ua.get('correct')}/{ua.get('total')}) pooled over {o.folds}-fold validation of the "
        f"split=train mixtures ({plan.attrs['train_set']})",
        "sampled: " + ", ".join(f"{k}={toml_value(v)}" for k, v in sorted(best.params.items())),
        f"train it: tinyunfold train {o.kind} --dataset DATASET --config best.toml --out model.tum",
    ]
    path = Path(o.out) / "best.toml"
    path.write_text(config_toml(cfg, header), encoding="utf-8")
    ranked = sorted(complete, key=lambda t: (-t.value, t.number))
    return SweepResult(
        n_new=len(trials) - plan.n_before,
        n_total=len(trials),
        n_complete=len(complete),
        best_number=best.number,
        best_value=float(best.value),
        best_correct=int(ua.get("correct", 0)),
        best_total=int(ua.get("total", 0)),
        best_params=dict(best.params),
        best_path=path,
        top=[(t.number, float(t.value), dict(t.params)) for t in ranked[:5]],
    )
