"""Audio in, hits out on the simulated boards: the detector firmware's events equal those of
`tinyunfold detect` bit for bit (uint32 score/threshold), through `run` (QEMU, the real serial
link over a socket) and through `sim` + the `stream` client; an outside pyserial client gets INFO
and events from `sim`; a golden mutated by one threshold bit makes the verdict fail."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import detector_data as dd
import numpy as np
import pytest
import serial

from tinyunfold.cli import main
from tinyunfold.golden import stream as gs
from tinyunfold.kinds import load_model
from tinyunfold.tools import protocol as proto
from tinyunfold.tools.detector import expected_hash

BOARDS = ["mps2-an386", "mps2-an500"]
WAVS = ["hit", "nohit", "two"]


# the UR decision (padnmf-ur) on the M4F; its kernels are bit-exact on every board
# (tests/firmware/test_detect_bits.py)
RUNS = [(b, n) for b in BOARDS for n in ("padnmf", "deepnmf")] + [("mps2-an386", "padnmf-ur")]


@pytest.mark.parametrize(("board", "name"), RUNS)
def test_run_events_equal_detect(detector_set, board, name, capsys):
    models, wavs = detector_set
    n_events = 0
    for w in WAVS:
        det, rep = dd.run_equals_detect(models[name], board, wavs[w], capsys)
        want = det["events"]
        assert rep["instructions_per_window"] > 0 and rep["stats"]["stack_hwm"] > 0
        assert rep["stats"]["overruns"] == 0 and rep["exit_status"] == 0
        n_events += len(want)
        if w == "nohit":
            assert want == []
        if name == "deepnmf" and w == "two":  # overlapping windows: the dedupe rule is exercised
            cfg = gs.stream_config(load_model(models[name]))
            res = gs.run_stream(cfg, gs.read_pcm16(wavs[w])[1])
            assert len(res.raw_events) > len(res.events) == len(want)
    assert n_events >= 3  # a hit and two hits: the comparison is not vacuous


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("name", ["padnmf", "deepnmf"])
def test_sim_and_stream_client(detector_set, board, name, capsys):
    models, wavs = detector_set
    with dd.sim_session(models[name], board) as (proc, port):
        for i, w in enumerate(WAVS):
            want = dd.detect_report(models[name], wavs[w], capsys)["events"]
            events, summary = dd.stream_to_sim(
                models[name], port, wavs[w], capsys, bye=i == len(WAVS) - 1
            )
            assert summary["summary"]["verdict"] == "BIT-EXACT"
            assert summary["stats"]["crc_errors"] == 0 and summary["stats"]["overruns"] == 0
            assert [dd.event_key(e) for e in events] == [dd.event_key(e) for e in want]
        dd.sim_ended_cleanly(proc)


def test_outside_pyserial_client(detector_set):
    """`tinyunfold sim` in its own process; this process talks plain pyserial + the frame codec."""
    models, wavs = detector_set
    model = load_model(models["deepnmf"])
    cfg = gs.stream_config(model)
    _, pcm = gs.read_pcm16(wavs["two"])
    want = [e.key() for e in gs.run_stream(cfg, pcm).events]
    assert len(want) >= 2
    with dd.sim_session(models["deepnmf"], "mps2-an386") as (proc, port):
        ser = serial.serial_for_url(f"socket://127.0.0.1:{port}", timeout=0.5)
        dec = proto.Decoder()
        frames: list[proto.Frame] = []

        def reply(type_, seq, payload=b"", want_type=None, timeout_s=20.0):
            ser.write(proto.encode(type_, seq, payload))
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                try:
                    frames.extend(dec.feed(ser.read(max(1, ser.in_waiting))))
                except serial.SerialException:  # the board ended (after BYE): keep what came
                    deadline = 0.0
                for f in frames:
                    if f.type == want_type and f.seq == seq:
                        frames.remove(f)
                        return f
            raise AssertionError(f"no reply to {type_:#x}")

        info = proto.unpack_info(reply(proto.HELLO, 1, bytes([2]), proto.INFO).payload)
        assert info.kind == "deepnmf" and info.class_names == ("low", "high")
        assert (info.sample_rate, info.hop, info.window, info.stride) == (8000, 128, 16, 4)
        assert info.model_hash == expected_hash(model)
        seq = 2
        for start in range(0, len(pcm), 512):
            chunk = pcm[start : start + 512].tolist()
            c = proto.unpack_credit(
                reply(proto.AUDIO, seq, proto.pack_audio(start, chunk), proto.CREDIT).payload
            )
            assert c.next_sample == start + len(chunk) and c.overruns == 0
            seq = seq % 255 + 1
        events = [proto.unpack_event(f.payload) for f in frames if f.type == proto.EVENT]
        got = [
            (e.window, e.start_sample, e.class_index, e.onset_frame, e.score_bits, e.thresh_bits)
            for e in events
        ]
        assert got == want
        reply(proto.BYE, seq, b"", proto.BYE_ACK)
        ser.close()
        assert proc.wait(timeout=60) == 0


def test_mutated_golden_fails_the_verdict(detector_set, monkeypatch, capsys):
    """One threshold bit flipped in the golden events: `run` reports MISMATCH and exits 1."""
    models, wavs = detector_set
    real = gs.run_stream

    def mutated(*a, **kw):
        res = real(*a, **kw)
        e = res.events[0]
        flipped = np.uint32(np.float32(e.threshold).view(np.uint32) ^ np.uint32(1))
        res.events[0] = gs.Event(
            e.window, e.start_sample, e.class_index, e.onset_frame, e.score,
            flipped.view(np.float32),
        )  # fmt: skip
        return res

    monkeypatch.setattr("tinyunfold.tools.detector.gstream.run_stream", mutated)
    argv = ["run", "--model", str(models["padnmf"]), "--board", "mps2-an386", "--input",
            str(wavs["hit"])]  # fmt: skip
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "verdict: MISMATCH" in out and "event 0" in out


def test_flash_leaves_the_uart_to_an_outside_client(detector_set):
    """`flash --serial-port` loads through GDB and holds no UART connection: a pyserial client in
    this process gets INFO (HELLO) and ends the firmware (BYE)."""
    models, _ = detector_set
    cmd = [sys.executable, "-m", "tinyunfold", "flash", "--model", str(models["padnmf"]),
           "--board", "mps2-an500", "--timeout", "120"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        port = dd.wait_listening(proc)  # the port flash bound and printed
        deadline = time.monotonic() + 30
        while True:
            try:
                ser = serial.serial_for_url(f"socket://127.0.0.1:{port}", timeout=0.5)
                break
            except serial.SerialException:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        dec = proto.Decoder()
        ser.write(proto.encode(proto.HELLO, 7, bytes([2])))
        got: list[proto.Frame] = []
        deadline = time.monotonic() + 20
        while not any(f.type == proto.INFO and f.seq == 7 for f in got):
            assert time.monotonic() < deadline, got
            got.extend(dec.feed(ser.read(max(1, ser.in_waiting))))
        info = proto.unpack_info(next(f for f in got if f.seq == 7).payload)
        assert info.kind == "padnmf" and info.class_names == ("low", "high")
        ser.write(proto.encode(proto.BYE, 8))
        assert proc.wait(timeout=60) == 0
        ser.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _alive_children(pid: int, comm: str) -> list[int]:
    """PIDs of the live (not zombie) processes named ``comm`` whose parent is ``pid``."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, rest = stat.read_text().split(" (", 1)[1].rsplit(") ", 1)
        except (OSError, ValueError, IndexError):
            continue
        state, ppid = rest.split()[:2]
        if int(ppid) == pid and name == comm and state != "Z":
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_killed_sim_takes_its_qemu_with_it(detector_set):
    """SIGKILL on `tinyunfold sim` (no cleanup of its own can run): the kernel ends its QEMU too
    (platform.toolchain.die_with_parent); before, QEMU kept running with the port open."""
    models, _ = detector_set
    qemu: list[int] = []
    try:
        with dd.sim_session(models["deepnmf"], "mps2-an386") as (proc, _):
            qemu = _alive_children(proc.pid, "qemu-system-arm")
            assert len(qemu) == 1, qemu
            proc.kill()
            proc.wait()
            deadline = time.monotonic() + 10.0
            while time.monotonic() < deadline and _alive(qemu[0]):
                time.sleep(0.05)
            assert not _alive(qemu[0]), "QEMU outlived the killed sim"
    finally:
        for pid in qemu:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
