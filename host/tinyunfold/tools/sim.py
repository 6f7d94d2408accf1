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

from tinyunfold.errors import FirmwareFaultError, SimulationError
from tinyunfold.platform.boards import Board, require_runner
from tinyunfold.platform.toolchain import die_with_parent, require

DEFAULT_TIMEOUT_S = 120.0
EXIT_HARDFAULT = 100
_FAULT = re.compile(r"TU_FAULT exc=[0-9a-f]{8} pc=[0-9a-f]{8} cfsr=[0-9a-f]{8}")
_RESULT = re.compile(r"TU_RESULT blocks=(\d+) ticks_hi=(\d+) ticks_lo=(\d+)")


@dataclass(frozen=True)
class RunResult:
    outputs: np.ndarray  # (blocks, out_len) float32
    ticks: int  # counter ticks of the first forward pass
    units: int  # ticks converted to the board's unit (instructions under QEMU)
    unit: str
    console: str


def qemu_command(board: Board, elf: Path | None, serial: str = "none") -> list[str]:
    """The QEMU command line of a board: FPU machine, semihosting console, deterministic icount.

    ``elf`` None starts no program (it is loaded through GDB); ``serial`` is the UART0 backend.
    """
    r = board.runner
    cmd = [
        require("qemu-system-arm"),
        "-M", r["machine"],
        "-display", "none", "-monitor", "none", "-serial", serial,
        "-nodefaults", "-nic", "none",
        "-icount", f"shift={r['icount_shift']},align=off,sleep=off",
        "-chardev", "stdio,id=con",
        "-semihosting-config", "enable=on,target=native,chardev=con",
        "-no-reboot",
    ]  # fmt: skip
    if elf is not None:
        cmd += ["-kernel", str(elf)]
    return cmd


def execute(
    board: Board, cmd: list[str], timeout_s: float, cwd: Path | None = None
) -> tuple[int, str]:
    """Run ``cmd`` (a QEMU or native command line) with a time limit; returns (status, console)."""
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
    except subprocess.TimeoutExpired:
        raise SimulationError(
            f"{board.name}: {Path(cmd[-1]).name if board.runner['kind'] == 'native' else 'firmware'} "
            f"did not finish within {timeout_s:g} s (killed)",
            "the program hangs, or give it a longer --timeout",
        ) from None
    return proc.returncode, proc.stdout + proc.stderr


def fault_line(console: str) -> str | None:
    """The firmware's own fault report (``TU_FAULT exc=... pc=... cfsr=...``), if it printed one."""
    m = _FAULT.search(console)
    return m.group(0) if m else None


def check_exit(board: Board, returncode: int | None, console: str) -> None:
    """Raise for a program that did not exit 0: :class:`FirmwareFaultError` (exit status 6) with
    the firmware's TU_FAULT line for a HardFault, :class:`SimulationError` (4) otherwise."""
    if returncode == EXIT_HARDFAULT:
        line = fault_line(console) or "no TU_FAULT line on the console"
        raise FirmwareFaultError(f"{board.name}: HardFault in the firmware: {line}")
    if returncode != 0:
        raise SimulationError(
            f"{board.name}: firmware exited with status {returncode}: {console.strip()[-400:]}"
        )


def run_elf(board: Board, elf: Path, timeout_s: float, cwd: Path | None = None) -> tuple[int, str]:
    """Run a board ELF in QEMU; returns (exit status, console text)."""
    require_runner(board)
    return execute(board, qemu_command(board, elf), timeout_s, cwd)


def run_vectors(
    board: Board,
    artifact: Path,
    inputs: np.ndarray,
    out_len: int,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> RunResult:
    """Run ``artifact`` on ``inputs`` (blocks, in_len) float32; returns the outputs and counts."""
    require_runner(board)
    inputs = np.ascontiguousarray(inputs, dtype=np.float32)
    if inputs.ndim != 2:
        raise SimulationError(f"inputs must be (blocks, in_len), got shape {inputs.shape}")
    with tempfile.TemporaryDirectory(prefix="tu-run-") as tmp:
        work = Path(tmp)
        inputs.astype("<f4").tofile(work / "input.bin")
        cmd = qemu_command(board, artifact) if board.runner["kind"] == "qemu" else [str(artifact)]
        returncode, console = execute(board, cmd, timeout_s, cwd=work)
        check_exit(board, returncode, console)
        m = _RESULT.search(console)
        if m is None:
            raise SimulationError(
                f"{board.name}: no TU_RESULT line in the output: {console[-2000:]}"
            )
        blocks, ticks = int(m.group(1)), (int(m.group(2)) << 32) | int(m.group(3))
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
