"""Find the external tools and say clearly what is missing and how to get it."""

from __future__ import annotations

import shutil
import signal
import sys
from typing import Any

from tinyunfold.errors import ToolchainError

APT_HINT = (
    "run `make bootstrap` (it does `apt-get install --no-install-recommends gcc-arm-none-eabi "
    "libnewlib-arm-none-eabi qemu-system-arm gdb-multiarch cmake ninja-build`)"
)
TOOLS = {
    "cmake": "cmake",
    "ninja": "ninja-build",
    "arm-none-eabi-gcc": "gcc-arm-none-eabi",
    "arm-none-eabi-size": "binutils-arm-none-eabi",
    "qemu-system-arm": "qemu-system-arm",
    "gdb-multiarch": "gdb-multiarch",
    "cc": "gcc",
}


def require(tool: str) -> str:
    """Absolute path of ``tool`` or a :class:`ToolchainError` naming the package to install."""
    path = shutil.which(tool)
    if path is None:
        pkg = TOOLS.get(tool, tool)
        raise ToolchainError(
            f"required tool `{tool}` (Debian package {pkg}) is not installed", APT_HINT
        )
    return path


def _resolve_prctl() -> Any:
    """libc's prctl, looked up once in the parent: the child of a fork must not dlopen/dlsym
    (another thread may hold the loader lock at the fork), only call."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _resolve_prctl()
_PR_SET_PDEATHSIG = 1
_SIGKILL = int(signal.SIGKILL)


def die_with_parent() -> None:
    """``preexec_fn`` for simulator and board children (QEMU, host firmware programs).

    On Linux the child asks the kernel for SIGKILL when the process that started it dies
    (``prctl(PR_SET_PDEATHSIG)``), so a ``tinyunfold sim`` or a test that is itself killed (SIGKILL,
    SIGTERM, a CI timeout) never leaves a QEMU behind: their own timeouts only run while they
    live. Elsewhere a no-op. Children must be started from the main thread (the signal follows
    the thread that forked), as every caller here does.
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, _SIGKILL)


def doctor() -> int:
    missing = 0
    for tool, pkg in TOOLS.items():
        path = shutil.which(tool)
        print(f"{tool:20s} {path or 'MISSING (apt package ' + pkg + ')'}")
        missing += path is None
    return 0 if missing == 0 else 3
