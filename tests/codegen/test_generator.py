import re

import jinja2
import numpy as np
import pytest

from tinyunfold.codegen import GENERATOR_VERSION, generate
from tinyunfold.codegen.cformat import c_float, c_float_array
from tinyunfold.codegen.generator import _environment
from tinyunfold.errors import ModelFileError
from tinyunfold.modelfile import ModelFile
from tinyunfold.models.nmf import NMFInference


def _model(rng, F=7, R=3, N=2, K=4):
    return NMFInference(
        rng.random((F, R)).astype(np.float32), n_layers=K, n_frames=N
    ).to_modelfile()


def test_hex_literals_are_exact(rng):
    vals = np.concatenate([rng.standard_normal(200), [0.0, -0.0, 1e-45, 3.4e38, 1e-9]]).astype(
        np.float32
    )
    for v in vals:
        lit = c_float(v)
        assert lit.endswith("f")
        assert np.float32(float.fromhex(lit[:-1])).view(np.uint32) == v.view(np.uint32)


def test_non_finite_constant_is_refused():
    with pytest.raises(Exception, match="non-finite"):
        c_float(float("nan"))


def test_output_is_deterministic_and_marked(rng):
    m = _model(rng)
    a, b = generate(m), generate(m)
    assert a.files == b.files and a.name == b.name
    for _fname, text in a.files.items():
        assert "DO NOT EDIT" in text.splitlines()[1]
        assert GENERATOR_VERSION in text and a.input_hash in text
        assert not re.search(r"20\d\d-\d\d-\d\d", text)  # no timestamps
    assert "#error" in a.files["tu_model.c"] and "TU_RUNTIME_ABI_VERSION" in a.files["tu_model.c"]


def test_arrays_round_trip_through_c_text(rng):
    m = _model(rng)
    text = generate(m).files["tu_model.c"]
    body = re.search(r"tu_W\[\d+\] = \{(.*?)\};", text, re.S).group(1)
    vals = np.array([float.fromhex(t.strip()[:-1]) for t in body.split(",")], dtype=np.float32)
    assert np.array_equal(vals.view(np.uint32), m.array("W").ravel().view(np.uint32))
    assert c_float_array(np.ones(3)) == "0x1p+0f, 0x1p+0f, 0x1p+0f"


def test_denominator_is_precomputed_constant(rng):
    from tinyunfold.golden.nmf import constants

    m = _model(rng)
    text = generate(m).files["tu_model.c"]
    c = constants(m)
    assert c_float_array(c.denom) in text


def test_different_models_get_different_names(rng):
    a = generate(_model(rng))
    b = generate(_model(rng))
    assert a.name != b.name


def test_bad_models_are_refused(rng):
    m = _model(rng)
    m.arrays["W"][0, 0] = np.nan
    with pytest.raises(ModelFileError, match="NaN"):
        generate(m)
    with pytest.raises(ModelFileError, match="unknown model kind"):
        generate(ModelFile(kind="mystery", params={}, arrays={}))


def test_templates_are_strict():
    env = _environment()
    with pytest.raises(jinja2.UndefinedError):
        env.get_template("nmf/tu_model_config.h.j2").render(kind="nmf")
