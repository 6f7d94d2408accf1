"""Does a model fit the part? Model + firmware against the flash and RAM of ``board.json``.

Checked twice: at generation time (the generated constants and scratch buffers alone against the
part, before anything is compiled) and after linking (every allocated section of the ELF summed
into the board's memory regions; a linker "region overflowed" error is translated the same way).
A model that does not fit fails with :class:`DoesNotFitError`: how many bytes too many, in which
memory, and what to shrink for that model kind.
"""

from __future__ import annotations

import re
from pathlib import Path

from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile

from tinyunfold.errors import TinyUnfoldError
from tinyunfold.modelfile import ModelFile
from tinyunfold.platform.boards import Board

_OVERFLOW = re.compile(r"region [`'](\w+)' overflowed by (\d+) bytes")

# What makes each kind's weights (flash) and buffers (RAM) big, biggest lever first.
_SHRINK_FLASH = {
    "nmf": "a lower rank R (fewer atoms) or fewer bins/bands F (W is F x R)",
    "padnmf": "fewer layers K (each layer keeps its own weights), a lower rank R or fewer bands F",
    "deepnmf": "fewer layers K (each layer keeps its own weights), a lower rank R or fewer bands F",
    "dkf": "fewer unrolled layers or a smaller state/hidden size",
    "spectrogram": "a shorter FFT (n_fft) or fewer bands",
    "dnmfd": "fewer trained layers C (each keeps its own J dictionaries), fewer dictionaries or "
    "lower ranks r_j, or fewer bands m",
}
_SHRINK_RAM = {
    "nmf": "fewer frames per block N or fewer bins/bands F (buffers are F x N and R x N)",
    "padnmf": "fewer frames per block N or fewer bands F (buffers are F x N and R x N)",
    "deepnmf": "fewer frames per block N or fewer bands F (buffers are F x N and R x N)",
    "dkf": "a smaller state/hidden size",
    "spectrogram": "a shorter FFT (n_fft)",
    "dnmfd": "fewer frames per window n or fewer bands m (buffers are n x m and J x n)",
}


class DoesNotFitError(TinyUnfoldError):
    """Model + firmware exceed the part's flash or RAM."""


def _largest_arrays(model: ModelFile, n: int = 2) -> str:
    arrays = sorted(model.arrays.items(), key=lambda kv: -int(kv[1].nbytes))[:n]
    return ", ".join(
        f"{name} {'x'.join(map(str, a.shape))} = {4 * int(a.size):,} B" for name, a in arrays
    )


def _error(
    model: ModelFile, board: Board, memory: str, over: int, capacity: int, what: str
) -> DoesNotFitError:
    is_flash = memory.upper().startswith("FLASH")
    shrink = (_SHRINK_FLASH if is_flash else _SHRINK_RAM).get(model.kind, "a smaller model")
    biggest = _largest_arrays(model) if is_flash and model.arrays else ""
    return DoesNotFitError(
        f"the {model.kind} model does not fit {board.name}: {what} exceed the part's {memory} "
        f"({capacity:,} B) by {over:,} B",
        f"shrink the model by at least {over:,} B: {shrink}"
        + (f" (largest arrays: {biggest})" if biggest else "")
        + "; or pick a board with more memory",
    )


def check_generated(model: ModelFile, info: dict[str, int], board: Board) -> None:
    """Generation time: the model's constants against the flash, its buffers against the RAM.

    ``info`` is ``GeneratedModel.info`` (``flash_const_bytes``, ``ram_scratch_bytes``).
    """
    if board.is_host:
        return
    const = int(info.get("flash_const_bytes", 0))
    scratch = int(info.get("ram_scratch_bytes", 0))
    if board.flash_bytes and const > board.flash_bytes:
        raise _error(model, board, "flash", const - board.flash_bytes, board.flash_bytes,
                     f"its weights ({const:,} B)")  # fmt: skip
    if board.ram_bytes and scratch > board.ram_bytes:
        raise _error(model, board, "RAM", scratch - board.ram_bytes, board.ram_bytes,
                     f"its buffers ({scratch:,} B)")  # fmt: skip


def region_usage(elf_path: Path, board: Board) -> dict[str, int]:
    """Bytes each memory region of ``board.json`` holds in an ELF (LMA copies of .data count in
    flash, their run-time copies in RAM; NOLOAD stack/heap count where they are reserved)."""
    used = dict.fromkeys(board.memory, 0)

    def region_of(addr: int) -> str | None:
        for name, r in board.memory.items():
            if r["origin"] <= addr < r["origin"] + r["length"]:
                return name
        return None

    with open(elf_path, "rb") as f:
        elf = ELFFile(f)
        for sec in elf.iter_sections():
            size = int(sec["sh_size"])
            if not sec["sh_flags"] & SH_FLAGS.SHF_ALLOC or size == 0:
                continue
            vma = int(sec["sh_addr"])
            homes = {region_of(vma)}
            if sec["sh_type"] != "SHT_NOBITS":
                for seg in elf.iter_segments():
                    if seg["p_type"] == "PT_LOAD" and seg.section_in_segment(sec):
                        homes.add(region_of(vma - int(seg["p_vaddr"]) + int(seg["p_paddr"])))
            for home in homes - {None}:
                used[str(home)] += size
    return used


def check_image(elf_path: Path, model: ModelFile, board: Board) -> dict[str, int]:
    """After linking: every region's use against its size; returns the usage per region."""
    used = region_usage(elf_path, board)
    for name, r in board.memory.items():
        if used[name] > r["length"]:
            raise _error(model, board, name, used[name] - r["length"], r["length"],
                         f"the linked sections ({used[name]:,} B)")  # fmt: skip
    return used


def link_overflow(log: str, model: ModelFile, board: Board) -> DoesNotFitError | None:
    """The linker's ``region `X' overflowed by N bytes`` as a :class:`DoesNotFitError`, or None."""
    m = _OVERFLOW.search(log)
    if m is None:
        return None
    name, over = m.group(1), int(m.group(2))
    capacity = int(board.memory.get(name, {}).get("length", 0))
    return _error(model, board, name, over, capacity, "model + firmware")
