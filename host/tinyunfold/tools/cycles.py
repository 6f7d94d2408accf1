"""Cycle estimates from an executed-instruction trace (QEMU ``-d in_asm,exec,nochain``).

QEMU counts instructions, not cycles. This module runs a board ELF once under QEMU with the
translation-block (TB) trace on, joins every executed TB with the ELF's disassembly
(``arm-none-eabi-objdump -d``) and weights each executed instruction with a documented cycle
table for the Cortex-M4F or the Cortex-M7 (:data:`TABLES`, docs/architecture.md "Cycle
estimates"):

* ``-d in_asm`` prints each TB's guest instructions once, when it is translated; ``-d exec`` with
  ``nochain`` prints one ``Trace`` line per TB execution (host pointer of the TB, guest pc,
  symbol). The first execution of a host pointer follows its translation, which gives the
  instructions of every executed TB exactly, even when QEMU (under ``-icount``) re-translates a
  TB cut at an I/O access (``cpu_io_recompile: rewound execution of TB to A``: the instructions
  from A on did not run and are not counted).
* Only the forward pass counts: from the first TB in ``tu_model_forward`` to the next TB back in
  ``main`` (the program's own timer reads around the call are a handful of instructions).
* A TB ends at a branch; whether it was taken is read from the next TB's pc (fall-through
  address = not taken).
* Loads/stores: 2 cycles, 1 when the previous instruction of the TB was a load/store (the M4's
  pipelined neighbouring accesses); LDM/STM/PUSH/POP 1 + N (+ refill when they load pc).
* Flash wait states: instruction fetches are taken as hits of the flash accelerator (STM32 ART /
  M7 I-cache: the kernels' loops are a few hundred bytes); data read from flash (the model's
  constants) costs ``wait_states / words_per_line`` extra cycles per 32-bit word, streamed
  line by line. Which loads read flash is not visible in the trace, so the caller passes the
  number of flash words the forward pass reads (known for each kernel, e.g. one dictionary
  word per kept multiply-add).

Limits (what a real part adds or removes): no dual issue on the M7 (an upper bound there), no
branch prediction beyond a fixed refill, no stalls for FPU result latency (1-cycle VFP ops
back to back are taken as 1 each; VDIV/VSQRT 14), no bus contention, interrupts or cache misses
on instruction fetch, SDIV/UDIV at a fixed 7 of their 2-12 cycles.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tinyunfold.errors import SimulationError
from tinyunfold.platform.boards import Board, require_runner
from tinyunfold.platform.toolchain import die_with_parent, require
from tinyunfold.tools.sim import qemu_command


@dataclass(frozen=True)
class CycleTable:
    """Cycles per instruction class for one core, and the flash of the part it is quoted for."""

    core: str
    part: str
    clock_hz: int
    alu: float = 1  # data processing, moves, compares, IT, barriers, nop
    mul: float = 1  # MUL/MLA/MLS (single-cycle MAC)
    div: float = 7  # SDIV/UDIV: 2-12, data dependent
    mem: float = 2  # LDR/STR (+ byte/half/dual); 1 when pipelined after another access
    mem_pipelined: float = 1
    multi_base: float = 1  # LDM/STM/PUSH/POP/VLDM/VSTM/VPUSH/VPOP: base + N registers
    refill: float = 2  # pipeline refill P of a taken branch (1-3 on the M4)
    fp: float = 1  # VADD/VSUB/VMUL/VNEG/VABS/VCMP/VCVT/VMOV/VMRS
    fp_mac: float = 3  # VMLA/VMLS/VNMLA/VFMA (not emitted: -ffp-contract=off)
    fp_div: float = 14  # VDIV.F32
    fp_sqrt: float = 14  # VSQRT.F32
    flash_wait_states: int = 5
    flash_words_per_line: int = 4  # 128-bit flash line (STM32F4 ART)


# Cortex-M4F: ARM Cortex-M4 TRM r0p1, 3.3 "Processor instruction timings" and 7.2.2 "FPU
# instruction set" (VDIV/VSQRT 14); STM32F405 at 168 MHz: 5 flash wait states (RM0090 3.5.1).
CORTEX_M4 = CycleTable(core="cortex-m4", part="STM32F405 (168 MHz, 5 WS)", clock_hz=168_000_000)
# Cortex-M7: loads/stores single-cycle (TCM/L1), taken branch refill 1 (branch predictor), VDIV
# and VSQRT 14 (M7 TRM, FPU single precision); STM32F746 at 216 MHz: 7 wait states, 256-bit
# flash lines through the L1 cache (8 words). Dual issue is not modelled: an upper bound.
CORTEX_M7 = CycleTable(
    core="cortex-m7",
    part="STM32F746 (216 MHz, 7 WS)",
    clock_hz=216_000_000,
    mem=1,
    mem_pipelined=1,
    refill=1,
    fp_mac=1,
    flash_wait_states=7,
    flash_words_per_line=8,
)
TABLES = {"cortex-m4": CORTEX_M4, "cortex-m7": CORTEX_M7}


def table_for(board: Board) -> CycleTable:
    """The cycle table of a board's core (from its ``-mcpu=`` flag)."""
    path = board.path if board.path.suffix == ".json" else board.path / "board.json"
    for flag in json.loads(path.read_text()).get("arch_flags", []):
        if flag.startswith("-mcpu="):
            core = flag.split("=", 1)[1]
            if core in TABLES:
                return TABLES[core]
    raise SimulationError(
        f"{board.name}: no cycle table for its core", f"use one of {', '.join(TABLES)}"
    )


# ------------------------------------------------------------------------- disassembly
@dataclass(frozen=True)
class Insn:
    addr: int
    size: int
    mnemonic: str
    operands: str


_OBJ = re.compile(r"^\s*([0-9a-f]+):\s+((?:[0-9a-f]{4} ?){1,2})\s+(\S+)\s*(.*)$")


def disassemble(elf: Path) -> dict[int, Insn]:
    """Address -> instruction of every instruction in the ELF's code (objdump -d)."""
    out = subprocess.run(
        [require("arm-none-eabi-objdump"), "-d", str(elf)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    insns: dict[int, Insn] = {}
    for line in out.splitlines():
        m = _OBJ.match(line)
        if m is None or m.group(3).startswith("."):
            continue
        size = 2 * len(m.group(2).split())
        insns[int(m.group(1), 16)] = Insn(
            int(m.group(1), 16), size, m.group(3), m.group(4).split("@")[0].strip()
        )
    return insns


_COND = (
    "eq",
    "ne",
    "cs",
    "hs",
    "cc",
    "lo",
    "mi",
    "pl",
    "vs",
    "vc",
    "hi",
    "ls",
    "ge",
    "lt",
    "gt",
    "le",
    "al",
)


def _base(mnemonic: str) -> str:
    """Mnemonic without width suffix (.w/.n), data type (.f32) kept separately by the caller."""
    return mnemonic.split(".")[0]


def _n_regs(operands: str) -> int:
    m = re.search(r"\{([^}]*)\}", operands)
    if m is None:
        return 1
    n = 0
    for part in m.group(1).split(","):
        part = part.strip()
        if "-" in part:
            a, b = (int(re.sub(r"\D", "", x)) for x in part.split("-"))
            n += b - a + 1
        elif part:
            n += 1
    return n


def _strip_cond(base: str, stems: tuple[str, ...]) -> str | None:
    for s in stems:
        if base == s or (base.startswith(s) and base[len(s) :] in _COND):
            return s
    return None


def classify(insn: Insn) -> str:
    """Class of an instruction for the cycle table (see :class:`CycleTable`)."""
    mn = insn.mnemonic.lower()
    base = _base(mn)
    if base.startswith("v"):
        if base.startswith(("vdiv",)):
            return "fp_div"
        if base.startswith("vsqrt"):
            return "fp_sqrt"
        if base.startswith(("vmla", "vmls", "vnmla", "vnmls", "vfma", "vfms", "vfnma", "vfnms")):
            return "fp_mac"
        if base.startswith(("vldm", "vstm", "vpush", "vpop")):
            return "multi"
        if base.startswith(("vldr", "vstr")):
            return "mem"
        return "fp"
    if _strip_cond(base, ("ldm", "ldmia", "ldmdb", "stm", "stmia", "stmdb", "push", "pop")):
        return "multi"
    if _strip_cond(base, ("sdiv", "udiv")):
        return "div"
    if _strip_cond(base, ("mul", "mla", "mls", "umull", "smull", "umlal", "smlal")):
        return "mul"
    if _strip_cond(base, ("b", "bl", "bx", "blx", "cbz", "cbnz", "tbb", "tbh")):
        return "branch"
    if base.startswith(("ldr", "str", "pld")):
        return "mem"
    return "alu"


def _writes_pc(insn: Insn) -> bool:
    ops = insn.operands.replace(" ", "")
    return ops.startswith("pc,") or "pc}" in ops or ",pc}" in ops


@dataclass
class CycleEstimate:
    """Executed instructions and estimated cycles of one forward pass."""

    instructions: int
    cycles: float
    core: str
    part: str
    clock_hz: int
    flash_words: int
    by_class: dict[str, int] = field(default_factory=dict)  # executed instructions per class
    cycles_by_class: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "instructions": self.instructions,
            "cycles": round(self.cycles),
            "core": self.core,
            "part": self.part,
            "clock_hz": self.clock_hz,
            "flash_words": self.flash_words,
            "instructions_by_class": dict(self.by_class),
            "cycles_by_class": {k: round(v) for k, v in self.cycles_by_class.items()},
        }


def weigh(
    executed: Mapping[tuple[int, ...], int],
    taken: Mapping[tuple[int, ...], int],
    insns: dict[int, Insn],
    table: CycleTable,
    flash_words: int = 0,
) -> CycleEstimate:
    """Cycles of executed TBs: ``executed[tb]`` executions of the TB with instruction addresses
    ``tb``; ``taken[tb]`` of them ended in a taken branch."""
    by_class: Counter[str] = Counter()
    cyc: dict[str, float] = {}

    def add(key: str, value: float) -> None:
        cyc[key] = cyc.get(key, 0.0) + value

    for tb, count in executed.items():
        prev_mem = False
        for i, addr in enumerate(tb):
            insn = insns.get(addr)
            if insn is None:
                raise SimulationError(f"executed address 0x{addr:x} is not in the disassembly")
            cls = classify(insn)
            by_class[cls] += count
            c: float
            if cls == "mem":
                c = table.mem_pipelined if prev_mem else table.mem
            elif cls == "multi":
                c = table.multi_base + _n_regs(insn.operands)
                if _writes_pc(insn) and i == len(tb) - 1:
                    add("branch", taken.get(tb, 0) * table.refill)
            elif cls == "branch":
                c = 1
                if i == len(tb) - 1:
                    add("branch", taken.get(tb, 0) * table.refill)
            else:
                c = getattr(table, cls)
                if cls == "alu" and _writes_pc(insn) and i == len(tb) - 1:
                    add("branch", taken.get(tb, 0) * table.refill)
            prev_mem = cls in ("mem", "multi")
            add(cls, c * count)
    add("flash_wait", flash_words * table.flash_wait_states / table.flash_words_per_line)
    return CycleEstimate(
        instructions=sum(by_class.values()),
        cycles=float(sum(cyc.values())),
        core=table.core,
        part=table.part,
        clock_hz=table.clock_hz,
        flash_words=flash_words,
        by_class=dict(by_class),
        cycles_by_class=dict(cyc),
    )


# ------------------------------------------------------------------------------ the trace
_TRACE = re.compile(
    r"^Trace \d+: (0x[0-9a-f]+) \[[0-9a-f]+/([0-9a-f]+)/[0-9a-f]+/[0-9a-f]+\] ?(.*)$"
)
_INSN = re.compile(r"^0x([0-9a-f]+):")
_REWIND = re.compile(r"rewound execution of TB to ([0-9a-f]+)")


def parse_trace(
    lines: object, insns: dict[int, Insn], start: str = "tu_model_forward", stop: str = "main"
) -> tuple[Counter[tuple[int, ...]], Counter[tuple[int, ...]]]:
    """Executed TBs of the window [first TB in ``start``, next TB in ``stop``) of a QEMU log."""
    pending: dict[int, tuple[int, ...]] = {}
    tbs: dict[str, tuple[int, ...]] = {}
    executed: Counter[tuple[int, ...]] = Counter()
    taken: Counter[tuple[int, ...]] = Counter()
    block: list[int] | None = None
    state = 0  # 0 before the window, 1 inside, 2 after
    last: tuple[int, ...] | None = None
    for line in lines:  # type: ignore[attr-defined]
        if block is not None:
            m = _INSN.match(line)
            if m:
                block.append(int(m.group(1), 16))
                continue
            if block:
                pending[block[0]] = tuple(block)
            block = None
        if line.startswith("IN:"):
            block = []
            continue
        if line.startswith("Trace"):
            m = _TRACE.match(line)
            if m is None:
                continue
            ptr, pc, sym = m.group(1), int(m.group(2), 16), m.group(3).strip()
            tb = tbs.get(ptr)
            if tb is None or tb[0] != pc:
                tb = pending.get(pc, (pc,))
                tbs[ptr] = tb
            if state == 0 and sym == start:
                state = 1
            elif state == 1 and sym == stop:
                state = 2
            if state == 1:
                if last is not None:
                    end = insns[last[-1]]
                    if pc != end.addr + end.size:
                        taken[last] += 1
                executed[tb] += 1
                last = tb
            elif state == 2 and last is not None:
                end = insns[last[-1]]
                if pc != end.addr + end.size:
                    taken[last] += 1
                last = None
            continue
        m = _REWIND.search(line)
        if m and state == 1 and last is not None:
            cut = int(m.group(1), 16)
            executed[last] -= 1
            part = tuple(a for a in last if a < cut)
            if part:
                executed[part] += 1
            last = part or None
    return executed, taken


def estimate(
    board: Board,
    elf: Path,
    inputs: bytes,
    flash_words: int = 0,
    timeout_s: float = 600.0,
    table: CycleTable | None = None,
) -> CycleEstimate:
    """Run ``elf`` (a vectors program) on one input block under QEMU with the TB trace and weigh
    the forward pass's executed instructions (:func:`weigh`). The trace goes through a FIFO, so
    no log file grows on disk; the run is time-bounded."""
    require_runner(board)
    elf = Path(elf).resolve()
    insns = disassemble(elf)
    tab = table or table_for(board)
    with tempfile.TemporaryDirectory(prefix="tu-cycles-") as tmp:
        work = Path(tmp)
        (work / "input.bin").write_bytes(inputs)
        fifo = work / "trace.fifo"
        os.mkfifo(fifo)
        cmd = qemu_command(board, elf) + ["-d", "in_asm,exec,nochain", "-D", str(fifo)]
        proc = subprocess.Popen(
            cmd,
            cwd=work,
            preexec_fn=die_with_parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        timer = threading.Timer(timeout_s, proc.kill)
        timer.start()
        try:
            with open(fifo, errors="replace") as f:
                executed, taken = parse_trace(f, insns)
            proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
        if proc.returncode != 0:
            raise SimulationError(
                f"{board.name}: traced run ended with status {proc.returncode}: "
                f"{proc.stdout.read().decode(errors='replace')[-500:] if proc.stdout else ''}",
                "the program hangs or faults, or give it a longer timeout",
            )
    if not executed:
        raise SimulationError(f"{board.name}: the trace holds no TB of tu_model_forward")
    return weigh(executed, taken, insns, tab, flash_words)
