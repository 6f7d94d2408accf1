"""Talk to the streaming firmware: a board under QEMU (loaded through GDB, serial over a TCP
socket opened with pyserial's ``socket://``) or the host build (stdin/stdout pipes).

``open_board`` is how ``tinyunfold flash`` / ``stream`` bring a board up:

1. QEMU starts halted (``-S``) with a GDB server and the CMSDK UART0 on a TCP port;
2. ``gdb-multiarch`` connects, ``load``s the ELF, sets SP/PC from the vector table and detaches
   (the program starts) — the same steps a probe's GDB server takes on a real board;
3. pyserial connects to the UART port.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import serial

from tinyunfold.errors import SimulationError, ToolchainError
from tinyunfold.tools import protocol as proto
from tinyunfold.tools.boards import Board
from tinyunfold.tools.sim import check_exit, qemu_command
from tinyunfold.tools.toolchain import require


@dataclass(frozen=True)
class DeviceInfo:
    abi: int
    in_len: int
    out_len: int
    kind: str


class Transport(Protocol):
    """Byte pipe to a device: ``write`` and ``read(n)`` (may return fewer bytes on timeout)."""

    def write(self, data: bytes) -> None: ...

    def read(self, n: int) -> bytes: ...


class SerialTransport:
    """pyserial on any URL it understands (``socket://host:port``, ``/dev/ttyACM0``, ...)."""

    def __init__(self, url: str, timeout_s: float = 5.0, baudrate: int = 115200) -> None:
        self.port = serial.serial_for_url(url, timeout=timeout_s, baudrate=baudrate)

    def write(self, data: bytes) -> None:
        self.port.write(data)
        self.port.flush()

    def read(self, n: int) -> bytes:
        return bytes(self.port.read(n))

    def close(self) -> None:
        self.port.close()


class PipeTransport:
    """The host build of the streaming program: the serial link is its stdin/stdout."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.proc = proc

    def write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def read(self, n: int) -> bytes:
        assert self.proc.stdout is not None
        data: bytes = self.proc.stdout.read1(n)  # type: ignore[attr-defined]
        if not data and self.proc.poll() is not None:
            raise proto.ProtocolError(
                f"the host program ended (status {self.proc.returncode})",
                "look at its exit status and console",
            )
        return data


class DeviceLink:
    """Request/response client of ``firmware/app/stream_main.c``."""

    def __init__(self, transport: Transport, timeout_s: float = 30.0) -> None:
        self.t = transport
        self.timeout_s = timeout_s
        self._dec = proto.Decoder()
        self._pending: list[proto.Frame] = []
        self._seq = 0

    def send_raw(self, data: bytes) -> None:
        """Send bytes as they are (tests use it to send corrupt frames)."""
        self.t.write(data)

    def request(self, type_: int, payload: bytes = b"") -> int:
        self._seq = (self._seq + 1) & 0xFF
        self.t.write(proto.encode(type_, self._seq, payload))
        return self._seq

    def read_frame(self) -> proto.Frame:
        deadline = time.monotonic() + self.timeout_s
        while not self._pending:
            if time.monotonic() > deadline:
                raise proto.ProtocolError(
                    f"no reply from the device within {self.timeout_s:g} s",
                    "is the streaming firmware running on the board?",
                )
            chunk = self.t.read(self._dec.wanted())
            if chunk:
                self._pending += self._dec.feed(chunk)
        return self._pending.pop(0)

    def _reply(self, seq: int, expect: int) -> proto.Frame:
        f = self.read_frame()
        if f.type == proto.ERROR:
            code = f.payload[0] if f.payload else 0
            raise proto.ProtocolError(
                f"device reported error {code} ({proto.ERROR_NAMES.get(code, 'unknown')}) "
                f"for request {f.seq}"
            )
        if f.type != expect or f.seq != seq:
            raise proto.ProtocolError(
                f"unexpected reply type 0x{f.type:02x} seq {f.seq} (wanted 0x{expect:02x} seq {seq})"
            )
        return f

    @staticmethod
    def _info(f: proto.Frame) -> DeviceInfo:
        abi, in_len, out_len = struct.unpack_from("<HII", f.payload)
        return DeviceInfo(abi, in_len, out_len, f.payload[10:].decode("ascii", "replace"))

    def wait_ready(self) -> DeviceInfo:
        """Wait for the boot announcement (INFO, seq 0) the firmware sends once its UART receives."""
        return self._info(self._reply(0, proto.INFO))

    def hello(self) -> DeviceInfo:
        return self._info(self._reply(self.request(proto.HELLO), proto.INFO))

    def infer(self, x: np.ndarray, out_len: int) -> tuple[np.ndarray, int]:
        """One forward pass on the device: returns (outputs float32, counter ticks)."""
        payload = np.ascontiguousarray(x, dtype="<f4").tobytes()
        f = self._reply(self.request(proto.INFER, payload), proto.RESULT)
        status, ticks = struct.unpack_from("<iQ", f.payload)
        out = np.frombuffer(f.payload[12:], dtype="<f4").astype(np.float32)
        if status != 0 or out.size != out_len:
            raise proto.ProtocolError(f"bad RESULT: status {status}, {out.size} outputs")
        return out, int(ticks)

    def bye(self) -> None:
        self._reply(self.request(proto.BYE), proto.BYE_ACK)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gdb_load(elf: Path, gdb_port: int, timeout_s: float = 60.0) -> str:
    """Load ``elf`` through a GDB server, start it from its vector table, detach. Returns the log."""
    gdb = shutil.which("gdb-multiarch") or shutil.which("arm-none-eabi-gdb")
    if gdb is None:
        raise ToolchainError(
            "gdb-multiarch is not installed (needed to load firmware through a GDB server)",
            "run `make bootstrap` (apt-get install --no-install-recommends gdb-multiarch)",
        )
    cmd = [
        gdb, "-batch", "-nx",
        "-ex", f"target remote 127.0.0.1:{gdb_port}",
        "-ex", "load",
        "-ex", "set $sp = *(unsigned int *)0",
        "-ex", "set $pc = *(unsigned int *)4 & ~1",
        "-ex", "set $xpsr = 0x01000000",
        "-ex", "detach",
        str(elf),
    ]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise SimulationError(f"GDB load of {elf.name} timed out after {timeout_s:g} s") from None
    log = proc.stdout + proc.stderr
    if proc.returncode != 0 or "Transfer rate" not in log:
        raise SimulationError(f"GDB could not load {elf.name}:\n{log[-2000:]}")
    return log


@dataclass
class BoardSession:
    link: DeviceLink
    serial_url: str | None  # where an external client connects (QEMU boards)
    gdb_log: str  # what the GDB load printed
    exit_status: int | None = None  # set when the session has ended
    console: str = ""  # the firmware's semihosting console, set when the session has ended


@contextlib.contextmanager
def open_board(
    board: Board, elf: Path, timeout_s: float = 120.0, serial_port: int | None = None
) -> Iterator[BoardSession]:
    """Bring up ``board`` running ``elf`` (the streaming firmware) and yield a session.

    The QEMU process (or host program) is bounded by ``timeout_s`` and always ended on exit.
    """
    if board.runner["kind"] == "native":
        proc = subprocess.Popen(
            [str(elf)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        native = BoardSession(DeviceLink(PipeTransport(proc)), None, "")
        ended = False
        try:
            native.link.wait_ready()
            yield native
        except _LINK_ERRORS as exc:
            native.exit_status, native.console = _finish(proc, timeout_s=5.0)
            ended = True
            _raise_link_failure(board, native.exit_status, native.console, exc)
        finally:
            if not ended:
                native.exit_status, native.console = _finish(proc, timeout_s=5.0)
        return
    require("qemu-system-arm")
    gdb_port = free_port()
    ser_port = serial_port or free_port()
    serial_backend = f"tcp:127.0.0.1:{ser_port},server=on,wait=off"
    cmd = qemu_command(board, None, serial=serial_backend)
    cmd += ["-S", "-gdb", f"tcp:127.0.0.1:{gdb_port}"]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    transport: SerialTransport | None = None
    session: BoardSession | None = None
    ended = False
    started = time.monotonic()
    try:
        # Attach to the UART while the CPU is still halted, so the boot announcement reaches us.
        url = f"socket://127.0.0.1:{ser_port}"
        transport = _connect_serial(url, proc, deadline=started + 30)
        gdb_log = gdb_load(elf, gdb_port)
        session = BoardSession(DeviceLink(transport, timeout_s=min(60.0, timeout_s)), url, gdb_log)
        try:
            session.link.wait_ready()
            yield session
        except _LINK_ERRORS as exc:
            # the link broke: the board's own exit status and console say why (a HardFault's
            # TU_FAULT line), so wait (bounded) for QEMU to end before reporting
            transport.close()
            transport = None
            status, console = _finish(proc, timeout_s=5.0)
            ended = True
            session.exit_status, session.console = status, console
            _raise_link_failure(board, status, console, exc)
    finally:
        if transport is not None:
            transport.close()
        if not ended:
            status, console = _finish(
                proc, timeout_s=max(1.0, timeout_s - (time.monotonic() - started))
            )
            if session is not None:
                session.exit_status, session.console = status, console


_LINK_ERRORS = (serial.SerialException, OSError, proto.ProtocolError)


def _raise_link_failure(board: Board, status: int | None, console: str, exc: Exception) -> None:
    """Turn a broken serial link into one error line: the firmware's fault (exit status 6), its
    non-zero exit (4), or the link error itself (5)."""
    if status not in (None, 0):
        check_exit(board, status, console)
    if isinstance(exc, proto.ProtocolError):
        raise exc
    raise proto.ProtocolError(
        f"{board.name}: the serial link broke ({type(exc).__name__}: {exc})",
        "check that the streaming firmware runs on the board (`tinyunfold flash`)",
    ) from None


def _connect_serial(url: str, proc: subprocess.Popen[bytes], deadline: float) -> SerialTransport:
    """Connect once to QEMU's UART socket, retrying until it listens (no probe connections:
    QEMU takes the first connection as its client)."""
    while True:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise SimulationError(f"QEMU exited early with status {proc.returncode}: {out[-2000:]}")
        try:
            return SerialTransport(url, timeout_s=0.5)
        except serial.SerialException:
            if time.monotonic() > deadline:
                raise SimulationError(f"QEMU's UART socket {url} did not open") from None
            time.sleep(0.05)


def _finish(proc: subprocess.Popen[bytes], timeout_s: float) -> tuple[int, str]:
    """Wait (bounded) for the program to end, killing it if needed; returns (status, console)."""
    try:
        out, err = proc.communicate(timeout=min(timeout_s, 10.0))
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    text = (out or b"").decode(errors="replace") + (err or b"").decode(errors="replace")
    return int(proc.returncode), text
