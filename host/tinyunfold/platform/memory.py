"""How much memory the machine can give a job now (a training checks before it allocates)."""

from __future__ import annotations

from pathlib import Path

MEMINFO = Path("/proc/meminfo")


def available_bytes() -> int | None:
    """Bytes the kernel reports as available without swapping (Linux ``MemAvailable``); None
    where the platform does not say (then no check is made)."""
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
