"""The CMake tree of a board: configure once, run build tools with one clear error."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tinyunfold.errors import ToolchainError, one_line
from tinyunfold.platform.boards import Board
from tinyunfold.platform.cmsis import ensure_cmsis
from tinyunfold.platform.paths import build_root, require_source_root
from tinyunfold.platform.toolchain import require


def run_tool(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        out = (proc.stdout + proc.stderr).strip()
        # one line for the user (the end of the log says why); the whole log for the callers
        err = ToolchainError(
            f"{what} failed: ...{one_line(out)[-450:]}",
            "read the compiler/linker message; `cmake --build` in the build folder shows it all",
        )
        err.log = out
        raise err


def build_dir_for(board: str) -> Path:
    return build_root() / board


def _check_cache_source(bdir: Path, root: Path) -> None:
    """A build tree configured from other sources (a checkout vs. an installed wheel) is refused."""
    cache = bdir / "CMakeCache.txt"
    if not cache.is_file():
        return
    for line in cache.read_text(errors="replace").splitlines():
        if line.startswith("CMAKE_HOME_DIRECTORY:"):
            old = Path(line.split("=", 1)[1].strip())
            if old.resolve() != root.resolve():
                raise ToolchainError(
                    f"build folder {bdir} was configured from {old}, this tinyunfold's sources "
                    f"are {root}",
                    f"remove {bdir} or pass another --build-dir",
                )
            return


def configure(board: Board) -> Path:
    """Configure (once) the CMake tree of ``board``; returns its build directory."""
    require("cmake")
    require("ninja")
    require("cc" if board.is_host else "arm-none-eabi-gcc")
    root = require_source_root()
    bdir = build_dir_for(board.name)
    _check_cache_source(bdir, root)
    cmsis = ensure_cmsis()
    cmd = [
        "cmake",
        "-S",
        str(root),
        "-B",
        str(bdir),
        "-G",
        "Ninja",
        f"-DTU_BOARD={board.name}",
        f"-DTU_CMSIS_DSP_ROOT={cmsis}",
        "-DCMAKE_BUILD_TYPE=Release",
    ]
    if not board.is_host:
        cmd.append(f"-DCMAKE_TOOLCHAIN_FILE={root / 'cmake' / 'arm-none-eabi.cmake'}")
    run_tool(cmd, f"cmake configure for {board.name}")
    return bdir
