"""Flash/RAM of a firmware image (pyelftools) and the per-build JSON report."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile

_RESERVED = {".stack", ".heap"}


@dataclass(frozen=True)
class MemoryUsage:
    text: int  # code + read-only data (flash)
    data: int  # initialised data (flash copy + RAM)
    bss: int  # zero-initialised RAM
    reserved: int  # stack + heap reserved by the linker script (RAM)

    @property
    def flash(self) -> int:
        return self.text + self.data

    @property
    def ram(self) -> int:
        return self.data + self.bss

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "flash": self.flash, "ram": self.ram}


def memory_usage(elf_path: Path) -> MemoryUsage:
    """Section sizes of an ELF, classified like ``arm-none-eabi-size`` (Berkeley format)."""
    text = data = bss = reserved = 0
    with open(elf_path, "rb") as f:
        elf = ELFFile(f)
        for sec in elf.iter_sections():
            flags = sec["sh_flags"]
            if not flags & SH_FLAGS.SHF_ALLOC or sec["sh_size"] == 0:
                continue
            size = int(sec["sh_size"])
            if sec.name in _RESERVED:
                reserved += size
            elif sec["sh_type"] == "SHT_NOBITS":
                bss += size
            elif flags & SH_FLAGS.SHF_WRITE:
                data += size
            else:
                text += size
    return MemoryUsage(text, data, bss, reserved)
