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
import math
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyunfold.datasets.io import ZIP_READ_ERRORS, read_npy_header
from tinyunfold.errors import ModelFileError, TinyUnfoldError

FORMAT_NAME = "tinyunfold-model"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_ALLOWED_DTYPES = {"float32", "float64", "int32", "int64", "uint8", "bool"}
MAX_MANIFEST_BYTES = 1 << 20  # the manifest (params are small; data lives in arrays)
MAX_JSON_DEPTH = 32  # nesting of the manifest's JSON
MAX_ARRAYS = 64  # arrays per model
MAX_NDIM = 8  # dimensions per array
MAX_LAYERS = 10_000  # unrolled layers K of any kind (validators)
MAX_DIM = 1 << 20  # any size parameter (frames, states, bins...) (validators)
ENV_MAX_ARRAY = "TINYUNFOLD_MAX_ARRAY_BYTES"
ENV_MAX_MODEL = "TINYUNFOLD_MAX_MODEL_BYTES"
ENV_MAX_GOLDEN = "TINYUNFOLD_MAX_GOLDEN_OPS"
DEFAULT_MAX_ARRAY_BYTES = 64 << 20
DEFAULT_MAX_MODEL_BYTES = 128 << 20
DEFAULT_MAX_GOLDEN_OPS = 20_000_000_000  # about 3 min of golden reference at ~1e8/s
_LAYER_OVERHEAD = 20_000  # cost units of one layer's Python overhead (golden_cost)
_NPY_HEADER_MAX = 4096  # a .npy header written by numpy is 128 bytes; allow some slack
_ZIP_SLACK = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Caps applied by :func:`load_model` (bytes) and :func:`check_golden_cost` (operations)."""

    array_bytes: int
    model_bytes: int
    golden_ops: int


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        v = int(raw)
    except ValueError:
        v = -1
    if v < 1:
        raise TinyUnfoldError(
            f"environment variable {name}={raw[:40]!r} is not a positive integer",
            f"unset it or set it to a number, e.g. {name}={default}",
        )
    return v


def limits() -> Limits:
    """The caps, from the environment (``TINYUNFOLD_MAX_*``) or the defaults (docs/modelfile.md)."""
    return Limits(
        array_bytes=_env_int(ENV_MAX_ARRAY, DEFAULT_MAX_ARRAY_BYTES),
        model_bytes=_env_int(ENV_MAX_MODEL, DEFAULT_MAX_MODEL_BYTES),
        golden_ops=_env_int(ENV_MAX_GOLDEN, DEFAULT_MAX_GOLDEN_OPS),
    )


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
    """Load and verify (sizes, sha256, dtype, shape) a ``.tum`` model file: the container only.

    :func:`tinyunfold.kinds.load_model` also runs the kind's validator.

    Sizes are checked from the zip's directory and the manifest *before* anything is
    decompressed (caps: :func:`limits`); every failure is a :class:`ModelFileError`.

    Parameters
    ----------
    path : model file path.
    kind : if given, the file must be of this kind.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist", "check the --model path")
    lim = limits()
    try:
        size = path.stat().st_size
        if size > lim.model_bytes + _ZIP_SLACK:
            raise _too_big(f"{path} is {size:,} bytes", lim.model_bytes, ENV_MAX_MODEL)
        with zipfile.ZipFile(path) as zf:
            manifest, infos = _read_manifest(zf, path, lim)
            mkind = manifest.get("kind")
            if not isinstance(mkind, str) or not mkind:
                raise ModelFileError(f"{path}: manifest 'kind' must be a non-empty string")
            if kind is not None and mkind != kind:
                raise ModelFileError(
                    f"{path}: model kind is {mkind!r}, expected {kind!r}",
                    f"pass a {kind} model file",
                )
            params = manifest.get("params", {})
            entries = manifest.get("arrays", {})
            if not isinstance(params, dict) or not isinstance(entries, dict):
                raise ModelFileError(f"{path}: manifest 'params'/'arrays' must be objects")
            plan = _plan_arrays(path, entries, infos, lim)
            arrays = {name: _read_array(zf, path, name, ent, info) for name, ent, info in plan}
    except ModelFileError:
        raise
    except ZIP_READ_ERRORS as exc:
        raise ModelFileError(
            f"{path} is not a readable tinyunfold model file ({type(exc).__name__}: {exc})",
            "pass a .tum file written by `tinyunfold train`/`import`/`model`",
        ) from None
    return ModelFile(kind=mkind, params=params, arrays=arrays)


def _too_big(what: str, cap: int, env: str) -> ModelFileError:
    return ModelFileError(
        f"{what}, over the cap of {cap:,} bytes",
        f"if the model is genuine, raise the cap with the environment variable {env}=<bytes>"
        " (docs/modelfile.md)",
    )


def _read_manifest(
    zf: zipfile.ZipFile, path: Path, lim: Limits
) -> tuple[dict[str, Any], dict[str, zipfile.ZipInfo]]:
    """Check the zip directory (entry count, duplicates, declared sizes) and parse the manifest."""
    infos = zf.infolist()
    if len(infos) > MAX_ARRAYS + 1:
        raise ModelFileError(f"{path}: {len(infos)} zip entries (at most {MAX_ARRAYS + 1})")
    by_name: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        if info.filename in by_name:
            raise ModelFileError(
                f"{path}: zip entry {info.filename!r} appears twice (which one is the model?)",
                "re-create the model file with tinyunfold; never append to a .tum",
            )
        by_name[info.filename] = info
        total += info.file_size
    if total > lim.model_bytes + _ZIP_SLACK:
        raise _too_big(
            f"{path}: zip entries declare {total:,} uncompressed bytes",
            lim.model_bytes,
            ENV_MAX_MODEL,
        )
    minfo = by_name.get(MANIFEST)
    if minfo is None:
        raise ModelFileError(f"{path} has no {MANIFEST}: not a tinyunfold model file")
    if minfo.file_size > MAX_MANIFEST_BYTES:
        raise ModelFileError(
            f"{path}: manifest declares {minfo.file_size:,} bytes (at most {MAX_MANIFEST_BYTES:,})",
            "keep large data in arrays, not in params",
        )
    with zf.open(minfo) as fh:
        raw = fh.read(MAX_MANIFEST_BYTES + 1)
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ModelFileError(f"{path}: manifest larger than {MAX_MANIFEST_BYTES:,} bytes")
    try:
        manifest = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except RecursionError:
        raise ModelFileError(
            f"{path}: manifest nests deeper than {MAX_JSON_DEPTH} levels"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: corrupt manifest ({exc})") from None
    _check_depth(manifest, path)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ModelFileError(
            f"{path}: foreign file (format is not {FORMAT_NAME!r})",
            "pass a .tum file written by `tinyunfold train`/`import`/`model`",
        )
    version = manifest.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: format_version {version!r}, this tinyunfold reads {FORMAT_VERSION}",
            "re-export the model with a matching tinyunfold version",
        )
    return manifest, by_name


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_depth(doc: Any, path: Path) -> None:
    """Refuse JSON nested deeper than MAX_JSON_DEPTH (iterative: no recursion on hostile input)."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ModelFileError(f"{path}: manifest nests deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def _plan_arrays(
    path: Path, entries: dict[str, Any], infos: dict[str, zipfile.ZipInfo], lim: Limits
) -> list[tuple[str, dict[str, Any], zipfile.ZipInfo]]:
    """Check every manifest entry against the zip directory and the caps; nothing is read yet."""
    if len(entries) > MAX_ARRAYS:
        raise ModelFileError(f"{path}: {len(entries)} arrays (at most {MAX_ARRAYS})")
    plan = []
    total = 0
    used = {MANIFEST}
    for name, ent in entries.items():
        if not isinstance(ent, dict) or set(ent) != {"file", "dtype", "shape", "sha256"}:
            raise ModelFileError(f"{path}: manifest entry for array {name!r} is malformed")
        fname, dtype, shape, digest = ent["file"], ent["dtype"], ent["shape"], ent["sha256"]
        if not (isinstance(fname, str) and isinstance(digest, str) and isinstance(dtype, str)):
            raise ModelFileError(f"{path}: manifest entry for array {name!r} is malformed")
        if dtype not in _ALLOWED_DTYPES:
            raise ModelFileError(f"{path}: array {name!r} has unsupported dtype {dtype!r}")
        if (
            not isinstance(shape, list)
            or len(shape) > MAX_NDIM
            or any(type(s) is not int or not 0 <= s <= lim.array_bytes for s in shape)
        ):
            raise ModelFileError(
                f"{path}: array {name!r} has a malformed shape {str(shape)[:80]}"
                f" (a list of at most {MAX_NDIM} integers)"
            )
        nbytes = math.prod(shape) * np.dtype(dtype).itemsize
        if nbytes > lim.array_bytes:
            raise _too_big(
                f"{path}: array {name!r} declares {dtype}{shape} = {nbytes:,} bytes",
                lim.array_bytes,
                ENV_MAX_ARRAY,
            )
        total += nbytes
        if total > lim.model_bytes:
            raise _too_big(
                f"{path}: arrays declare {total:,} bytes in total", lim.model_bytes, ENV_MAX_MODEL
            )
        info = infos.get(fname)
        if info is None or fname == MANIFEST:
            raise ModelFileError(f"{path}: array {name!r} missing (no zip entry {fname!r})")
        if fname in used:
            raise ModelFileError(f"{path}: zip entry {fname!r} is used by two arrays")
        used.add(fname)
        if not nbytes <= info.file_size <= nbytes + _NPY_HEADER_MAX:
            raise ModelFileError(
                f"{path}: array {name!r}: zip entry declares {info.file_size:,} bytes, the manifest "
                f"{dtype}{shape} needs {nbytes:,} plus a .npy header"
            )
        plan.append((name, ent, info))
    extra = sorted(set(infos) - used)
    if extra:
        raise ModelFileError(f"{path}: unexpected zip entries {extra[:5]}")
    return plan


def _read_array(
    zf: zipfile.ZipFile, path: Path, name: str, ent: dict[str, Any], info: zipfile.ZipInfo
) -> np.ndarray:
    with zf.open(info) as fh:
        data = fh.read(info.file_size + 1)
    if len(data) != info.file_size or _sha256(data) != ent["sha256"]:
        raise ModelFileError(
            f"{path}: sha256 mismatch for array {name!r}: the file is corrupt",
            "re-download or re-create the model file",
        )
    buf = io.BytesIO(data)
    try:
        # the .npy header must agree with the manifest before numpy allocates anything
        shape, _, dtype = read_npy_header(buf, f"{path}: array {name!r}")
    except TinyUnfoldError as err:
        raise ModelFileError(err.cause) from None
    if dtype.name != ent["dtype"] or list(shape) != list(ent["shape"]):
        raise ModelFileError(
            f"{path}: array {name!r} is {dtype}{list(shape)}, manifest says "
            f"{ent['dtype']}{ent['shape']}"
        )
    buf.seek(0)
    try:
        arr = np.load(buf, allow_pickle=False)
    except (ValueError, EOFError, OSError, TypeError) as exc:
        raise ModelFileError(f"{path}: array {name!r} is not a plain .npy ({exc})") from None
    if not isinstance(arr, np.ndarray):
        raise ModelFileError(f"{path}: array {name!r} is not a plain .npy")
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


# ---------------------------------------------------------------- typed parameters
# JSON gives bool/int/float/str/list/dict; nothing here coerces (``true`` is not 1, ``23.9`` is not
# 23, ``"8"`` is not 8). Each getter names the model kind, the parameter and the accepted range.


def _bad(kind: str, name: str, want: str, v: Any) -> ModelFileError:
    shown = repr(v)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return ModelFileError(
        f"{kind}: param {name} must be {want}, got {shown} ({type(v).__name__})",
        "re-create the model file with tinyunfold (params are typed; nothing is coerced)",
    )


def typed_int(v: Any, kind: str, name: str, lo: int = 0, hi: int = MAX_DIM) -> int:
    """``v`` if it is an ``int`` (not a bool) in ``[lo, hi]``; else :class:`ModelFileError`."""
    if type(v) is not int or not lo <= v <= hi:
        raise _bad(kind, name, f"an integer in [{lo}, {hi}]", v)
    return v


def typed_float(
    v: Any,
    kind: str,
    name: str,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
) -> float:
    """``v`` as a float if it is a finite int/float (not a bool) within the bounds."""
    ok = type(v) in (int, float) and math.isfinite(v)
    if ok and lo is not None:
        ok = v > lo if lo_open else v >= lo
    if ok and hi is not None:
        ok = v <= hi
    if not ok:
        rng = f"{'>' if lo_open else '>='} {lo:g}" if lo is not None else ""
        if hi is not None:
            rng += f"{' and ' if rng else ''}<= {hi:g}"
        raise _bad(kind, name, "a finite number" + (f" {rng}" if rng else ""), v)
    return float(v)


def typed_bool(v: Any, kind: str, name: str) -> bool:
    if type(v) is not bool:
        raise _bad(kind, name, "true or false", v)
    return v


def typed_str(v: Any, kind: str, name: str, max_len: int = 256) -> str:
    if type(v) is not str or len(v) > max_len:
        raise _bad(kind, name, f"a string of at most {max_len} characters", v)
    return v


def typed_choice(v: Any, kind: str, name: str, choices: tuple[str, ...]) -> str:
    if type(v) is not str or v not in choices:
        raise _bad(kind, name, f"one of {', '.join(map(repr, choices))}", v)
    return v


def _param(model: ModelFile, name: str) -> Any:
    if name not in model.params:
        raise ModelFileError(f"{model.kind} model lacks param {name}")
    return model.params[name]


def param_int(model: ModelFile, name: str, lo: int = 0, hi: int = MAX_DIM) -> int:
    """Integer param ``name`` in ``[lo, hi]``: bools, floats, strings are refused."""
    return typed_int(_param(model, name), model.kind, name, lo, hi)


def param_float(
    model: ModelFile,
    name: str,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
) -> float:
    """Finite number param ``name`` (an int is accepted, a bool or string is not)."""
    return typed_float(_param(model, name), model.kind, name, lo, hi, lo_open)


def param_bool(model: ModelFile, name: str) -> bool:
    return typed_bool(_param(model, name), model.kind, name)


def param_str(model: ModelFile, name: str, max_len: int = 256) -> str:
    return typed_str(_param(model, name), model.kind, name, max_len)


def param_choice(model: ModelFile, name: str, choices: tuple[str, ...]) -> str:
    return typed_choice(_param(model, name), model.kind, name, choices)


# ---------------------------------------------------------------- cost before computing
def golden_cost(model: ModelFile, n_blocks: int, block_size: int) -> int:
    """An upper estimate of the float operations of the golden reference on ``n_blocks`` blocks.

    Kind-independent: each of the K = ``n_layers`` layers (1 when absent) touches every stored
    weight once per input frame (``n_frames``, 1 when absent), every input value a few times, and
    costs a fixed Python overhead. Measured (one loaded core): about 1e8 of these units per
    second for the nmf golden (F = R = N = 64) and for the published piano PAD-NMF network
    (2.2e9 units, 26 s per window).
    """
    layers = model.params.get("n_layers", 1)
    frames = model.params.get("n_frames", 1)
    layers = layers if type(layers) is int and layers > 0 else 1
    frames = frames if type(frames) is int and frames > 0 else 1
    weights = sum(int(a.size) for a in model.arrays.values())
    return int(n_blocks) * layers * (weights * frames + 4 * int(block_size) + _LAYER_OVERHEAD)


def check_golden_cost(model: ModelFile, n_blocks: int, block_size: int) -> None:
    """Refuse (before computing anything) a golden run larger than the cap of :func:`limits`."""
    cap = limits().golden_ops
    cost = golden_cost(model, n_blocks, block_size)
    if cost > cap:
        raise ModelFileError(
            f"the {model.kind} reference on {n_blocks} block(s) would take about {cost:,} "
            f"operations, over the cap of {cap:,}",
            f"pass fewer blocks, or raise the cap with {ENV_MAX_GOLDEN}=<operations>",
        )
