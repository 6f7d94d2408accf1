"""Host side of the detector firmware (``firmware/app/detector_main.c``): audio in, hits out.

* :class:`DetectorLink` — a :class:`~tinyunfold.tools.link.DeviceLink` that keeps the unsolicited
  EVENT frames (seq 0) the device sends while it processes AUDIO.
* :func:`stream_pcm` — AUDIO frames with credit-based flow control: never more than the device's
  credit past ``next_sample``; each frame is retried with the same seq (the device answers a
  duplicate from its CREDIT cache). Returns the events, the device's STATS and the link counts.
* :func:`compare_events` — the BIT-EXACT verdict against the golden events
  (:mod:`tinyunfold.golden.stream`): every field equal, score/threshold as uint32.
* :func:`serve` — QEMU serving the board's UART on a TCP port for any outside client
  (``tinyunfold sim`` / ``flash``), without holding the connection itself.
* :func:`run_detector` — ``tinyunfold run`` for a detector and a WAV: build, board up, stream,
  STATS, BYE, the firmware's totals, the golden events and the verdict.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import serial

from tinyunfold.codegen.generator import model_hash
from tinyunfold.errors import SimulationError, TinyUnfoldError
from tinyunfold.golden import stream as gstream
from tinyunfold.modelfile import ModelFile
from tinyunfold.platform.boards import Board, require_runner
from tinyunfold.platform.toolchain import require
from tinyunfold.tools import protocol as proto
from tinyunfold.tools.link import (
    DeviceLink,
    QemuListener,
    Transport,
    check_port_in_use,
    gdb_load,
    open_serial,
    start_qemu,
)
from tinyunfold.tools.sim import qemu_command

_SUMMARY = re.compile(
    r"TU_DETECTOR samples=(\d+) frames=(\d+) windows=(\d+) events=(\d+) "
    r"frame_ticks=(\d+) window_ticks=(\d+)"
)


class DetectorLink(DeviceLink):
    """DeviceLink that collects EVENT frames (seq 0) into :attr:`events` as they arrive."""

    def __init__(self, transport: Transport, **kw: Any) -> None:
        super().__init__(transport, **kw)
        self.events: list[proto.Event] = []
        self.on_event: Callable[[proto.Event], None] | None = None

    @classmethod
    def adopt(cls, link: DeviceLink) -> DetectorLink:
        """The same link (transport, decoder, pending frames, seq) with event collection."""
        obj = cls.__new__(cls)
        obj.__dict__.update(link.__dict__)
        obj.events = []
        obj.on_event = None
        return obj

    def read_frame(
        self, deadline: float | None = None, stop_on_drop: bool = False
    ) -> proto.Frame | None:
        deadline = time.monotonic() + self.timeout_s if deadline is None else deadline
        while True:
            f = super().read_frame(deadline, stop_on_drop)
            if f is None or not (f.type == proto.EVENT and f.seq == 0):
                return f
            try:
                ev = proto.unpack_event(f.payload)
            except proto.ProtocolError as err:
                self._report(f"EVENT dropped: {err.cause}")
                continue
            self.events.append(ev)
            if self.on_event is not None:
                self.on_event(ev)


def to_golden(e: proto.Event) -> gstream.Event:
    """An EVENT payload as a golden :class:`~tinyunfold.golden.stream.Event` (bits kept)."""
    return gstream.Event(
        e.window,
        e.start_sample,
        e.class_index,
        e.onset_frame,
        np.uint32(e.score_bits).view(np.float32),
        np.uint32(e.thresh_bits).view(np.float32),
    )


@dataclass
class StreamRun:
    """What one stream of audio gave: events (golden form), the device's STATS, link counts."""

    info: proto.Info
    events: list[gstream.Event]
    stats: proto.Stats
    n_samples: int
    wall_s: float
    credits: int
    reports: list[str] = field(default_factory=list)


def stream_pcm(
    link: DetectorLink,
    info: proto.Info,
    pcm: np.ndarray,
    progress: Callable[[int, int], None] | None = None,
    chunk: int = proto.AUDIO_MAX_SAMPLES,
) -> StreamRun:
    """Send int16 ``pcm`` in AUDIO frames of at most ``chunk`` samples within the device's
    credit; collect EVENTs and STATS. (Short chunks suit a noisy link: one corrupt byte costs a
    whole frame.)"""
    pcm = np.asarray(pcm, dtype=np.int16)
    start, credit, n_credit = 0, proto.AUDIO_MAX_SAMPLES, 0
    t0 = time.monotonic()
    first_event = len(link.events)
    while start < len(pcm):
        n = min(chunk, proto.AUDIO_MAX_SAMPLES, credit, len(pcm) - start)
        if n <= 0:
            raise proto.ProtocolError(f"the device gives no credit at sample {start}")
        payload = proto.pack_audio(start, pcm[start : start + n].tolist())
        c = proto.unpack_credit(link.transact(proto.AUDIO, payload, proto.CREDIT).payload)
        n_credit += 1
        if c.next_sample < start + n:
            raise proto.ProtocolError(
                f"the device took samples up to {c.next_sample}, {start + n} were sent "
                f"({c.overruns} overruns)"
            )
        start, credit = c.next_sample, c.credit
        if progress is not None:
            progress(start, len(pcm))
    stats = link.stats()
    events = [to_golden(e) for e in link.events[first_event:]]
    return StreamRun(
        info, events, stats, len(pcm), time.monotonic() - t0, n_credit, list(link.reports)
    )


def expected_hash(model: ModelFile) -> bytes:
    """INFO's model_hash for ``model``: the first 8 bytes of the generator's input sha256."""
    return bytes.fromhex(model_hash(model)[:16])


def check_info(info: proto.Info, cfg: gstream.StreamConfig, model: ModelFile) -> None:
    """Raise when the device serves another detector than ``model``."""
    want = (
        cfg.sample_rate,
        cfg.hop,
        cfg.n_frames,
        cfg.stride,
        tuple(cfg.class_names),
        expected_hash(model),
    )
    got = (info.sample_rate, info.hop, info.window, info.stride, info.class_names, info.model_hash)
    if got != want:
        raise TinyUnfoldError(
            f"the device runs another detector (INFO {got}, model {want})",
            "build and start the detector firmware of this model (`tinyunfold sim --model ...`)",
        )


def compare_events(device: list[gstream.Event], golden: list[gstream.Event]) -> list[str]:
    """Differences, one line each (empty: BIT-EXACT). Fields and score/threshold bits compared."""
    out = []
    for i in range(max(len(device), len(golden))):
        d = device[i].key() if i < len(device) else None
        g = golden[i].key() if i < len(golden) else None
        if d != g:
            out.append(f"event {i}: device {d}, golden {g}")
    return out


def connect(
    url: str, timeout_s: float = 30.0, link_timeout_s: float = 10.0, baudrate: int = 115200
) -> DetectorLink:
    """Connect to a serial URL (``socket://...``, ``/dev/ttyACM0``, ``rfc2217://...``), retrying
    until it opens (a starting ``tinyunfold sim``), and return a link. ``baudrate`` applies to a
    real serial device (a board's UART or USB virtual COM port)."""
    try:
        t = open_serial(url, time.monotonic() + timeout_s, timeout_s=0.2, baudrate=baudrate)
    except serial.SerialException as err:
        raise TinyUnfoldError(
            f"cannot open the serial link {url} ({err})",
            "start the board first: `tinyunfold sim --model M --board B --port P`",
        ) from None
    return DetectorLink(t, timeout_s=link_timeout_s)


@dataclass
class Served:
    """A board serving its UART: ``url`` for clients, the QEMU process, its console when done."""

    url: str
    proc: subprocess.Popen[bytes]
    console: str = ""
    exit_status: int | None = None


@contextlib.contextmanager
def serve(
    board: Board, elf: Path, port: int | None, timeout_s: float, load: str = "kernel"
) -> Iterator[Served]:
    """QEMU running ``elf`` with UART0 on ``tcp:127.0.0.1:<port>`` for any outside client.

    ``load="kernel"``: QEMU loads the ELF itself and waits for the first client before the CPU
    starts (``wait=on``), so that client also gets the boot INFO. ``load="gdb"``: QEMU starts
    halted, ``gdb-multiarch`` loads and starts the ELF (as a probe would) and the UART waits for
    clients without holding the program (a client asks for INFO with HELLO). Either way nobody
    but the client connects to the UART, and a client may disconnect and another connect later.
    The process is bounded by ``timeout_s`` and ended on exit.
    """
    require_runner(board)
    if board.runner["kind"] != "qemu":
        raise TinyUnfoldError(f"{board.name} is not simulated", "use mps2-an386 or mps2-an500")
    require("qemu-system-arm")
    wait = "on" if load == "kernel" else "off"
    # sockets bound here and handed to QEMU (QemuListener), except a --port the user chose
    listeners: list[QemuListener] = []
    if port:
        serial = f"tcp:127.0.0.1:{port},server=on,wait={wait}"
    else:
        uart = QemuListener("tu_uart", wait=load == "kernel")
        listeners.append(uart)
        port, serial = uart.port, f"chardev:{uart.id}"
    cmd = qemu_command(board, elf if load == "kernel" else None, serial=serial)
    gdb_port = 0
    if load == "gdb":
        gdb = QemuListener("tu_gdb", nodelay=True)
        listeners.append(gdb)
        gdb_port = gdb.port
        cmd += ["-S", "-gdb", f"chardev:{gdb.id}"]
    proc = start_qemu(cmd, listeners)
    served = Served(f"socket://127.0.0.1:{port}", proc)
    started = time.monotonic()
    head = b""
    try:
        if load == "kernel":  # QEMU says when it listens; a probe connection would be its client
            head = _read_until(proc, b"waiting for connection", started + 30.0)
        if load == "gdb":  # QEMU may not listen yet: a refused `target remote` is retried
            for attempt in range(20):
                try:
                    gdb_load(elf, gdb_port)
                    break
                except SimulationError:
                    if attempt == 19 or proc.poll() is not None:
                        raise
                    time.sleep(0.25)
        yield served
        remaining = timeout_s - (time.monotonic() - started)
        try:
            proc.wait(timeout=max(0.1, remaining))
        except subprocess.TimeoutExpired:
            pass
    finally:
        if proc.poll() is None:
            proc.kill()
        out = proc.communicate()[0] or b""
        served.console = (head + out).decode(errors="replace")
        served.exit_status = proc.returncode


def _read_until(proc: subprocess.Popen[bytes], marker: bytes, deadline: float) -> bytes:
    """Read QEMU's output until ``marker`` (bounded); returns what was read."""
    import os
    import select

    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buf = b""
    while marker not in buf:
        left = deadline - time.monotonic()
        ended = proc.poll() is not None
        if ended:
            buf += proc.stdout.read() or b""
            check_port_in_use(buf.decode(errors="replace"))
        if left <= 0 or ended:
            raise SimulationError(
                f"QEMU did not open its UART socket: {buf.decode(errors='replace')[-2000:]}"
            )
        ready, _, _ = select.select([fd], [], [], min(left, 0.5))
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                continue
            buf += chunk
    return buf


def firmware_totals(console: str) -> dict[str, int] | None:
    """The firmware's ``TU_DETECTOR ...`` totals line (printed at BYE), or None."""
    m = _SUMMARY.search(console)
    if m is None:
        return None
    keys = ("samples", "frames", "windows", "events", "frame_ticks", "window_ticks")
    return dict(zip(keys, (int(v) for v in m.groups()), strict=True))


@dataclass
class DetectorRun:
    """``tinyunfold run`` of a detector on a WAV."""

    board: str
    kernels: str
    cfg: gstream.StreamConfig
    device: StreamRun
    golden: list[gstream.Event]
    mismatches: list[str]
    totals: dict[str, int] | None
    ticks_to_units: Callable[[int], int]
    unit: str
    exit_status: int | None

    @property
    def bit_exact(self) -> bool:
        return not self.mismatches

    def report(self) -> dict[str, Any]:
        t = self.totals or {}
        windows = max(1, t.get("windows", 0))
        frames = max(1, t.get("frames", 0))
        return {
            "board": self.board,
            "kernels": self.kernels,
            "events": [e.to_dict(self.cfg) for e in self.device.events],
            "golden_events": [e.to_dict(self.cfg) for e in self.golden],
            "bit_exact": self.bit_exact,
            "mismatches": self.mismatches,
            "samples": self.device.n_samples,
            "windows": t.get("windows"),
            "frames": t.get("frames"),
            f"{self.unit}_per_frame": self.ticks_to_units(t.get("frame_ticks", 0)) // frames,
            f"{self.unit}_per_window": self.ticks_to_units(t.get("window_ticks", 0)) // windows,
            f"{self.unit}_total": self.ticks_to_units(
                t.get("frame_ticks", 0) + t.get("window_ticks", 0)
            ),
            f"{self.unit}_max_window": self.ticks_to_units(self.device.stats.ticks_max),
            "stats": self.device.stats.__dict__,
            "stream_wall_s": round(self.device.wall_s, 3),
            "exit_status": self.exit_status,
        }


def run_detector(
    model: ModelFile,
    board_name: str,
    pcm: np.ndarray,
    kernels: str = "cmsis",
    timeout_s: float = 300.0,
    progress: Callable[[int, int], None] | None = None,
) -> DetectorRun:
    """Build the detector firmware, stream ``pcm`` to it over the real serial link, compare."""
    from tinyunfold import kinds
    from tinyunfold.tools.build import build_model
    from tinyunfold.tools.link import open_board

    cfg: gstream.StreamConfig = kinds.get(model.kind).require("stream")(model)
    golden = gstream.run_stream(cfg, pcm).events
    res = build_model(model, board_name, kernels, program="detector")
    with open_board(res.board, res.artifact, timeout_s) as session:
        link = DetectorLink.adopt(session.link)
        info = link.hello().info
        assert info is not None
        check_info(info, cfg, model)
        run = stream_pcm(link, info, pcm, progress)
        link.bye()
    totals = firmware_totals(session.console)
    if session.exit_status != 0:
        raise SimulationError(
            f"{res.board.name}: the detector firmware exited with status {session.exit_status}: "
            f"{session.console.strip()[-2000:]}"
        )
    mismatches = compare_events(run.events, golden)
    if totals is not None and totals["events"] != len(run.events):
        # EVENT frames are unsolicited: one lost on the link shows here (and in the decoder's counts)
        mismatches.append(f"the device sent {totals['events']} events, {len(run.events)} arrived")
    return DetectorRun(
        res.board.name,
        kernels,
        cfg,
        run,
        golden,
        mismatches,
        totals,
        res.board.ticks_to_units,
        res.board.counter_unit,
        session.exit_status,
    )
