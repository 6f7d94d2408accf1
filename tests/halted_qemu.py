"""A halted QEMU board for the flashing tests: no program, stopped at reset (-S), its gdbstub
(and optionally its UART) on sockets bound here and inherited by QEMU, so no other program can
take their ports between choosing and listening."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from tinyunfold.platform.boards import load_board
from tinyunfold.tools.link import QemuListener, start_qemu
from tinyunfold.tools.sim import qemu_command

__all__ = ["halted_qemu"]


@contextmanager
def halted_qemu(
    board_name: str, serial: bool = False, semihosting: bool = True, timeout_s: float = 60.0
) -> Iterator[tuple[subprocess.Popen[bytes], str, str | None]]:
    """Yield (QEMU process, GDB "HOST:PORT", UART URL or None); QEMU is killed on exit.

    ``semihosting=False`` drops QEMU's semihosting, as on silicon: a semihosting BKPT is then a
    HardFault and the program must report on its UART.
    """
    gdb = QemuListener("tu_gdb", nodelay=True)
    uart = QemuListener("tu_uart") if serial else None
    cmd = qemu_command(
        load_board(board_name), None, serial=f"chardev:{uart.id}" if uart else "none"
    )
    if not semihosting:
        i = cmd.index("-semihosting-config")
        del cmd[i : i + 2]
    url = f"socket://127.0.0.1:{uart.port}" if uart else None
    proc = start_qemu([*cmd, "-S", "-gdb", f"chardev:{gdb.id}"], [gdb] + ([uart] if uart else []))
    try:
        yield proc, f"127.0.0.1:{gdb.port}", url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=timeout_s)
