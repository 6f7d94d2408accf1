"""Optional dependencies (pyproject.toml extras) and the one-line error when one is missing.

``pip install tinyunfold`` gives model files, code generation, firmware builds and QEMU runs.
Training needs ``[train]`` (torch), figures ``[plots]`` (matplotlib), the serial link and probes
``[device]`` (pyserial, pyOCD), ``tinyunfold sweep`` ``[sweep]`` (Optuna). A command calls
:func:`require_extra` where it first needs one.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from tinyunfold.errors import TinyUnfoldError

#: top-level module -> (extra that installs it, distribution name)
EXTRA_OF: dict[str, tuple[str, str]] = {
    "torch": ("train", "torch"),
    "matplotlib": ("plots", "matplotlib"),
    "serial": ("device", "pyserial"),
    "pyocd": ("device", "pyocd"),
    "optuna": ("sweep", "optuna"),
}


class MissingExtraError(TinyUnfoldError):
    """An optional dependency of the requested command is not installed."""

    exit_code = 3


def missing_extra_error(extra: str, module: str, what: str | None = None) -> MissingExtraError:
    """The error naming the extra that installs ``module`` (``what`` says who needs it)."""
    dist = EXTRA_OF.get(module, (extra, module))[1]
    need = f"{what} needs {dist}" if what else f"{dist} is needed here"
    return MissingExtraError(
        f"{need}, which is not installed",
        f'pip install "tinyunfold[{extra}]"',
    )


def require_extra(extra: str, module: str, what: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming ``tinyunfold[extra]``.

    Parameters
    ----------
    extra : str
        The pyproject.toml extra that installs the module (``train``, ``plots``, ``device``).
    module : str
        Top-level module to import (``torch``, ``matplotlib``, ``serial``, ``pyocd``).
    what : str, optional
        Who needs it, for the message (e.g. ``"training"``).

    Returns
    -------
    module : ModuleType
        The imported module.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.split(".")[0] != module.split(".")[0]:
            raise  # the module is there but one of its own imports is broken: show that
        raise missing_extra_error(extra, module, what) from None


def extra_error_for(exc: ModuleNotFoundError) -> MissingExtraError | None:
    """The :class:`MissingExtraError` for an import of an optional module that failed, else None.

    For a catch-all in the command-line entry point: ``except ModuleNotFoundError``.
    """
    top = (exc.name or "").split(".")[0]
    if top not in EXTRA_OF:
        return None
    return missing_extra_error(EXTRA_OF[top][0], top)
