"""Put a firmware image on a part and start it: through any GDB server, or pyOCD's Python API.

``flash_gdb`` drives ``gdb-multiarch`` against a GDB server (OpenOCD, ST-LINK gdbserver, J-Link
GDB server, ``pyocd gdbserver``, QEMU's ``-gdb``): ``load``, ``compare-sections`` (every loadable
section read back and compared), reset, ``detach``; gdb then exits, which releases the server's
port for the next client. The reset is by default the image's own: SP and PC from its vector table
(every server supports register writes; QEMU has no ``monitor reset``); ``reset="monitor"`` sends
``monitor reset`` instead (OpenOCD, J-Link, pyOCD, ST-LINK: a full system reset).

``flash_pyocd`` uses pyOCD (an optional dependency: ``pip install pyocd``): program the ELF,
read every loadable segment back and compare, reset and run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.elffile import ELFFile

from tinyunfold.errors import TinyUnfoldError, ToolchainError
from tinyunfold.platform.boards import Board

RESETS = ("vector", "monitor")


class FlashError(TinyUnfoldError):
    """The image could not be loaded, verified or started on the target."""

    exit_code = 4


@dataclass(frozen=True)
class FlashResult:
    method: str  # "gdb HOST:PORT" or "pyocd <probe>"
    sections: list[str]  # names (gdb) or addresses (pyocd) of what was verified
    bytes_loaded: int
    entry: int  # the reset handler the part was started at
    log: str


def load_segments(elf: Path) -> list[tuple[int, bytes]]:
    """(load address, bytes) of every PT_LOAD segment with file contents, by address."""
    with open(elf, "rb") as f:
        e = ELFFile(f)
        segs = [
            (int(s["p_paddr"]), s.data()[: int(s["p_filesz"])])
            for s in e.iter_segments()
            if s["p_type"] == "PT_LOAD" and int(s["p_filesz"]) > 0
        ]
    return sorted(segs)


def vector_table(elf: Path) -> tuple[int, int, int]:
    """(address, initial SP, reset PC) of the image's vector table: the lowest loaded word pair."""
    addr, data = load_segments(elf)[0]
    if len(data) < 8:
        raise FlashError(f"{elf.name} starts with no vector table", "link it with the board's .ld")
    sp = int.from_bytes(data[0:4], "little")
    pc = int.from_bytes(data[4:8], "little")
    return addr, sp, pc


def parse_gdb_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``:PORT`` / ``PORT`` for localhost) -> (host, port)."""
    m = re.fullmatch(r"(?:(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-_]*):)?(\d{1,5})", text.strip())
    if m is None or not 0 < int(m.group(2)) < 65536:
        raise FlashError(
            f"--gdb {text!r} is not HOST:PORT", "e.g. --gdb localhost:3333 (OpenOCD's default)"
        )
    return (m.group(1) or "127.0.0.1").strip("[]"), int(m.group(2))


def _gdb() -> str:
    gdb = shutil.which("gdb-multiarch") or shutil.which("arm-none-eabi-gdb")
    if gdb is None:
        raise ToolchainError(
            "gdb-multiarch is not installed (needed to flash through a GDB server)",
            "run `make bootstrap` (apt-get install --no-install-recommends gdb-multiarch)",
        )
    return gdb


def _run_gdb(elf: Path, host: str, port: int, commands: list[str], timeout_s: float) -> str:
    # A command file, not -ex: gdb stops at the first failing command (no load after a failed
    # connect, no reset after a failed verify).
    script = [
        "set confirm off",
        "set pagination off",
        "set tcp connect-timeout 10",
        f"target remote {host}:{port}",
        *commands,
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".gdb", prefix="tu-flash-", delete=False) as f:
        f.write("\n".join(script) + "\n")
        path = Path(f.name)
    try:
        proc = subprocess.run(
            [_gdb(), "-batch", "-nx", "-x", str(path), str(elf)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise FlashError(
            f"gdb did not finish within {timeout_s:g} s talking to {host}:{port}",
            "check that the GDB server is up and the probe is connected",
        ) from None
    finally:
        path.unlink(missing_ok=True)
    log = proc.stdout + proc.stderr
    if re.search(rf"{re.escape(host)}:{port}: (Connection refused|Connection timed out)|"
                 r"Remote communication error|could not connect", log):  # fmt: skip
        raise FlashError(
            f"no GDB server answers at {host}:{port}",
            "start one (openocd -f board/<your board>.cfg, ST-LINK_gdbserver, JLinkGDBServer, "
            "pyocd gdbserver) or fix --gdb HOST:PORT",
        )
    return log


def _verified_sections(log: str, elf: Path) -> list[str]:
    bad = re.findall(r"Section (\S+), range \S+ -- \S+: MIS-MATCHED", log)
    if bad or "do not match the loaded file" in log:
        raise FlashError(
            f"verify failed: the target's {', '.join(bad) or 'sections'} differ from {elf.name}",
            "the flash write did not take: erase the part (or check write protection) and retry",
        )
    ok = re.findall(r"Section (\S+), range \S+ -- \S+: matched", log)
    if not ok:
        raise FlashError(f"gdb verified nothing of {elf.name}:\n{log.strip()[-1500:]}")
    return ok


def verify_gdb(elf: Path, address: str, timeout_s: float = 60.0) -> list[str]:
    """``compare-sections`` of ``elf`` against the target, then detach; the verified sections."""
    host, port = parse_gdb_address(address)
    log = _run_gdb(elf, host, port, ["compare-sections", "detach"], timeout_s)
    return _verified_sections(log, elf)


def flash_gdb(
    elf: Path, address: str, reset: str = "vector", timeout_s: float = 120.0
) -> FlashResult:
    """Load ``elf`` through the GDB server at ``address``, verify, reset, detach (port released)."""
    if reset not in RESETS:
        raise FlashError(f"unknown reset {reset!r}", f"use one of {RESETS}")
    host, port = parse_gdb_address(address)
    vt, sp, pc = vector_table(elf)
    if reset == "vector":  # the image's own reset: its vector table, Thumb state
        start = [f"set $sp = {sp:#x}", f"set $pc = {pc & ~1:#x}", "set $xpsr = 0x01000000"]
    else:
        start = ["monitor reset"]
    log = _run_gdb(elf, host, port, ["load", "compare-sections", *start, "detach"], timeout_s)
    m = re.search(r"Start address \S+, load size (\d+)", log)
    if "Transfer rate" not in log or m is None:
        raise FlashError(f"gdb could not load {elf.name} at {host}:{port}:\n{log.strip()[-1500:]}")
    sections = _verified_sections(log, elf)
    if "detached" not in log.lower():
        raise FlashError(f"gdb did not detach from {host}:{port}:\n{log.strip()[-1500:]}")
    return FlashResult(f"gdb {host}:{port}", sections, int(m.group(1)), pc & ~1, log)


def flash_pyocd(
    elf: Path, target: str | None = None, probe: str | None = None, frequency_hz: int | None = None
) -> FlashResult:
    """Program, verify (read back) and reset-run ``elf`` with pyOCD's Python API.

    ``target`` is pyOCD's target name (board.json ``hardware.pyocd_target``; some need
    ``pyocd pack install <target>``), ``probe`` a probe's unique id (default: the only one).
    """
    try:
        from pyocd.core.helpers import ConnectHelper
        from pyocd.flash.file_programmer import FileProgrammer
    except ImportError:
        raise FlashError(
            "pyOCD is not installed (needed for --probe pyocd)", "pip install pyocd"
        ) from None
    options = {"frequency": frequency_hz} if frequency_hz else {}
    session = ConnectHelper.session_with_chosen_probe(
        unique_id=probe, target_override=target, blocking=False, options=options
    )
    if session is None:
        raise FlashError(
            "pyOCD found no debug probe",
            "plug the board's ST-LINK / CMSIS-DAP / J-Link in over USB (Linux: install pyOCD's "
            "udev rules), or pass its unique id",
        )
    segments = load_segments(elf)
    with session:
        FileProgrammer(session).program(str(elf), file_format="elf")
        for addr, data in segments:
            got = bytes(session.target.read_memory_block8(addr, len(data)))
            if got != data:
                first = next(i for i, (a, b) in enumerate(zip(got, data, strict=True)) if a != b)
                raise FlashError(
                    f"verify failed at {addr + first:#010x} ({elf.name})",
                    "erase the part (pyocd erase --chip) and flash again",
                )
        session.target.reset()
        uid = session.probe.unique_id
    _, _, pc = vector_table(elf)
    return FlashResult(
        f"pyocd {uid}",
        [f"{a:#010x}+{len(d)}" for a, d in segments],
        sum(len(d) for _, d in segments),
        pc & ~1,
        "",
    )


def flash_to_part(board: Board, elf: Path, gdb: str | None, probe: str | None) -> str:
    """``tinyunfold flash --gdb HOST:PORT | --probe pyocd``: flash, verify, start; a summary."""
    if gdb and probe:
        raise FlashError("--gdb and --probe both given", "flash through one of them")
    if gdb:
        r = flash_gdb(elf, gdb)
    else:
        r = flash_pyocd(elf, target=board.hardware.get("pyocd_target"))
    console = board.hardware.get("console", "the board's UART")
    return (
        f"{board.name}: {elf.name} ({r.bytes_loaded:,} B) loaded through {r.method}, verified "
        f"({', '.join(r.sections)}), started at {r.entry:#010x}; serial link: {console}"
    )
