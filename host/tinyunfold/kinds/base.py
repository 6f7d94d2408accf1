"""The :class:`Kind` record: everything that is specific to one model kind, in one object.

A model file (``.tum``) names its kind; :mod:`tinyunfold.kinds` maps that name to a :class:`Kind`.
Every layer above (code generator, build/run tools, pipelines, commands) asks the kind instead of
testing its name. docs/architecture.md ("How to add a kind") says what to fill in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyunfold.errors import ModelFileError
from tinyunfold.modelfile import ModelFile

FAMILIES = ("nmf", "state-space", "front-end")
TASKS = ("activations", "detector", "filter", "features")


@dataclass(frozen=True)
class Detection:
    """What ``detect`` and ``evaluate`` need from a hit-detector kind.

    ``transformer`` has ``layout_`` (a :class:`~tinyunfold.models.padnmf.BlockLayout`) and
    ``transform(list of (m', n) windows) -> (B, r, n)``; ``detector`` is the fitted
    :class:`~tinyunfold.detection.Detector`; ``baselines`` maps a method name to
    ``(transformer, None, options)`` for the evaluation table (fixed-dictionary references).
    """

    transformer: Any
    detector: Any
    baselines: Callable[[Any, Any, float], dict[str, Any]]


@dataclass(frozen=True)
class Trained:
    """A detector fitted on a dataset: ``transformer`` (as in :class:`Detection`), the fitted
    ``detector``, ``extra`` model params (front-end, input scale, window), ``modelfile()`` and the
    training ``curves`` (name -> loss values, for the loss plot)."""

    transformer: Any
    detector: Any
    extra: dict[str, Any]
    modelfile: Callable[[], ModelFile]
    curves: dict[str, list[float]]


@dataclass(frozen=True)
class Training:
    """How a kind trains from a dataset folder (``tinyunfold train <kind> --dataset D``).

    ``help`` documents the TOML config; ``load_config(path, overrides)`` reads and checks it;
    ``fit(dataset, config, progress)`` returns a :class:`Trained`. ``finetune(model, mixtures,
    targets, label_sets, config, progress)`` (None: not supported) trains further from a model
    file of this kind on precomputed spectrograms (``train <kind> --init M.tum``).
    ``demo_config``: the TOML config of the tiny synthetic detector (``pipelines/detector_demo``,
    the streaming bench and tests) when the kind's keys differ from that module's default
    ``CONFIG``.
    """

    help: str
    load_config: Callable[[str | None, list[str]], dict[str, dict[str, Any]]]
    fit: Callable[[Any, dict[str, dict[str, Any]], bool], Trained]
    finetune: Callable[..., Trained] | None = None
    demo_config: str | None = None


@dataclass(frozen=True)
class Filtering:
    """What ``evaluate`` needs from a filter kind (``task == "filter"``).

    ``system`` is the :class:`~tinyunfold.models.systems.System`; ``layers`` the unrolled depth
    (None when the filter has none); ``estimate(y (N, T, m), x0 (N, n))`` returns x̂ (N, T+1, n)
    and the innovations (N, T, m) or None; ``extra(T)`` further report entries (the exact MSE of
    gain filters); ``gains()`` the learned gains and the Kalman gains of the assumed covariances,
    both (K, n, m), for the gain plot.
    """

    system: Any
    layers: int | None
    estimate: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray | None]]
    extra: Callable[[int], dict[str, Any]] | None = None
    gains: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None


@dataclass(frozen=True)
class Kind:
    """One model kind.

    Parameters
    ----------
    name : the ``kind`` string of the model file.
    family : ``"nmf"`` (NMF / PAD-NMF / NMFD family), ``"state-space"`` (Kalman family) or
        ``"front-end"``.
    task : what the model does for a user: ``"activations"``, ``"detector"`` (hits from audio),
        ``"filter"`` (state estimates from observations) or ``"features"``.
    summary : one line for ``model info`` and the docs.
    validate : raises :class:`~tinyunfold.errors.TinyUnfoldError` when a loaded file is not a
        valid model of this kind (shapes, types, finiteness, bounds).
    estimator : the float64 research model (sklearn-style estimator) of a model file.
    golden : float32 golden reference of consecutive input blocks, (B, *input_shape) ->
        (B, output_len), bit-exact with the firmware (stateful kinds run their state through B).
    input_shape, output_shape : the shapes of one device forward pass.
    codegen : the Jinja2 context of ``codegen/templates/<templates>/``; must define ``in_len``,
        ``out_len``, ``flash_const_bytes`` and ``ram_scratch_bytes``.
    templates : template folder under ``codegen/templates/`` (None: nothing to generate).
    not_deployable : why no model of this kind deploys (None: it deploys).
    deploy_check : raises with the reason when one particular model cannot deploy (e.g. a
        nonlinear predictor); None when every valid model deploys.
    detection : for ``task == "detector"``: the transformer, fitted detector and baselines.
    training : how the kind trains from a dataset folder (None: it trains otherwise, or not).
    filtering : for ``task == "filter"``: system, estimates, extra report entries, gains.
    forward_flops : cost of one forward pass of a transformer on n frames by the formulas of
        thesis 4.5 (flops), for the benchmark tables.
    stream : for a hit detector that runs audio in, hits out: the
        :class:`~tinyunfold.golden.stream.StreamConfig` of a model (raises with the reason when
        this model cannot); None when the kind has no streaming detector.
    """

    name: str
    family: str
    task: str
    summary: str
    validate: Callable[[ModelFile], None]
    estimator: Callable[[ModelFile], Any] | None = None
    golden: Callable[[ModelFile, np.ndarray], np.ndarray] | None = None
    input_shape: Callable[[ModelFile], tuple[int, ...]] | None = None
    output_shape: Callable[[ModelFile], tuple[int, ...]] | None = None
    codegen: Callable[[ModelFile], dict[str, Any]] | None = None
    templates: str | None = None
    not_deployable: str | None = None
    deploy_check: Callable[[ModelFile], None] | None = None
    detection: Callable[[ModelFile], Detection] | None = None
    training: Training | None = None
    forward_flops: Callable[[Any, int], float] | None = None
    filtering: Callable[[ModelFile], Filtering] | None = None
    stream: Callable[[ModelFile], Any] | None = None

    def __post_init__(self) -> None:
        if self.family not in FAMILIES or self.task not in TASKS:
            raise ValueError(f"kind {self.name}: family/task must be in {FAMILIES}/{TASKS}")
        deploys = self.codegen is not None and self.templates is not None
        if deploys == (self.not_deployable is not None):
            raise ValueError(f"kind {self.name}: give codegen + templates, or not_deployable")

    @property
    def deploys(self) -> bool:
        return self.not_deployable is None

    def require_deployable(self, model: ModelFile) -> None:
        """Raise :class:`ModelFileError` naming the reason when ``model`` cannot be deployed."""
        if self.not_deployable is not None:
            raise ModelFileError(
                f"model kind {self.name!r} does not deploy: {self.not_deployable}",
                "deploy a kind listed by `tinyunfold model kinds` as deployable",
            )
        if self.deploy_check is not None:
            self.deploy_check(model)

    def require(self, what: str) -> Any:
        """The field ``what`` (e.g. ``"golden"``), or an error naming the kind and the field."""
        fn = getattr(self, what)
        if fn is None:
            raise ModelFileError(
                f"model kind {self.name!r} has no {what.replace('_', ' ')}",
                "use a model kind that provides it (`tinyunfold model kinds`)",
            )
        return fn
