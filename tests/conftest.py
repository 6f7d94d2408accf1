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


def _padnmf_model(kind, h_mask, seed, n_bins=5, T=3, ranks=(3, 2, 3), K=9, C=3, n=4):
    """A small random ``padnmf``/``deepnmf`` model file (masks as the kind requires) and its rng."""
    from tinyunfold.modelfile import ModelFile
    from tinyunfold.models.padnmf import BlockLayout, w_mask

    rng = np.random.default_rng(seed)
    lay = BlockLayout(
        n_bins=n_bins, context=T, ranks=ranks, block_class=(0, 1), class_names=("a", "b")
    )
    m, r = lay.n_features, lay.rank
    MW = w_mask(lay) if kind == "padnmf" else np.ones((m, r))
    Ws = [rng.random((m, r)) * MW + 1e-3 * MW for _ in range(C)]
    params = {
        "n_layers": K, "n_discriminative": C, "alpha_h": 0.05, "alpha_s": 0.0, "eps": 1e-9,
        "h_mask": h_mask, "w_mask": kind == "padnmf", "h0": "ones", "layout": lay.to_params(),
        "features": None, "n_frames": n,
    }  # fmt: skip
    arrays = {"W_fixed": Ws[0], "W_disc": np.stack(Ws[1:])}
    return ModelFile(kind=kind, params=params, arrays=arrays), rng


@pytest.fixture
def padnmf_model():
    """Factory fixture: ``padnmf_model(kind, h_mask, seed, ...) -> (ModelFile, rng)``."""
    return _padnmf_model
