"""Error types. Every user-facing failure names its cause and the fix, on one line.

Exit statuses of the ``tinyunfold`` command (also in ``tinyunfold --help`` and docs/errors.md):

====  ==========================================================================================
0     success (``run``/``stream``: every value bit-exact)
1     the firmware ran but its output differs from the Python reference (``run``, ``stream``,
      ``demo``, ``bench``)
2     bad input or usage: a malformed/oversized model file, .npy, WAV, CSV or TOML, a wrong option
3     a required tool (arm-none-eabi-gcc, qemu, cmake, gdb) is missing or failed; a fetch failed
4     the firmware under QEMU / the host program timed out or exited with a non-zero status
5     the serial link broke: corrupt, unexpected or missing frames
6     the firmware faulted (HardFault): the line printed is the firmware's own ``TU_FAULT``
130   interrupted (Ctrl-C)
====  ==========================================================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_INPUT = 2
EXIT_TOOLCHAIN = 3
EXIT_SIMULATION = 4
EXIT_PROTOCOL = 5
EXIT_FAULT = 6
EXIT_INTERRUPTED = 130

EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success (run/stream: every value bit-exact)",
    EXIT_MISMATCH: "firmware output differs from the Python reference (bits differ)",
    EXIT_INPUT: "bad input or usage (model file, .npy, WAV, CSV, TOML, option)",
    EXIT_TOOLCHAIN: "a required tool is missing or failed, or a fetch failed",
    EXIT_SIMULATION: "the firmware timed out or exited with a non-zero status",
    EXIT_PROTOCOL: "the serial link broke (corrupt, unexpected or missing frames)",
    EXIT_FAULT: "the firmware faulted (HardFault); its TU_FAULT line is printed",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}


def one_line(text: str, limit: int = 600) -> str:
    """Collapse ``text`` (console output, exception text) to one bounded line."""
    flat = " | ".join(s.strip() for s in str(text).splitlines() if s.strip())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class TinyUnfoldError(Exception):
    """Base class: the CLI prints ``str(err)`` (one line) and exits with ``err.exit_code``."""

    exit_code = EXIT_INPUT
    default_fix = "see `tinyunfold <command> --help`"

    def __init__(self, cause: str, fix: str | None = None) -> None:
        self.cause = one_line(cause)
        self.fix = one_line(fix if fix is not None else self.default_fix)
        super().__init__(f"{self.cause}; fix: {self.fix}")


class ModelFileError(TinyUnfoldError):
    """A model file is missing, foreign, corrupt, too large or fails validation."""

    default_fix = "re-create the model file with tinyunfold (`model`, `train` or `import`)"


class ShapeError(TinyUnfoldError):
    """An array has the wrong shape for the model."""

    default_fix = "pass arrays with the shapes the model expects (`tinyunfold model info`)"


class ValueDomainError(TinyUnfoldError):
    """NaN/Inf or negative values where the model forbids them."""

    default_fix = "pass finite values in the model's domain"


class InputFileError(TinyUnfoldError):
    """A .npy, WAV, CSV or TOML input file is unreadable, malformed or too large."""

    default_fix = "check the input file"


class ToolchainError(TinyUnfoldError):
    """A required external tool (arm-none-eabi-gcc, qemu, cmake...) is missing or failed."""

    exit_code = EXIT_TOOLCHAIN
    default_fix = "run `make bootstrap`, then `tinyunfold setup doctor`"
    log: str = ""  # the whole output of a failed tool, for callers that parse it


class FetchError(TinyUnfoldError):
    """Downloading or verifying a pinned third-party source failed."""

    exit_code = EXIT_TOOLCHAIN
    default_fix = "check the network, or put the pinned source in ~/.cache/tinyunfold"


class SimulationError(TinyUnfoldError):
    """The firmware under QEMU timed out or exited non-zero."""

    exit_code = EXIT_SIMULATION
    default_fix = "rebuild with `tinyunfold build` and look at the firmware's console output"


class FirmwareFaultError(SimulationError):
    """The firmware took a HardFault; ``cause`` holds its own ``TU_FAULT exc= pc= cfsr=`` line."""

    exit_code = EXIT_FAULT
    default_fix = (
        "look up pc in the ELF (arm-none-eabi-addr2line -e <elf> <pc>) and cfsr in the "
        "Cortex-M fault status register table; report it with the model file"
    )


def check_known_keys(
    keys: object, allowed: object, where: str, fix: str, error: type[TinyUnfoldError] | None = None
) -> None:
    """Raise for the first key of ``keys`` not in ``allowed``, naming its closest allowed match.

    A misspelt key (``q_scal``) is an error, never silently ignored.
    """
    import difflib

    known = sorted(str(k) for k in allowed)  # type: ignore[attr-defined]
    for key in keys:  # type: ignore[attr-defined]
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise (error or TinyUnfoldError)(
                f"{where}: unknown key {str(key)[:60]!r}",
                f"{hint}{fix} (known: {', '.join(known)})",
            )


def check_choice(value: object, choices: tuple[str, ...], name: str, fix: str) -> str:
    """``value`` when it is one of the strings ``choices``, else one line: ``name must be "a" or
    "b", got ...`` (a :class:`ValueDomainError`) with ``fix``."""
    if not isinstance(value, str) or value not in choices:
        names = ", ".join(f'"{c}"' for c in choices[:-1])
        names = f'{names} or "{choices[-1]}"' if names else f'"{choices[-1]}"'
        raise ValueDomainError(f"{name} must be {names}, got {value!r}", fix)
    return value


def check_flag(value: object, name: str, fix: str | None = None) -> bool:
    """``value`` when it is ``True`` or ``False``, else one line: ``name must be true or false,
    got ...`` (a :class:`ValueDomainError`) with ``fix`` (default ``name = true``)."""
    if not isinstance(value, bool):
        raise ValueDomainError(
            f"{name} must be true or false, got {value!r}", fix or f"{name} = true"
        )
    return value


def check_number(
    value: object, name: str, what: str, fix: str, ok: Callable[[float], bool] = math.isfinite
) -> float:
    """``value`` as a float when it is a number (an int or float, not a bool) for which ``ok``
    holds (default: finite), else one line: ``name = value is not what`` (a
    :class:`ValueDomainError`) with ``fix``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(float(value)):
        raise ValueDomainError(f"{name} = {value!r} is not {what}", fix)
    return float(value)


class TrainingError(TinyUnfoldError):
    """Training diverged (NaN/Inf or an exploding loss); nothing is saved."""

    default_fix = "lower the learning rate (--lr) or check the data for outliers"
