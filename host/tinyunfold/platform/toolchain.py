"""Find the external tools and say clearly what is missing and how to get it."""

from __future__ import annotations

import shutil

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


def doctor() -> int:
    missing = 0
    for tool, pkg in TOOLS.items():
        path = shutil.which(tool)
        print(f"{tool:20s} {path or 'MISSING (apt package ' + pkg + ')'}")
        missing += path is None
    return 0 if missing == 0 else 3
