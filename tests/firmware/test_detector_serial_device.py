"""The streaming detector on the simulated STM32F405 (netduinoplus2, over its own USART), and the
`stream` client on a real serial device: a pseudo-terminal relayed to QEMU's UART, as a board's
/dev/ttyACM0 would be. Events equal `tinyunfold detect`, bit for bit."""

from __future__ import annotations

import json
import os
import select
import socket
import termios
import threading
import tty

import detector_data as dd
from test_detector_device import WAVS

from tinyunfold.cli import main
from tinyunfold.golden import stream as gs


def test_stm32f405_detector_events_equal_detect(detector_set, capsys):
    models, wavs = detector_set
    n_events = 0
    for w in WAVS:
        want = dd.detect_report(models["padnmf"], wavs[w], capsys)["events"]
        rc = main(["run", "--model", str(models["padnmf"]), "--board", "stm32f405", "--input",
                   str(wavs[w]), "--json"])  # fmt: skip
        rep = json.loads(capsys.readouterr().out)
        assert rc == 0 and rep["bit_exact"], rep["mismatches"]
        assert [dd.event_key(e) for e in rep["events"]] == [dd.event_key(e) for e in want]
        assert rep["stats"]["overruns"] == 0 and rep["exit_status"] == 0
        n_events += len(want)
    assert n_events >= 3  # a hit and two hits: the comparison is not vacuous


class PtyRelay:
    """A pseudo-terminal whose far end is a TCP socket (QEMU's UART): what a USB serial adapter
    is to a real board. Clients open ``self.path`` like /dev/ttyACM0; bytes are copied both ways
    until :meth:`close`."""

    def __init__(self, port: int) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line discipline: binary frames pass unchanged
        attrs = termios.tcgetattr(slave)
        attrs[4] = attrs[5] = termios.B115200
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        self.path = os.ttyname(slave)
        self._slave = slave
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setblocking(False)
        self._stop = threading.Event()
        self.bytes = [0, 0]  # host -> board, board -> host
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master, self.sock], [], [], 0.05)
            try:
                if self.master in ready:
                    data = os.read(self.master, 4096)
                    self.sock.sendall(data)
                    self.bytes[0] += len(data)
                if self.sock in ready:
                    data = self.sock.recv(4096)
                    if not data:
                        return
                    os.write(self.master, data)
                    self.bytes[1] += len(data)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()
        os.close(self.master)
        os.close(self._slave)


def test_stream_client_on_a_serial_device(detector_set, capsys):
    """`stream --port /dev/pts/N --baud 115200`: pyserial opens a real tty (not a socket URL)."""
    models, wavs = detector_set
    with dd.sim_session(models["padnmf"], "mps2-an386") as (proc, port):
        relay = PtyRelay(port)
        try:
            want = dd.detect_report(models["padnmf"], wavs["two"], capsys)["events"]
            argv = ["stream", "--port", relay.path, "--baud", "115200", str(wavs["two"]),
                    "--json", "--model", str(models["padnmf"]), "--no-progress", "--bye"]  # fmt: skip
            assert main(argv) == 0
            lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
            events, summary = lines[:-1], lines[-1]
            assert summary["summary"]["verdict"] == "BIT-EXACT"
            assert [dd.event_key(e) for e in events] == [dd.event_key(e) for e in want] and len(
                want
            ) >= 2
            # the audio went through the tty: all of its int16 PCM, plus framing
            assert relay.bytes[0] > 2 * len(gs.read_pcm16(wavs["two"])[1]) and relay.bytes[1] > 0
            out, _ = proc.communicate(timeout=60)
            assert proc.returncode == 0, out
        finally:
            relay.close()


def _patch_udf(elf_in, elf_out, symbol: str) -> int:
    """Copy ``elf_in`` with the first instruction of ``symbol`` replaced by UDF #0 (Thumb 0xDE00):
    the firmware takes a UsageFault (escalated to HardFault) when it first calls ``symbol``.
    Returns the patched address."""
    from elftools.elf.elffile import ELFFile

    data = bytearray(elf_in.read_bytes())
    with elf_in.open("rb") as fh:
        elf = ELFFile(fh)
        sym = elf.get_section_by_name(".symtab").get_symbol_by_name(symbol)[0]
        addr = int(sym["st_value"]) & ~1  # Thumb bit
        for sec in elf.iter_sections():
            lo = int(sec["sh_addr"])
            if sec["sh_type"] == "SHT_PROGBITS" and lo <= addr < lo + int(sec["sh_size"]):
                off = int(sec["sh_offset"]) + addr - lo
                break
        else:
            raise AssertionError(f"{symbol} is in no loaded section")
    data[off : off + 2] = (0xDE00).to_bytes(2, "little")
    elf_out.write_bytes(bytes(data))
    return addr


def test_fault_mid_stream_reports_the_firmware_fault_line(detector_set, tmp_path, capsys,
                                                         monkeypatch):  # fmt: skip
    """The detector takes a HardFault at its first forward pass (after HELLO and the first AUDIO
    frames): `run` prints one line with the firmware's own TU_FAULT report and exits 6."""
    import dataclasses
    import re

    from tinyunfold.errors import EXIT_FAULT
    from tinyunfold.tools import build as build_mod

    models, wavs = detector_set
    real_build = build_mod.build_model
    patched: dict[str, int] = {}

    def faulting_forward(*args, **kw):
        res = real_build(*args, **kw)
        elf = tmp_path / "faulting.elf"
        patched["addr"] = _patch_udf(res.artifact, elf, "tu_model_forward")
        return dataclasses.replace(res, artifact=elf)

    monkeypatch.setattr(build_mod, "build_model", faulting_forward)
    argv = ["run", "--model", str(models["padnmf"]), "--board", "mps2-an386", "--input",
            str(wavs["hit"])]  # fmt: skip
    assert main(argv) == EXIT_FAULT
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "; fix: " in err[0], err
    m = re.search(r"TU_FAULT exc=([0-9a-f]{8}) pc=([0-9a-f]{8}) cfsr=([0-9a-f]{8})", err[0])
    assert m, err[0]
    assert int(m.group(2), 16) == patched["addr"]  # the fault is where the UDF was planted
