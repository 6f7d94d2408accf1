"""Shared fixtures. Firmware tests never skip when the toolchain is missing: they fail with the
ToolchainError that names the missing package (CI must install it through `make test`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
