"""Run firmware: QEMU system-mode boards (time-bounded) or the native host build.

Test vectors travel through semihosting files (``input.bin`` / ``output.bin`` in a temporary
working directory), never through the UART.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyunfold.errors import SimulationError
from tinyunfold.tools.boards import Board
from tinyunfold.tools.toolchain import require

DEFAULT_TIMEOUT_S = 120.0
EXIT_HARDFAULT = 100
_RESULT = re.compile(r"TU_RESULT blocks=(\d+) ticks=(\d+)")


@dataclass(frozen=True)
class RunResult:
    outputs: np.ndarray  # (blocks, out_len) float32
    ticks: int  # counter ticks of the first forward pass
    units: int  # ticks converted to the board's unit (instructions under QEMU)
    unit: str
    console: str


def qemu_command(board: Board, elf: Path, extra: list[str] | None = None) -> list[str]:
    """The QEMU command line of a board: FPU machine, semihosting console, deterministic icount."""
    r = board.runner
    return [
        require("qemu-system-arm"),
        "-M", r["machine"],
        "-display", "none", "-monitor", "none", "-serial", "none",
        "-nodefaults", "-net", "none",
        "-icount", f"shift={r['icount_shift']},align=off,sleep=off",
        "-chardev", "stdio,id=con",
        "-semihosting-config", "enable=on,target=native,chardev=con",
        "-no-reboot",
        "-kernel", str(elf),
        *(extra or []),
    ]  # fmt: skip


def run_vectors(
    board: Board,
    artifact: Path,
    inputs: np.ndarray,
    out_len: int,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> RunResult:
    """Run ``artifact`` on ``inputs`` (blocks, in_len) float32; returns the outputs and counts."""
    inputs = np.ascontiguousarray(inputs, dtype=np.float32)
    if inputs.ndim != 2:
        raise SimulationError(f"inputs must be (blocks, in_len), got shape {inputs.shape}")
    with tempfile.TemporaryDirectory(prefix="tu-run-") as tmp:
        work = Path(tmp)
        inputs.astype("<f4").tofile(work / "input.bin")
        if board.runner["kind"] == "qemu":
            cmd = qemu_command(board, artifact)
        else:
            cmd = [str(artifact)]
        try:
            proc = subprocess.run(
                cmd, cwd=work, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired:
            raise SimulationError(
                f"{board.name}: firmware did not finish within {timeout_s:.0f} s (QEMU killed)",
                "the program hangs or the model is too large for the time limit",
            ) from None
        console = proc.stdout + proc.stderr
        if proc.returncode == EXIT_HARDFAULT:
            raise SimulationError(f"{board.name}: HardFault in the firmware: {console.strip()}")
        if proc.returncode != 0:
            raise SimulationError(
                f"{board.name}: firmware exited with status {proc.returncode}: {console.strip()[-2000:]}"
            )
        m = _RESULT.search(console)
        if m is None:
            raise SimulationError(f"{board.name}: no TU_RESULT line in the output: {console[-2000:]}")
        blocks, ticks = int(m.group(1)), int(m.group(2))
        out = np.fromfile(work / "output.bin", dtype="<f4")
        if blocks != inputs.shape[0] or out.size != blocks * out_len:
            raise SimulationError(
                f"{board.name}: expected {inputs.shape[0]} x {out_len} outputs, got {out.size} floats"
            )
        return RunResult(
            outputs=out.reshape(blocks, out_len).astype(np.float32),
            ticks=ticks,
            units=board.ticks_to_units(ticks),
            unit=board.counter_unit,
            console=console,
        )
