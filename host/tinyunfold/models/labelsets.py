"""The label-set table of the set-valued readout (detection.Readout with ``max_hits``, issue 11).

The outputs of a multinomial readout over label sets are every set of at most ``max_hits`` of the
L classes, in one order (docs/numerics.md "Detection"): the empty set, the singletons by class,
then the pairs in lexicographic order, then the triples ..., i.e. by size, and within a size
lexicographically (``itertools.combinations``). For L = 5, max_hits = 2: 1 + 5 + 10 = 16 sets.
The device holds a set as a uint32 bitmask (bit c: class c), so L <= 32.

A model file stores the table (``params["detection"]["readout"]["sets"]``); :func:`check_set_table`
accepts it only when it is exactly the table of (L, max_hits).
"""

from __future__ import annotations

from itertools import combinations
from math import comb
from typing import Any

import numpy as np

from tinyunfold.errors import ModelFileError, ValueDomainError

MAX_SET_CLASSES = 32  # a set is a uint32 bitmask on the device
MAX_SETS = 4096  # bound on the table (and on the readout's rows) of a model file


def n_sets(n_classes: int, max_hits: int) -> int:
    """S = Σ_{k=0}^{max_hits} C(L, k)."""
    return sum(comb(n_classes, k) for k in range(max_hits + 1))


def check_max_hits(max_hits: Any, n_classes: int) -> int:
    """``max_hits`` as an int in 1..L (one line naming the fix otherwise)."""
    if (
        not isinstance(max_hits, int | np.integer)
        or isinstance(max_hits, bool)
        or not 1 <= int(max_hits) <= n_classes
    ):
        raise ValueDomainError(
            f"[detection] readout_max_hits must be an integer in 1..{n_classes} (the number of "
            f"classes), got {max_hits!r}",
            "e.g. readout_max_hits = 2",
        )
    if n_classes > MAX_SET_CLASSES or n_sets(n_classes, int(max_hits)) > MAX_SETS:
        raise ValueDomainError(
            f"a readout over label sets of at most {max_hits} of {n_classes} classes has "
            f"{n_sets(n_classes, int(max_hits))} outputs (at most {MAX_SETS}, L <= "
            f"{MAX_SET_CLASSES})",
            "lower readout_max_hits, or use readout = true (one-vs-rest)",
        )
    return int(max_hits)


def label_set_table(n_classes: int, max_hits: int) -> list[tuple[int, ...]]:
    """Every set of at most ``max_hits`` classes, in the order of the module docstring."""
    return [s for k in range(max_hits + 1) for s in combinations(range(n_classes), k)]


def set_masks(table: list[tuple[int, ...]]) -> np.ndarray:
    """(S,) uint32 bitmasks of a set table (bit c set: class c in the set)."""
    return np.array([sum(1 << c for c in s) for s in table], dtype=np.uint32)


def check_set_table(raw: Any, max_hits: Any, n_classes: int) -> list[tuple[int, ...]]:
    """The set table of a model file, accepted only when it is exactly the table of
    (``n_classes``, ``max_hits``); one line otherwise."""
    try:
        m = check_max_hits(max_hits, n_classes)
    except ValueDomainError as err:
        raise ModelFileError(
            f"readout: {err.cause}", "re-create the model with `tinyunfold train`"
        ) from None
    want = label_set_table(n_classes, m)
    ok = isinstance(raw, list) and len(raw) == len(want)
    if ok:
        for got, w in zip(raw, want, strict=True):
            if not isinstance(got, list) or len(got) != len(w):
                ok = False
                break
            if any(not isinstance(c, int) or isinstance(c, bool) for c in got):
                ok = False
                break
            if tuple(got) != w:
                ok = False
                break
    if not ok:
        shown = repr(raw)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise ModelFileError(
            f"readout: the label-set table {shown} is not the {len(want)} sets of at most "
            f"{m} of {n_classes} classes (empty, singletons, pairs in lexicographic order)",
            "re-create the model with `tinyunfold train`",
        )
    return want
