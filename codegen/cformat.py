"""Tiny helpers turning Python values into C source text (exact for float32)."""

from __future__ import annotations

import numpy as np

from tinyunfold.errors import ValueDomainError


def c_float(x: float | np.floating) -> str:
    """Exact C literal of a float32 value as a hex float.

    >>> c_float(0.5)
    '0x1p-1f'
    >>> c_float(np.float32(0.1))
    '0x1.99999ap-4f'
    >>> c_float(0.0)
    '0x0p+0f'
    """
    v = np.float32(x)
    if not np.isfinite(v):
        raise ValueDomainError(f"cannot emit non-finite constant {v!r} into C")
    h = float(v).hex()  # exact: every float32 is a double
    sign = "-" if h.startswith("-") else ""
    mant, exp = h.lstrip("-").split("p")
    mant = mant.rstrip("0").rstrip(".") if "." in mant else mant
    if mant == "0x0":
        return f"{sign}0x0p+0f"
    return f"{sign}{mant}p{exp}f"


def c_float_array(a: np.ndarray, per_line: int = 6, indent: str = "    ") -> str:
    """Comma-separated exact float32 literals of a flattened (row-major) array, wrapped."""
    flat = np.ascontiguousarray(a, dtype=np.float32).ravel()
    if flat.size == 0:
        raise ValueDomainError("cannot emit an empty array into C")
    items = [c_float(v) for v in flat]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return (",\n" + indent).join(lines)


def c_identifier(name: str) -> str:
    """A valid C identifier from a model name.

    >>> c_identifier("nmf-3f2a")
    'nmf_3f2a'
    """
    out = "".join(ch if ch.isalnum() else "_" for ch in name)
    return out if out and not out[0].isdigit() else "_" + out
