"""The kind registry: the one place that maps a model file's ``kind`` to what it means.

Each kind lives in one module of this package (``kinds/<name>.py``) that builds a
:class:`~tinyunfold.kinds.base.Kind`; :data:`REGISTRY` lists them. Load and save model files
through :func:`load_model` / :func:`save_model` here: they run the kind's validator on top of the
container checks of :mod:`tinyunfold.modelfile`.
"""

from __future__ import annotations

from pathlib import Path

from tinyunfold.errors import ModelFileError, TinyUnfoldError
from tinyunfold.kinds import dkf, dnmfd, nmf, padnmf, spectrogram
from tinyunfold.kinds.base import Detection, Kind
from tinyunfold.modelfile import ModelFile, read_model, write_model

__all__ = ["REGISTRY", "Detection", "Kind", "get", "load_model", "save_model", "validate"]

REGISTRY: dict[str, Kind] = {
    k.name: k
    for k in (
        nmf.KIND,
        spectrogram.KIND,
        padnmf.PADNMF_KIND,
        padnmf.DEEPNMF_KIND,
        dnmfd.KIND,
        dkf.KIND,
    )
}


def get(name: str) -> Kind:
    """The :class:`Kind` called ``name``, or a :class:`ModelFileError` listing the known ones."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise ModelFileError(
            f"unknown model kind {name!r} (known: {', '.join(sorted(REGISTRY))})",
            "use a model file written by tinyunfold, or upgrade tinyunfold",
        ) from None


def of_task(task: str) -> list[Kind]:
    """The kinds whose ``task`` is ``task`` (e.g. ``"detector"``), in registry order."""
    return [k for k in REGISTRY.values() if k.task == task]


def validate(model: ModelFile) -> Kind:
    """Run the validator of ``model.kind``; returns its :class:`Kind`."""
    kind = get(model.kind)
    try:
        kind.validate(model)
    except ModelFileError:
        raise
    except TinyUnfoldError as err:
        raise ModelFileError(f"invalid {model.kind} model: {err.cause}", err.fix) from None
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        # a validator met a value of a type it did not expect: still a bad model file
        raise ModelFileError(
            f"invalid {model.kind} model: malformed params ({type(exc).__name__}: {exc})"
        ) from None
    return kind


def load_model(path: str | Path, kind: str | None = None) -> ModelFile:
    """Read a ``.tum`` file (sha256, dtypes, shapes) and validate it with its kind's rules."""
    model = read_model(path, kind)
    validate(model)
    return model


def save_model(path: str | Path, model: ModelFile) -> Path:
    """Validate ``model`` with its kind's rules and write it atomically. Returns the path."""
    validate(model)
    return write_model(path, model)
