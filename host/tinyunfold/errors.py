"""Error types. Every user-facing failure names its cause and the fix."""

from __future__ import annotations


class TinyUnfoldError(Exception):
    """Base class: the CLI prints ``str(err)`` and exits with ``err.exit_code``."""

    exit_code = 2

    def __init__(self, cause: str, fix: str | None = None) -> None:
        self.cause = cause
        self.fix = fix
        super().__init__(cause if fix is None else f"{cause}\n  fix: {fix}")


class ModelFileError(TinyUnfoldError):
    """A model file is missing, foreign, corrupt or fails validation."""


class ShapeError(TinyUnfoldError):
    """An array has the wrong shape for the model."""


class ValueDomainError(TinyUnfoldError):
    """NaN/Inf or negative values where the model forbids them."""


class ToolchainError(TinyUnfoldError):
    """A required external tool (arm-none-eabi-gcc, qemu, cmake...) is missing or failed."""

    exit_code = 3


class FetchError(TinyUnfoldError):
    """Downloading or verifying a pinned third-party source failed."""

    exit_code = 3


class SimulationError(TinyUnfoldError):
    """The firmware under QEMU timed out, faulted or exited non-zero."""

    exit_code = 4


class TrainingError(TinyUnfoldError):
    """Training diverged (NaN/Inf or an exploding loss); nothing is saved."""
