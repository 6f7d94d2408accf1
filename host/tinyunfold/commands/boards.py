"""``tinyunfold boards``: the boards this installation can build for, from their ``board.json``."""

from __future__ import annotations

import argparse
import json
import platform
import re
from typing import Any

from tinyunfold.errors import TinyUnfoldError
from tinyunfold.platform.boards import BOARDS_DIR, available_boards
from tinyunfold.platform.paths import require_source_root

_FPU = {"fpv4-sp-d16": "F (SP FPU)", "fpv5-sp-d16": "F (SP FPU)", "fpv5-d16": "F (DP FPU)"}
_CLOCK_KEYS = ("clock_hz", "cpu_hz", "sysclk_hz", "core_clock_hz")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "boards",
        help="list the boards: core, clock, flash/RAM, QEMU or build-only",
        description="List the boards of this installation (boards/<name>/board.json): core, "
        "clock, flash and RAM of the part, and whether its firmware runs here (QEMU, natively) "
        "or is build-only (flash it onto the real board).",
    )
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(func=_boards)


def board_row(d: dict[str, Any]) -> dict[str, Any]:
    """One listing row from a parsed ``board.json``.

    Optional keys read: ``core`` (else derived from ``-mcpu``/``-mfpu`` in ``arch_flags``),
    ``clock_hz`` (or ``cpu_hz``/``sysclk_hz``/``core_clock_hz``), ``flash_bytes``, ``ram_bytes``,
    ``build_only``; ``runner.kind`` ``qemu`` runs under QEMU, ``native`` on this machine.
    """
    runner = d.get("runner") or {}
    kind = runner.get("kind")
    if d.get("build_only"):
        runs = "build-only"
    elif kind == "qemu":
        runs = f"QEMU {runner.get('machine', '')}".strip()
    elif kind == "native":
        runs = "native (this machine)"
    else:
        runs = "build-only"
    clock = next((int(d[k]) for k in _CLOCK_KEYS if d.get(k)), None)
    return {
        "name": d["name"],
        "core": d.get("core") or _core(d),
        "clock_hz": clock,
        "flash_bytes": d.get("flash_bytes"),
        "ram_bytes": d.get("ram_bytes"),
        "runs": runs,
        "description": d.get("description", ""),
    }


def _core(d: dict[str, Any]) -> str:
    if d.get("toolchain") == "host":
        return f"host {platform.machine() or 'CPU'}"
    flags = " ".join(d.get("arch_flags", []))
    cpu = re.search(r"-mcpu=cortex-(m\d+\w*)", flags)
    if cpu is None:
        return "?"
    fpu = re.search(r"-mfpu=(\S+)", flags)
    soft = "-mfloat-abi=soft" in flags
    suffix = "" if fpu is None or soft else _FPU.get(fpu.group(1), f" ({fpu.group(1)})")
    return f"Cortex-{cpu.group(1).upper()}{suffix}"


def _size(n: int | None) -> str:
    if not n:
        return "-"
    if n % (1 << 20) == 0:
        return f"{n >> 20} MB"
    if n % (1 << 10) == 0:
        return f"{n >> 10} KB"
    return f"{n} B"


def _clock(hz: int | None) -> str:
    if not hz:
        return "-"
    return f"{hz / 1e6:g} MHz"


def _boards(args: argparse.Namespace) -> int:
    names = available_boards()
    if not names:
        require_source_root()  # says when the installation lacks its firmware sources
        raise TinyUnfoldError(f"no boards in {BOARDS_DIR}", "add boards/<name>/board.json")
    rows = [board_row(json.loads((BOARDS_DIR / n / "board.json").read_text())) for n in names]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    head = ("board", "core", "clock", "flash", "RAM", "runs")
    table = [head] + [
        (
            r["name"],
            r["core"],
            _clock(r["clock_hz"]),
            _size(r["flash_bytes"]),
            _size(r["ram_bytes"]),
            r["runs"],
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    print(f"({len(rows)} boards from {BOARDS_DIR})")
    return 0
