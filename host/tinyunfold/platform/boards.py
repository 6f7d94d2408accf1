"""Board descriptions (``boards/<name>/board.json``), shared with CMake."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from tinyunfold.errors import TinyUnfoldError
from tinyunfold.platform.paths import require_source_root, source_root

BOARDS_DIR = source_root() / "boards"


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    toolchain: str  # "arm-none-eabi" or "host"
    runner: dict[str, Any]
    counter_unit: str
    path: Path
    flash_bytes: int = 0  # the part's flash (0: unknown)
    ram_bytes: int = 0  # the part's main RAM for data + bss
    memory: dict[str, dict[str, int]] = field(default_factory=dict)  # linker regions
    hardware: dict[str, Any] = field(default_factory=dict)  # the real part (docs/boards.md)

    @property
    def is_host(self) -> bool:
        return self.toolchain == "host"

    @property
    def runs_here(self) -> bool:
        """False for build-only boards (``runner.kind == "none"``): no simulator models them."""
        return self.runner.get("kind") != "none"

    def ticks_to_units(self, ticks: int) -> int:
        """Counter ticks -> the board's counter unit.

        Under QEMU ``-icount shift=s`` each instruction advances virtual time by 2**s ns and the
        counter (CMSDK timer, STM32 SysTick) ticks at ``timer_hz``, so
        instructions = ticks * (1e9 / timer_hz) / 2**s (exact rational, then rounded).
        """
        if self.runner.get("kind") != "qemu":
            return ticks
        per_tick = Fraction(10**9, int(self.runner["timer_hz"]) << int(self.runner["icount_shift"]))
        return round(ticks * per_tick)


def available_boards() -> list[str]:
    return sorted(p.parent.name for p in BOARDS_DIR.glob("*/board.json"))


def load_board(name: str) -> Board:
    path = BOARDS_DIR / name / "board.json"
    if not path.is_file():
        require_source_root()  # an installation without firmware sources says so first
        raise TinyUnfoldError(
            f"unknown board {name!r}", f"choose one of: {', '.join(available_boards())}"
        )
    d = json.loads(path.read_text())
    return Board(
        name=d["name"],
        description=d["description"],
        toolchain=d["toolchain"],
        runner=d["runner"],
        counter_unit=d["counter_unit"],
        path=path.parent,
        flash_bytes=int(d.get("flash_bytes", 0)),
        ram_bytes=int(d.get("ram_bytes", 0)),
        memory=d.get("memory", {}),
        hardware=d.get("hardware", {}),
    )


def require_runner(board: Board) -> None:
    """Refuse, in one line, to run firmware on a build-only board."""
    if not board.runs_here:
        raise TinyUnfoldError(
            f"{board.name} is build-only here ({board.runner.get('why', 'no simulator')})",
            "build it with `tinyunfold build`, flash real hardware with `tinyunfold flash --gdb "
            "HOST:PORT` or `--probe pyocd`",
        )
