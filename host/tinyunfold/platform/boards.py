"""Board descriptions (``boards/<name>/board.json``), shared with CMake."""

from __future__ import annotations

import json
from dataclasses import dataclass
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

    @property
    def is_host(self) -> bool:
        return self.toolchain == "host"

    def ticks_to_units(self, ticks: int) -> int:
        """Counter ticks -> the board's counter unit.

        Under QEMU ``-icount shift=s`` each instruction advances virtual time by 2**s ns and the
        CMSDK timer ticks at ``timer_hz``, so instructions = ticks * (1e9 / timer_hz) / 2**s.
        """
        if self.runner.get("kind") != "qemu":
            return ticks
        ns_per_tick = 1_000_000_000 // int(self.runner["timer_hz"])
        return round(ticks * ns_per_tick / (1 << int(self.runner["icount_shift"])))


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
    )
