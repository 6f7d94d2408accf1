"""The float32 golden Deep-NMFD forward pass (golden/dnmfd.py) against the float64 model."""

import numpy as np
import pytest

from tinyunfold.codegen import generate
from tinyunfold.errors import ModelFileError
from tinyunfold.golden import dnmfd as golden
from tinyunfold.models.dnmfd import DeepNMFD, layer_dictionaries
from tinyunfold.models.nmfd import ones_denominator


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(
    "shape", [{}, {"ranks": (4, 1, 2, 3), "m": 7, "n": 3, "K": 5, "C": 0}, {"K": 3, "C": 3}]
)
def test_golden_matches_the_float64_model(dnmfd_model, seed, shape):
    model, rng = dnmfd_model(seed, **shape)
    c = golden.constants(model)
    X = (rng.random((c.n_bins, c.n_frames)) * 10).astype(np.float32)
    X[:, 0] = 0.0
    H32 = golden.dnmfd_forward_f32(c, X)
    H64 = DeepNMFD.from_modelfile(model).transform(X.astype(np.float64))
    assert np.max(np.abs(H32 - H64)) / np.abs(H64).max() < 1e-5
    assert sum(c.counts) == model.params["n_layers"]


def test_schedule_and_denominators(dnmfd_model):
    model, _ = dnmfd_model(2, K=6, C=2)
    c = golden.constants(model)
    assert c.counts == (4, 1, 1)  # K - C layers with Ŵ, then one per trained dictionary
    est = DeepNMFD.from_modelfile(model)
    Ws = layer_dictionaries(model.array("W_hat"), model.array("W_layers"), est.n_layers)
    D64 = ones_denominator(Ws[-1].astype(np.float64), c.n_frames)
    np.testing.assert_allclose(c.denominators[-1], np.maximum(D64, est.eps), rtol=1e-6)
    assert c.atoms[0].shape == (sum(est.ranks), c.n_bins)  # only the atoms r < r_j are stored


def test_models_without_window_length_are_refused(dnmfd_model):
    model, _ = dnmfd_model(0)
    del model.params["n_frames"]
    with pytest.raises(ModelFileError, match="n_frames"):
        generate(model)
