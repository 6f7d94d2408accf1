"""Bounded fuzz of the model-file loader: random and mutated zips / manifests / .npy entries.

Whatever the bytes, :func:`load_model` returns a valid model or raises :class:`ModelFileError`
(nothing else escapes), and it never allocates much: the peak traced memory of one load stays
under a few MiB even when the file claims gigabytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinyunfold.errors import ModelFileError
from tinyunfold.kinds import load_model, save_model
from tinyunfold.modelfile import ModelFile
from tinyunfold.models.nmf import NMFInference

PEAK_BYTES = 16 << 20
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # reproducible in CI; `--hypothesis-seed` explores further by hand
)


def _good_bytes() -> bytes:
    buf = Path("/tmp") / f"tu-fuzz-{id(object())}.tum"
    W = np.random.default_rng(0).random((6, 2)).astype(np.float32) + 0.1
    save_model(buf, NMFInference(W, n_layers=3, n_frames=2).to_modelfile())
    data = buf.read_bytes()
    buf.unlink()
    return data


GOOD = _good_bytes()
with zipfile.ZipFile(io.BytesIO(GOOD)) as _zf:
    GOOD_MANIFEST = json.loads(_zf.read("manifest.json"))
    GOOD_W = _zf.read("arrays/W.npy")


def _load(tmp_path: Path, data: bytes) -> ModelFile | None:
    p = tmp_path / "f.tum"
    p.write_bytes(data)
    tracemalloc.start()
    try:
        return load_model(p)
    except ModelFileError as err:
        assert "\n" not in str(err) and "; fix: " in str(err)
        return None
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < PEAK_BYTES, f"loading {len(data)} bytes peaked at {peak:,} bytes"


def _zip(entries: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    import warnings

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(buf, "w", compression=method) as zf:
            for name, data in entries:
                zf.writestr(name, data)
    return buf.getvalue()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4)
    ),
    max_leaves=20,
)
PARAM_NAMES = ["n_layers", "n_frames", "alpha_h", "eps", "h0", "h0_value", "zz"]


@FUZZ
@given(pos=st.integers(min_value=0, max_value=len(GOOD) - 1), byte=st.integers(0, 255))
def test_byte_flips_of_a_valid_file(tmp_path, pos, byte):
    data = bytearray(GOOD)
    data[pos] = byte
    _load(tmp_path, bytes(data))


@FUZZ
@given(cut=st.integers(min_value=0, max_value=len(GOOD)))
def test_truncations(tmp_path, cut):
    _load(tmp_path, GOOD[:cut])


@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes(tmp_path, data):
    _load(tmp_path, data)


@FUZZ
@given(
    edits=st.dictionaries(st.sampled_from(PARAM_NAMES), json_values, max_size=4),
    top=st.dictionaries(
        st.sampled_from(["format", "format_version", "kind", "params", "arrays"]),
        json_values,
        max_size=2,
    ),
)
def test_mutated_manifests(tmp_path, edits, top):
    man = json.loads(json.dumps(GOOD_MANIFEST))
    man["params"].update(edits)
    man.update(top)
    model = _load(
        tmp_path, _zip([("manifest.json", json.dumps(man).encode()), ("arrays/W.npy", GOOD_W)])
    )
    if model is not None:  # whatever got through is well typed: nothing was coerced
        p = model.params
        assert type(p["n_layers"]) is int and type(p["n_frames"]) is int


@FUZZ
@given(
    shape=st.lists(st.integers(min_value=-2, max_value=1 << 40), max_size=4),
    dtype=st.sampled_from(["<f4", "<f8", "|O", "<c8", "<U3", "|b1", "<i4"]),
    manifest_shape=st.booleans(),
    tail=st.binary(max_size=64),
)
def test_lying_npy_headers(tmp_path, shape, dtype, manifest_shape, tail):
    """A .npy entry whose header claims any shape/dtype; the manifest agrees (or not) and the
    sha256 matches, so only the size checks stand between the claim and an allocation."""
    hdr = io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(
            hdr, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)}
        )
    except ValueError:
        return
    blob = hdr.getvalue() + tail
    man = json.loads(json.dumps(GOOD_MANIFEST))
    man["arrays"]["W"]["sha256"] = hashlib.sha256(blob).hexdigest()
    if manifest_shape:
        man["arrays"]["W"]["shape"] = shape
        man["arrays"]["W"]["dtype"] = np.dtype(dtype).name
    _load(tmp_path, _zip([("manifest.json", json.dumps(man).encode()), ("arrays/W.npy", blob)]))


@FUZZ
@given(
    names=st.lists(
        st.sampled_from(["manifest.json", "arrays/W.npy", "arrays/X.npy", "../x", "d/"]),
        max_size=5,
    ),
    method=st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2]),
)
def test_entry_sets(tmp_path, names, method):
    blobs = {"manifest.json": json.dumps(GOOD_MANIFEST).encode(), "arrays/W.npy": GOOD_W}
    _load(tmp_path, _zip([(n, blobs.get(n, b"junk")) for n in names], method))


def test_the_fuzz_can_tell_a_good_file(tmp_path):
    """The harness is not vacuous: the unmodified file loads."""
    model = _load(tmp_path, GOOD)
    assert model is not None and model.kind == "nmf"
    with pytest.raises(AssertionError, match="peaked"):
        tracemalloc.start()
        try:
            np.ones(PEAK_BYTES // 4, np.float64)  # 2 x the cap, traced
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < PEAK_BYTES, f"peaked at {peak:,}"
