"""The input of the linear readout (detection.Readout, ``[detection] readout_input``).

The readout's features are f_a = ln max(Σ_t A[a, t], floor) of one window's matrix A:

* ``"activations"`` (the default): A = H⁽ᴷ⁾, the network output (r x n), one feature per atom;
* ``"spectrum"``: A = X̃, the network's *input* window (m' x n: the front-end bands x frames,
  scaled by ``input_scale``, before the Hankel extension 4.3.1), one feature per band. The band
  energies do not depend on how well the templates match the recording chain.

A model file stores the input with the readout (``params["detection"]["readout"]["input"]``;
absent: ``"activations"``, the models written before it existed) and the width of ``readout_W``
must be the rows of that input: r (the layout's rank) or m' (``layout.n_bins``; NOT m = m'T).
"""

from __future__ import annotations

import math
from typing import Any

from tinyunfold.errors import ModelFileError, ValueDomainError, check_choice

READOUT_INPUTS = ("activations", "spectrum")
DEFAULT_READOUT_INPUT = "activations"


def check_readout_input(value: Any) -> str:
    """``[detection] readout_input`` as one of :data:`READOUT_INPUTS` (one line otherwise)."""
    return check_choice(
        value,
        READOUT_INPUTS,
        "[detection] readout_input",
        'e.g. readout_input = "spectrum" (the band energies of the window X~)',
    )


def model_readout_input(d: Any) -> str:
    """The input of a model file's readout params ``d`` (absent: ``"activations"``)."""
    raw = d.get("input", DEFAULT_READOUT_INPUT) if isinstance(d, dict) else DEFAULT_READOUT_INPUT
    try:
        return check_readout_input(raw)
    except ValueDomainError:
        shown = repr(raw)
        raise ModelFileError(
            f"readout: input {shown[:40]} is not one of {READOUT_INPUTS}",
            "re-create the model with `tinyunfold train`",
        ) from None


def readout_width(readout_input: str, rank: int, n_bands: int) -> int:
    """Columns of the readout's W: the rows of its input, r (H) or m' (X̃)."""
    return int(n_bands) if readout_input == "spectrum" else int(rank)


def readout_excess_value(v: Any) -> float:
    """``[detection] readout_excess`` of a config: 0 (off) or the clip c in (0, 1000] of the
    excess block, in background standard deviations (one line otherwise)."""
    ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    if not ok or not 0 <= v <= 1e3:
        raise ValueDomainError(
            f"readout_excess must be 0 (off) or a clip in background standard deviations "
            f"in (0, 1000], got {v!r}",
            "e.g. readout_excess = 10",
        )
    return float(v)


def model_readout_excess(d: Any) -> float:
    """The excess clip of a model file's readout params ``d`` (absent: 0, no excess block)."""
    try:
        return readout_excess_value(d.get("excess", 0.0) if isinstance(d, dict) else 0.0)
    except ValueDomainError as e:
        raise ModelFileError(e.cause, "re-create the model with `tinyunfold train`") from None


def readout_columns(readout_input: str, rank: int, n_bands: int, excess: float) -> int:
    """Columns of the readout's W: :func:`readout_width`, twice that with the excess block (the
    levels, then their excess)."""
    return readout_width(readout_input, rank, n_bands) * (2 if excess else 1)
