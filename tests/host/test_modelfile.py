import json
import zipfile

import numpy as np
import pytest

from tinyunfold.errors import ModelFileError
from tinyunfold.kinds import load_model, save_model
from tinyunfold.modelfile import ModelFile
from tinyunfold.models.nmf import NMFInference


def _model(rng, F=6, R=3):
    return NMFInference(
        rng.random((F, R)).astype(np.float32), n_layers=5, n_frames=2
    ).to_modelfile()


def test_round_trip_keeps_bits_and_params(tmp_path, rng):
    m = _model(rng)
    p = save_model(tmp_path / "m.tum", m)
    back = load_model(p, kind="nmf")
    assert back.kind == "nmf" and back.params == m.params
    assert np.array_equal(back.array("W").view(np.uint32), m.array("W").view(np.uint32))


def test_save_is_reproducible(tmp_path, rng):
    m = _model(rng)
    a = save_model(tmp_path / "a.tum", m).read_bytes()
    b = save_model(tmp_path / "b.tum", m).read_bytes()
    assert a == b


def _rewrite(src, dst, fn):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, fn(item.filename, zin.read(item.filename)))


def test_corrupt_array_is_detected_by_sha256(tmp_path, rng):
    p = save_model(tmp_path / "m.tum", _model(rng))

    def flip(name, data):
        if name.endswith("W.npy"):
            data = data[:-1] + bytes([data[-1] ^ 1])
        return data

    _rewrite(p, tmp_path / "bad.tum", flip)
    with pytest.raises(ModelFileError, match="sha256 mismatch"):
        load_model(tmp_path / "bad.tum")


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m.update(format="other"), "foreign file"),
        (lambda m: m.update(format_version=99), "format_version"),
        (lambda m: m.update(kind="nope"), "unknown model kind"),
    ],
)
def test_foreign_or_future_manifest(tmp_path, rng, edit, message):
    p = save_model(tmp_path / "m.tum", _model(rng))

    def change(name, data):
        if name == "manifest.json":
            man = json.loads(data)
            edit(man)
            data = json.dumps(man).encode()
        return data

    _rewrite(p, tmp_path / "x.tum", change)
    with pytest.raises(ModelFileError, match=message):
        load_model(tmp_path / "x.tum")


def test_not_a_zip_and_missing(tmp_path):
    (tmp_path / "x.tum").write_bytes(b"\x80\x04pickle?")
    with pytest.raises(ModelFileError, match="not a zip"):
        load_model(tmp_path / "x.tum")
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "missing.tum")


def test_pickled_npy_is_refused(tmp_path, rng):
    p = save_model(tmp_path / "m.tum", _model(rng))
    import hashlib
    import io

    buf = io.BytesIO()
    np.save(buf, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    evil = buf.getvalue()

    def swap(name, data):
        if name.endswith("W.npy"):
            return evil
        if name == "manifest.json":
            man = json.loads(data)
            man["arrays"]["W"]["sha256"] = hashlib.sha256(evil).hexdigest()
            return json.dumps(man).encode()
        return data

    _rewrite(p, tmp_path / "evil.tum", swap)
    with pytest.raises(ModelFileError):
        load_model(tmp_path / "evil.tum")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -1.0])
def test_validation_rejects_bad_dictionary(tmp_path, rng, bad):
    m = _model(rng)
    m.arrays["W"][0, 0] = bad
    with pytest.raises(ModelFileError):
        save_model(tmp_path / "m.tum", m)


def test_wrong_kind_requested(tmp_path, rng):
    p = save_model(tmp_path / "m.tum", _model(rng))
    with pytest.raises(ModelFileError, match="expected 'dkf'"):
        load_model(p, kind="dkf")


def test_params_must_be_json(tmp_path, rng):
    m = _model(rng)
    m.params["eps"] = float("nan")
    with pytest.raises(ModelFileError):
        save_model(tmp_path / "m.tum", m)
    m2 = ModelFile(kind="nmf", params=dict(_model(rng).params), arrays={})
    with pytest.raises(ModelFileError, match="no array 'W'"):
        save_model(tmp_path / "m2.tum", m2)


@pytest.mark.parametrize("value", [True, 23.9, "8", 10**400, -1, None, [3]])
def test_typed_int_param_never_coerces(value, rng):
    from tinyunfold.modelfile import param_int

    m = _model(rng)
    m.params["n_frames"] = value
    with pytest.raises(ModelFileError, match="n_frames must be an integer in"):
        param_int(m, "n_frames", 1, 100)
    m.params["n_frames"] = 7
    assert param_int(m, "n_frames", 1, 100) == 7


def test_typed_float_bool_choice(rng):
    from tinyunfold.modelfile import param_bool, param_choice, param_float

    m = _model(rng)
    m.params.update(a=True, b=3, c="ones", d=float("nan"))
    with pytest.raises(ModelFileError, match="finite number"):
        param_float(m, "a")  # a bool is not a number
    with pytest.raises(ModelFileError, match="finite number"):
        param_float(m, "d")
    assert param_float(m, "b", lo=0.0, lo_open=True) == 3.0
    with pytest.raises(ModelFileError, match="true or false"):
        param_bool(m, "b")
    assert param_bool(m, "a") is True
    with pytest.raises(ModelFileError, match="one of 'zeros'"):
        param_choice(m, "c", ("zeros",))


def test_caps_name_the_variable_that_raises_them(tmp_path, rng, monkeypatch):
    from tinyunfold.modelfile import ENV_MAX_ARRAY, ENV_MAX_GOLDEN, check_golden_cost

    p = save_model(tmp_path / "m.tum", _model(rng, F=64, R=8))  # W: 2048 bytes
    monkeypatch.setenv(ENV_MAX_ARRAY, "1000")
    with pytest.raises(ModelFileError, match=f"over the cap of 1,000 bytes.*{ENV_MAX_ARRAY}"):
        load_model(p)
    monkeypatch.setenv(ENV_MAX_ARRAY, "2048")  # exactly the array: accepted
    m = load_model(p)
    with pytest.raises(ModelFileError, match=ENV_MAX_GOLDEN):
        check_golden_cost(m, 10**7, 64 * 2)
    monkeypatch.setenv(ENV_MAX_GOLDEN, str(10**18))
    check_golden_cost(m, 10**7, 64 * 2)
