"""The float32 golden PAD-NMF/Deep-NMF reference (the device contract) against the float64 model:
a numerical check between two precisions, so a tolerance is right here."""

import numpy as np
import pytest

from tinyunfold.golden.padnmf import constants, padnmf_forward_f32
from tinyunfold.models.padnmf import PADNMF


@pytest.mark.parametrize("kind, h_mask", [("padnmf", True), ("padnmf", False), ("deepnmf", False)])
def test_golden_agrees_with_float64_model(padnmf_model, kind, h_mask):
    model, rng = padnmf_model(kind, h_mask, 0)
    spec = (rng.random((3, 5, 4)) * 10).astype(np.float32)
    H64 = PADNMF.from_modelfile(model).transform(list(spec.astype(np.float64)))
    c = constants(model)
    H32 = np.stack([padnmf_forward_f32(c, s) for s in spec])
    assert np.allclose(H32, H64, rtol=1e-4, atol=1e-6)
    if h_mask:
        assert np.all(H32[:, c.mask == 0] == 0)
