"""The tinyunfold model file (``.tum``): one versioned file per model, no pickle.

A ``.tum`` file is a zip archive holding::

    manifest.json     {"format": "tinyunfold-model", "format_version": 1, "kind": "nmf",
                       "params": {...JSON values...},
                       "arrays": {"W": {"file": "arrays/W.npy", "dtype": "float32",
                                        "shape": [F, R], "sha256": "..."}, ...}}
    arrays/<name>.npy one ``.npy`` per array, loaded with ``allow_pickle=False``

Every array's sha256 is checked on load. This module knows the container only: the kind registry
(:mod:`tinyunfold.kinds`) validates shapes, finiteness and signs of each kind, and its
``load_model``/``save_model`` are what the rest of tinyunfold uses.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyunfold.errors import ModelFileError

FORMAT_NAME = "tinyunfold-model"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_ALLOWED_DTYPES = {"float32", "float64", "int32", "int64", "uint8", "bool"}
_MAX_MANIFEST_BYTES = 4 << 20


@dataclass
class ModelFile:
    """In-memory model: ``kind``, JSON-able ``params`` and named numpy ``arrays``."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def array(self, name: str) -> np.ndarray:
        try:
            return self.arrays[name]
        except KeyError:
            raise ModelFileError(
                f"model of kind {self.kind!r} has no array {name!r}",
                "re-create the model file with the current tinyunfold version",
            ) from None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_json_params(params: Mapping[str, Any]) -> None:
    try:
        json.dumps(params, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(
            f"model params are not plain finite JSON values: {exc}",
            "store arrays in `arrays` and only str/int/float/bool/lists/dicts in `params`",
        ) from None


def write_model(path: str | Path, model: ModelFile) -> Path:
    """Write ``model`` to ``path`` atomically (container only; ``kinds.save_model`` validates).

    Returns the path.
    """
    _check_json_params(model.params)
    path = Path(path)
    entries: dict[str, Any] = {}
    blobs: dict[str, bytes] = {}
    for name, arr in sorted(model.arrays.items()):
        arr = np.ascontiguousarray(arr)
        if arr.dtype.name not in _ALLOWED_DTYPES:
            raise ModelFileError(f"array {name!r} has unsupported dtype {arr.dtype}")
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        data = buf.getvalue()
        fname = f"arrays/{name}.npy"
        blobs[fname] = data
        entries[name] = {
            "file": fname,
            "dtype": arr.dtype.name,
            "shape": list(arr.shape),
            "sha256": _sha256(data),
        }
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "kind": model.kind,
        "params": model.params,
        "arrays": entries,
    }
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        # Fixed timestamps keep the file reproducible.
        info = zipfile.ZipInfo(MANIFEST, date_time=(1980, 1, 1, 0, 0, 0))
        zf.writestr(info, json.dumps(manifest, indent=1, sort_keys=True, allow_nan=False))
        for fname, data in blobs.items():
            zf.writestr(zipfile.ZipInfo(fname, date_time=(1980, 1, 1, 0, 0, 0)), data)
    tmp.replace(path)
    return path


def read_model(path: str | Path, kind: str | None = None) -> ModelFile:
    """Load and verify (sha256, dtype, shape) a ``.tum`` model file: the container only.

    :func:`tinyunfold.kinds.load_model` also runs the kind's validator.

    Parameters
    ----------
    path : model file path.
    kind : if given, the file must be of this kind.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist", "check the --model path")
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ModelFileError(
            f"{path} is not a tinyunfold model file (not a zip archive)",
            "pass a .tum file written by `tinyunfold train`/`import`/`model`",
        ) from None
    with zf:
        try:
            info = zf.getinfo(MANIFEST)
        except KeyError:
            raise ModelFileError(f"{path} has no {MANIFEST}: not a tinyunfold model file") from None
        if info.file_size > _MAX_MANIFEST_BYTES:
            raise ModelFileError(f"{path}: manifest too large ({info.file_size} bytes)")
        try:
            manifest = json.loads(zf.read(MANIFEST))
        except (ValueError, zipfile.BadZipFile) as exc:
            raise ModelFileError(f"{path}: corrupt manifest ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
            raise ModelFileError(f"{path}: foreign file (format is not {FORMAT_NAME!r})")
        version = manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise ModelFileError(
                f"{path}: format_version {version!r}, this tinyunfold reads {FORMAT_VERSION}",
                "re-export the model with a matching tinyunfold version",
            )
        mkind = manifest.get("kind")
        if kind is not None and mkind != kind:
            raise ModelFileError(f"{path}: model kind is {mkind!r}, expected {kind!r}")
        params = manifest.get("params", {})
        entries = manifest.get("arrays", {})
        if not isinstance(params, dict) or not isinstance(entries, dict):
            raise ModelFileError(f"{path}: manifest 'params'/'arrays' must be objects")
        arrays: dict[str, np.ndarray] = {}
        for name, ent in entries.items():
            arrays[name] = _read_array(zf, path, name, ent)
    return ModelFile(kind=str(mkind), params=params, arrays=arrays)


def _read_array(zf: zipfile.ZipFile, path: Path, name: str, ent: Any) -> np.ndarray:
    if not isinstance(ent, dict) or not {"file", "dtype", "shape", "sha256"} <= set(ent):
        raise ModelFileError(f"{path}: manifest entry for array {name!r} is malformed")
    try:
        data = zf.read(ent["file"])
    except (KeyError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"{path}: array {name!r} missing or unreadable ({exc})") from None
    if _sha256(data) != ent["sha256"]:
        raise ModelFileError(
            f"{path}: sha256 mismatch for array {name!r}: the file is corrupt",
            "re-download or re-create the model file",
        )
    if ent["dtype"] not in _ALLOWED_DTYPES:
        raise ModelFileError(f"{path}: array {name!r} has unsupported dtype {ent['dtype']!r}")
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        raise ModelFileError(f"{path}: array {name!r} is not a plain .npy ({exc})") from None
    if arr.dtype.name != ent["dtype"] or list(arr.shape) != list(ent["shape"]):
        raise ModelFileError(
            f"{path}: array {name!r} is {arr.dtype}{list(arr.shape)}, manifest says "
            f"{ent['dtype']}{ent['shape']}"
        )
    return arr


# ---------------------------------------------------------------- validation helpers for kinds
def require_params(model: ModelFile, *names: str) -> None:
    missing = [n for n in names if n not in model.params]
    if missing:
        raise ModelFileError(f"{model.kind} model lacks params: {', '.join(missing)}")


def require_array(
    model: ModelFile,
    name: str,
    ndim: int | None = None,
    shape: tuple[int | None, ...] | None = None,
    nonneg: bool = False,
    finite: bool = True,
) -> np.ndarray:
    """Check one array of a model and return it."""
    arr = model.array(name)
    if ndim is not None and arr.ndim != ndim:
        raise ModelFileError(
            f"{model.kind}: array {name!r} must be {ndim}-D, got shape {arr.shape}"
        )
    if shape is not None:
        if arr.ndim != len(shape) or any(
            s is not None and s != a for s, a in zip(shape, arr.shape, strict=False)
        ):
            raise ModelFileError(
                f"{model.kind}: array {name!r} has shape {arr.shape}, expected {shape}"
            )
    if finite and arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ModelFileError(f"{model.kind}: array {name!r} contains NaN or Inf")
    if nonneg and np.any(arr < 0):
        raise ModelFileError(f"{model.kind}: array {name!r} must be nonnegative")
    return arr
