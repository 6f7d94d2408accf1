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
import os
import re
import select
import shutil
import socket
import struct
import subprocess
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import serial

from tinyunfold.errors import SimulationError, ToolchainError
from tinyunfold.platform.boards import Board, require_runner
from tinyunfold.platform.toolchain import die_with_parent, require
from tinyunfold.tools import protocol as proto
from tinyunfold.tools.sim import check_exit, qemu_command


@dataclass(frozen=True)
class DeviceInfo:
    abi: int
    in_len: int
    out_len: int
    kind: str
    proto_version: int = proto.VERSION
    info: proto.Info | None = None  # the whole INFO payload (hash, audio framing, class names)


class LinkRequestFailed(proto.ProtocolError):
    """A request got no valid reply after every retry (each attempt bounded by ``timeout_s``)."""


class DeviceFault(SimulationError):
    """The firmware sent its fault line (FAULT frame)."""


class Transport(Protocol):
    """Byte pipe to a device: ``write`` and ``read(n)`` (returns fewer bytes, maybe none, after a
    bounded wait)."""

    def write(self, data: bytes) -> None: ...

    def read(self, n: int) -> bytes: ...


class SerialTransport:
    """pyserial on any URL it understands (``socket://host:port``, ``/dev/ttyACM0``, ...)."""

    def __init__(self, url: str, timeout_s: float = 0.5, baudrate: int = 115200) -> None:
        self.port = serial.serial_for_url(url, timeout=timeout_s, baudrate=baudrate)

    def write(self, data: bytes) -> None:
        self.port.write(data)
        self.port.flush()

    def read(self, n: int) -> bytes:
        return bytes(self.port.read(n))

    def close(self) -> None:
        self.port.close()


class PipeTransport:
    """The host build of the streaming program: the serial link is its stdin/stdout. Reads wait
    at most ``timeout_s`` (select on the pipe)."""

    def __init__(self, proc: subprocess.Popen[bytes], timeout_s: float = 0.5) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.proc = proc
        self.timeout_s = timeout_s

    def write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def read(self, n: int) -> bytes:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], self.timeout_s)
        if not ready:
            return b""
        data = os.read(fd, n)
        if not data and self.proc.poll() is not None:
            raise proto.ProtocolError(
                f"the host program ended (status {self.proc.returncode})",
                "look at its exit status and console",
            )
        return data


@dataclass
class LinkCounts:
    """What the host saw: requests sent, retries, attempts that timed out, attempts cut short by a
    corrupt frame from the device, ERROR frames received, replies dropped as stale (another seq),
    requests that failed after every retry."""

    requests: int = 0
    retries: int = 0
    timeouts: int = 0
    corrupt_replies: int = 0
    device_errors: int = 0
    stale: int = 0
    failed: int = 0


class DeviceLink:
    """Request/response client of ``firmware/app/stream_main.c`` (protocol v2).

    Every request waits at most ``timeout_s`` per attempt and is sent again, with the same seq
    and bytes, up to ``retries`` times when the reply does not come or the device reports a lost
    frame (the device answers a duplicate from its reply cache). Errors are reported through
    ``report`` (default: kept in ``reports``) and counted in ``counts``; only a request that fails
    every attempt raises `LinkRequestFailed`.
    """

    def __init__(
        self,
        transport: Transport,
        timeout_s: float = 5.0,
        retries: int = 4,
        report: Callable[[str], None] | None = None,
    ) -> None:
        self.t = transport
        self.timeout_s = timeout_s
        self.retries = retries
        self.decoder = proto.Decoder()
        self.counts = LinkCounts()
        self.reports: deque[str] = deque(maxlen=1000)
        self._report = report or self.reports.append
        self._pending: deque[proto.Frame] = deque()
        self._seq = 0

    def send_raw(self, data: bytes) -> None:
        """Send bytes as they are (tests use it to send corrupt frames)."""
        self.t.write(data)

    def request(self, type_: int, payload: bytes = b"") -> int:
        """Send one request without waiting; returns its seq (1..255, never 0)."""
        self._seq = self._seq % 255 + 1
        self.t.write(proto.encode(type_, self._seq, payload))
        return self._seq

    def _drops(self) -> int:
        c = self.decoder.counts
        return c.crc_errors + c.length_errors + c.type_errors

    def read_frame(
        self, deadline: float | None = None, stop_on_drop: bool = False
    ) -> proto.Frame | None:
        """The next decoded frame, or None when ``deadline`` (default: now + timeout_s) passes
        or, with ``stop_on_drop``, as soon as the decoder drops a corrupt frame."""
        deadline = time.monotonic() + self.timeout_s if deadline is None else deadline
        drops = self._drops()
        while not self._pending:
            if time.monotonic() > deadline or (stop_on_drop and self._drops() > drops):
                return None
            chunk = self.t.read(self.decoder.wanted())
            if chunk:
                self._pending.extend(self.decoder.feed(chunk))
        return self._pending.popleft()

    def transact(self, type_: int, payload: bytes, expect: int) -> proto.Frame:
        """Send a request and return its reply, retrying with the same seq (see the class)."""
        self._seq = self._seq % 255 + 1
        seq = self._seq
        frame = proto.encode(type_, seq, payload)
        name = proto.TYPES.get(type_, (f"0x{type_:02x}", 0))[0]
        self.counts.requests += 1
        for attempt in range(self.retries + 1):
            if attempt:
                self.counts.retries += 1
            self.t.write(frame)
            deadline = time.monotonic() + self.timeout_s
            while True:
                f = self.read_frame(deadline, stop_on_drop=True)
                if f is None and time.monotonic() <= deadline:
                    self.counts.corrupt_replies += 1
                    self._report(
                        f"{name} seq {seq}: a corrupt frame from the device was dropped "
                        f"(attempt {attempt + 1} of {self.retries + 1})"
                    )
                    break
                if f is None:
                    self.counts.timeouts += 1
                    self._report(
                        f"{name} seq {seq}: no reply within {self.timeout_s:g} s "
                        f"(attempt {attempt + 1} of {self.retries + 1})"
                    )
                    break
                if f.type == proto.FAULT:
                    line = proto.unpack_fault(f.payload)
                    raise DeviceFault(
                        f"the firmware faulted: {line}", "see docs/protocol.md (FAULT)"
                    )
                if f.type == proto.ERROR and len(f.payload) == proto.MAX_LEN[proto.ERROR]:
                    code, ref = proto.unpack_error(f.payload)
                    self.counts.device_errors += 1
                    what = proto.ERROR_NAMES.get(code, f"code {code}")
                    self._report(f"{name} seq {seq}: device reported {what} (seq {ref})")
                    if code in proto.LOST_FRAME_CODES:
                        break  # a frame was lost on the link: send the request again
                    if ref == seq:
                        raise proto.ProtocolError(
                            f"device reported error {code} ({what}) for request {seq}"
                        )
                    continue
                if f.type == expect and f.seq == seq:
                    return f
                self.counts.stale += 1
        self.counts.failed += 1
        self._report(f"{name} seq {seq}: failed after {self.retries + 1} attempts")
        raise LinkRequestFailed(
            f"{name} request {seq} got no valid reply after {self.retries + 1} attempts of "
            f"{self.timeout_s:g} s",
            "check the serial link (baud rate, cable) and that the streaming firmware runs",
        )

    def _info(self, f: proto.Frame) -> DeviceInfo:
        i = proto.unpack_info(f.payload)
        # a RESULT longer than this model's is corrupt: reject it as soon as its header arrives
        self.decoder.limits[proto.RESULT] = min(proto.MAX_LEN[proto.RESULT], 12 + 4 * i.out_len)
        return DeviceInfo(i.abi, i.in_len, i.out_len, i.kind, i.proto, i)

    def wait_ready(self, timeout_s: float | None = None) -> DeviceInfo:
        """Wait for the boot announcement (INFO, seq 0); if it was lost, ask with HELLO."""
        deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)
        while (f := self.read_frame(deadline)) is not None:
            if f.type == proto.INFO and f.seq == 0:
                return self._info(f)
            self.counts.stale += 1
        self._report("boot INFO not received: asking with HELLO")
        return self.hello()

    def hello(self) -> DeviceInfo:
        return self._info(self.transact(proto.HELLO, bytes([proto.VERSION]), proto.INFO))

    def get_state(self) -> tuple[int, np.ndarray]:
        """GET_STATE -> STATE: (k, x̂(k) float32) of a stateful model (dkf), bits untouched."""
        f = self.transact(proto.GET_STATE, b"", proto.STATE)
        step, raw = proto.unpack_state(f.payload)
        return step, np.frombuffer(raw, dtype="<f4").astype(np.float32)

    def infer(self, x: np.ndarray, out_len: int) -> tuple[np.ndarray, int]:
        """One forward pass on the device: returns (outputs float32, counter ticks)."""
        payload = np.ascontiguousarray(x, dtype="<f4").tobytes()
        f = self.transact(proto.INFER, payload, proto.RESULT)
        if len(f.payload) != 12 + 4 * out_len:
            raise proto.ProtocolError(
                f"bad RESULT: {len(f.payload)} bytes for {out_len} outputs",
                "the firmware serves another model: rebuild and flash it",
            )
        status, ticks = struct.unpack_from("<iQ", f.payload)
        out = np.frombuffer(f.payload[12:], dtype="<f4").astype(np.float32)
        if status != 0:
            raise proto.ProtocolError(f"bad RESULT: status {status}")
        return out, int(ticks)

    def stream(
        self, blocks: Iterable[np.ndarray], out_len: int
    ) -> Iterator[tuple[int, np.ndarray | None, int]]:
        """``infer`` on each block; a block whose request fails every retry is reported and
        yields ``(i, None, 0)``, and the stream goes on."""
        for i, x in enumerate(blocks):
            try:
                out, ticks = self.infer(x, out_len)
            except LinkRequestFailed as err:
                self._report(f"block {i}: {err.cause}")
                yield i, None, 0
                continue
            yield i, out, ticks

    def stats(self) -> proto.Stats:
        """The device's STATS (ticks, CRC errors, resyncs, duplicates, overruns, stack)."""
        return proto.unpack_stats(self.transact(proto.GET_STATS, b"", proto.STATS).payload)

    def bye(self) -> None:
        self.transact(proto.BYE, b"", proto.BYE_ACK)


def free_port() -> int:
    """A TCP port that was free a moment ago (another program may take it before it is used:
    QEMU's own sockets come from :class:`QemuListener` instead)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class QemuListener:
    """A listening TCP socket on 127.0.0.1 bound here and handed to QEMU as a chardev (``fd=``):
    its port is known before QEMU starts and no other program can take it in between (a port
    from :func:`free_port` can be taken between the check and QEMU's bind, by another program or
    another test worker, whose QEMU a client would then reach)."""

    def __init__(self, chardev_id: str, nodelay: bool = False, wait: bool = False) -> None:
        self.id = chardev_id
        self.nodelay = nodelay  # as QEMU's own "-gdb tcp:..." (many small packets: no Nagle)
        self.wait = wait  # QEMU waits for the first client before it starts the machine
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = int(self.sock.getsockname()[1])

    @property
    def fd(self) -> int:
        return self.sock.fileno()

    def chardev(self) -> list[str]:
        """QEMU options defining the chardev ``id`` on this socket."""
        opts = f"socket,id={self.id},fd={self.fd},server=on,wait={'on' if self.wait else 'off'}"
        return ["-chardev", opts + (",nodelay=on" if self.nodelay else "")]

    def close(self) -> None:
        """Our copy of the socket: close once QEMU has its own (after Popen)."""
        self.sock.close()


def start_qemu(cmd: list[str], listeners: list[QemuListener]) -> subprocess.Popen[bytes]:
    """Start QEMU (``cmd``, stdout and stderr piped together) with the chardevs of
    ``listeners`` on their inherited sockets; closes our copies of the sockets."""
    for ln in listeners:
        cmd = cmd + ln.chardev()
    try:
        return subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
            pass_fds=[ln.fd for ln in listeners],
        )
    finally:  # QEMU holds its own copies now
        for ln in listeners:
            ln.close()


def port_in_use_message(output: str) -> str | None:
    """QEMU's complaint about a TCP port it could not listen on (a --port that is taken)."""
    m = re.search(r"(tcp:[0-9.]+:\d+)[^:\n]*: Failed to find an available port", output)
    if m is None and "Address already in use" not in output:
        return None
    return f"QEMU could not listen on {m.group(1) if m else 'its TCP port'}: address in use"


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
    board: Board,
    elf: Path,
    timeout_s: float = 120.0,
    serial_port: int | None = None,
    *,
    link_timeout_s: float = 10.0,
    retries: int = 4,
    ready_timeout_s: float = 30.0,
    via: Callable[[str], str] | None = None,
) -> Iterator[BoardSession]:
    """Bring up ``board`` running ``elf`` (the streaming firmware) and yield a session.

    The QEMU process (or host program) is bounded by ``timeout_s`` and always ended on exit.
    ``link_timeout_s`` and ``retries`` bound each request (`DeviceLink`); ``ready_timeout_s``
    bounds the wait for the boot INFO (then HELLO asks). ``via``, given QEMU's UART URL, returns
    the URL the client connects to instead (tests put a corrupting relay there).
    """
    require_runner(board)
    if board.runner["kind"] == "native":
        proc = subprocess.Popen(
            [str(elf)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=die_with_parent,
        )
        link = DeviceLink(PipeTransport(proc), timeout_s=link_timeout_s, retries=retries)
        native = BoardSession(link, None, "")
        ended = False
        try:
            native.link.wait_ready(ready_timeout_s)
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
    gdb = QemuListener("tu_gdb", nodelay=True)
    uart: QemuListener | None = None
    if serial_port is None:
        uart = QemuListener("tu_uart")
        ser_port, serial_backend = uart.port, f"chardev:{uart.id}"
    else:
        ser_port, serial_backend = serial_port, f"tcp:127.0.0.1:{serial_port},server=on,wait=off"
    gdb_port = gdb.port
    cmd = qemu_command(board, None, serial=serial_backend)
    cmd += ["-S", "-gdb", f"chardev:{gdb.id}"]
    proc = start_qemu(cmd, [gdb] + ([uart] if uart else []))
    transport: SerialTransport | None = None
    session: BoardSession | None = None
    ended = False
    started = time.monotonic()
    try:
        # Attach to the UART while the CPU is still halted, so the boot announcement reaches us.
        url = f"socket://127.0.0.1:{ser_port}"
        if via is not None:
            url = via(url)
        transport = _connect_serial(url, proc, deadline=started + 30)
        try:
            gdb_log = gdb_load(elf, gdb_port)
        except SimulationError:  # QEMU may have ended: a chosen --port taken by another program
            if proc.poll() is not None and proc.stdout is not None:
                check_port_in_use(proc.stdout.read().decode(errors="replace"))
            raise
        link = DeviceLink(transport, timeout_s=link_timeout_s, retries=retries)
        session = BoardSession(link, url, gdb_log)
        try:
            session.link.wait_ready(ready_timeout_s)
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
    if status is not None and status > 0:  # the firmware ended by itself (not killed by us)
        check_exit(board, status, console)
    if isinstance(exc, proto.ProtocolError):
        raise exc
    raise proto.ProtocolError(
        f"{board.name}: the serial link broke ({type(exc).__name__}: {exc})",
        "check that the streaming firmware runs on the board (`tinyunfold flash`)",
    ) from None


def open_serial(
    url: str,
    deadline: float,
    timeout_s: float = 0.5,
    baudrate: int = 115200,
    alive: Callable[[], None] | None = None,
) -> SerialTransport:
    """Open ``url`` once it accepts (a starting QEMU UART, a board being plugged in), retrying
    until ``deadline`` (monotonic); ``alive()`` may raise to stop early. Raises the last
    :class:`serial.SerialException` at the deadline. No probe connections: QEMU takes the first
    connection as its client."""
    while True:
        if alive is not None:
            alive()
        try:
            return SerialTransport(url, timeout_s=timeout_s, baudrate=baudrate)
        except serial.SerialException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def check_port_in_use(output: str) -> None:
    """Raise one line when QEMU's ``output`` says a TCP port it was given is taken."""
    taken = port_in_use_message(output)
    if taken:
        raise SimulationError(taken, "choose another port (--port), or none: one is picked")


def _connect_serial(url: str, proc: subprocess.Popen[bytes], deadline: float) -> SerialTransport:
    """Connect to QEMU's UART socket (:func:`open_serial`), failing fast if QEMU exits."""

    def alive() -> None:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            check_port_in_use(out)
            raise SimulationError(f"QEMU exited early with status {proc.returncode}: {out[-2000:]}")

    try:
        return open_serial(url, deadline, alive=alive)
    except serial.SerialException:
        raise SimulationError(f"QEMU's UART socket {url} did not open") from None


def _finish(proc: subprocess.Popen[bytes], timeout_s: float) -> tuple[int, str]:
    """Wait (bounded) for the program to end, killing it if needed; returns (status, console)."""
    try:
        out, err = proc.communicate(timeout=min(timeout_s, 10.0))
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    text = (out or b"").decode(errors="replace") + (err or b"").decode(errors="replace")
    return int(proc.returncode), text
