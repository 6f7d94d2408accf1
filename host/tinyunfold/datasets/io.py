"""Dataset folders: loading, validation and writing (layout documented in docs/datasets.md).

A dataset is a folder::

    <root>/
      targets/<class>/*.wav   clean isolated hit responses of each class (initialisation sets)
      noise/*.wav             background only
      mixtures/*.wav          the test/training signals
      labels.csv              one row per mixture (see below)
      stems/*.wav             optional: the exact target / noise components of the mixtures
      dataset.json            optional: free metadata (generator, seed, ...), kept as ``meta``

``labels.csv`` (comma-separated, header row, UTF-8). Required columns: ``file`` (name under
``mixtures/``), ``classes`` (``""`` or ``none`` for no hit, several classes separated by ``;``).
Optional columns: ``snr_db`` (float or empty), ``onset_s`` (one onset in seconds per class, ``;``
separated, in the order of ``classes``), ``target_stem`` / ``noise_stem`` (paths relative to the
dataset root, e.g. ``stems/mix_0001_target.wav``), ``split`` (``train``, ``test`` or empty),
``sources`` (``;``-separated target files, relative to ``targets/``, that produced the hits). Any
other column is kept verbatim in :attr:`Mixture.extra`.

All WAV files must be mono and share one sample rate. They are read with :func:`read_wav` (the
one WAV reader of the package: 16/24/32-bit PCM scaled to [-1, 1), float WAV taken as is; 8-bit,
stereo, empty, NaN/Inf and oversized files are refused). :func:`write_dataset` writes float32
WAV.
"""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyunfold.errors import InputFileError

NO_HIT = ("", "none")
BASE_COLUMNS = (
    "file",
    "classes",
    "snr_db",
    "onset_s",
    "target_stem",
    "noise_stem",
    "split",
    "sources",
)
SPLITS = ("", "train", "test")


class DatasetError(InputFileError):
    """A dataset folder, its labels.csv or one of its WAV files is malformed."""


@dataclass
class Mixture:
    """One labelled mixture.

    Attributes
    ----------
    name : str
        File name under ``mixtures/`` (with ``.wav``).
    audio : ndarray, shape (n_samples,), float64
    classes : tuple of str
        Classes of the hits present; empty for a no-hit mixture.
    snr_db : float or None
        Energy ratio of the target component to the noise component over the whole mixture, in
        dB, where known (see docs/datasets.md).
    onsets_s : tuple of float
        Onset of each hit in seconds, aligned with ``classes`` (empty when unknown).
    target_stem, noise_stem : ndarray or None
        The exact target (sum of all hits) and noise components, where known.
    split : str
        ``"train"``, ``"test"`` or ``""`` (unspecified).
    sources : tuple of str
        Target files (relative to ``targets/``) that produced the hits, where known.
    """

    name: str
    audio: np.ndarray
    classes: tuple[str, ...] = ()
    snr_db: float | None = None
    onsets_s: tuple[float, ...] = ()
    target_stem: np.ndarray | None = None
    noise_stem: np.ndarray | None = None
    split: str = ""
    sources: tuple[str, ...] = ()
    target_stem_file: str | None = None
    noise_stem_file: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def has_hit(self) -> bool:
        return len(self.classes) > 0

    @property
    def stem(self) -> str:
        """The file name without ``.wav``."""
        return self.name[:-4] if self.name.lower().endswith(".wav") else self.name


@dataclass
class Dataset:
    """A loaded dataset folder (see the module docstring).

    Attributes
    ----------
    sample_rate : int
    classes : list of str
        Class names = the folder names under ``targets/`` (sorted, or in the order of
        ``meta["classes"]`` when dataset.json lists them).
    targets : dict of str -> list of ndarray
        Clean hit responses per class (float64, each (n_samples,)).
    noise : list of ndarray
        Background-only recordings.
    mixtures : list of Mixture
        In the order of labels.csv.
    target_files, noise_files : file names matching ``targets`` / ``noise``.
    meta : dict
        Contents of dataset.json ({} when absent).
    """

    sample_rate: int
    classes: list[str]
    targets: dict[str, list[np.ndarray]]
    noise: list[np.ndarray]
    mixtures: list[Mixture]
    target_files: dict[str, list[str]] = field(default_factory=dict)
    noise_files: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def split(self, name: str) -> list[Mixture]:
        """Mixtures whose ``split`` column equals ``name`` (``"train"``, ``"test"`` or ``""``)."""
        return [m for m in self.mixtures if m.split == name]

    def no_hit(self) -> list[Mixture]:
        """Mixtures without any hit."""
        return [m for m in self.mixtures if not m.has_hit]

    def with_class(self, cls: str) -> list[Mixture]:
        """Mixtures containing at least one hit of class ``cls``."""
        return [m for m in self.mixtures if cls in m.classes]


# ----------------------------------------------------------------------------------- reading


ENV_MAX_WAV = "TINYUNFOLD_MAX_WAV_BYTES"
ENV_MAX_NPY = "TINYUNFOLD_MAX_NPY_BYTES"
DEFAULT_MAX_WAV_BYTES = 64 << 20  # samples of one WAV file (about 11 min of 48 kHz 16-bit)
DEFAULT_MAX_NPY_BYTES = 256 << 20  # data of one .npy input
MAX_SAMPLE_RATE = 10_000_000
_WAV_FIX = (
    "re-export it as mono 16/24/32-bit PCM or float WAV (e.g. `sox in.wav -c 1 -b 16 out.wav`)"
)


def _cap(env: str, default: int) -> int:
    import os

    raw = os.environ.get(env, "")
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise InputFileError(
            f"environment variable {env}={raw[:40]!r} is not a positive integer",
            f"unset it or set a byte count, e.g. {env}={default}",
        )
    return int(raw)


def _u16(b: bytes, o: int) -> int:
    return int.from_bytes(b[o : o + 2], "little")


def _u32(b: bytes, o: int) -> int:
    return int.from_bytes(b[o : o + 4], "little")


def read_wav(path: str | Path) -> tuple[int, np.ndarray]:
    """Read a mono WAV file as float64: the one WAV reader of ``stream``, ``detect`` and datasets.

    Integer PCM (16, 24, 32 bit) is scaled to [-1, 1); float WAV (32, 64 bit) is taken as is.
    The RIFF header is checked against the file size *before* any sample is read, and the sample
    data is capped (``TINYUNFOLD_MAX_WAV_BYTES``, default 64 MiB).

    Returns
    -------
    rate : int, Hz (> 0)
    x : ndarray, shape (n_samples,), float64, finite, n_samples >= 1

    Raises
    ------
    DatasetError
        Naming the file, what is wrong (not RIFF/WAVE, stereo, 8-bit, rate 0, a data chunk longer
        than the file, NaN/Inf, empty) and the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"missing WAV file {path}", "check the path (and docs/datasets.md)")
    cap = _cap(ENV_MAX_WAV, DEFAULT_MAX_WAV_BYTES)
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, 2)
            fh.seek(0)
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                raise DatasetError(
                    f"{path} is not a readable WAV file (no RIFF/WAVE header)", _WAV_FIX
                )
            fmt: bytes | None = None
            pos = 12
            while True:
                fh.seek(pos)
                ch = fh.read(8)
                if len(ch) < 8:
                    raise DatasetError(f"{path} has no data chunk", _WAV_FIX)
                cid, clen = ch[:4], _u32(ch, 4)
                body = pos + 8
                if cid == b"fmt ":
                    if not 16 <= clen <= 64 or body + clen > size:
                        raise DatasetError(f"{path} has a malformed fmt chunk", _WAV_FIX)
                    fmt = fh.read(clen)
                elif cid == b"data":
                    break
                pos = body + clen + (clen & 1)
            if fmt is None:
                raise DatasetError(f"{path} has no fmt chunk before its data", _WAV_FIX)
            code, channels, rate, align, bits = (
                _u16(fmt, 0), _u16(fmt, 2), _u32(fmt, 4), _u16(fmt, 12), _u16(fmt, 14)
            )  # fmt: skip
            if code == 0xFFFE and len(fmt) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the sub-format
                code = _u16(fmt, 24)
            if channels != 1:
                raise DatasetError(
                    f"{path} has {channels} channels; tinyunfold reads mono WAV only",
                    "mix down or pick one channel first (e.g. `sox in.wav -c 1 out.wav`)",
                )
            if not 0 < rate <= MAX_SAMPLE_RATE:
                raise DatasetError(f"{path} declares a sample rate of {rate} Hz", _WAV_FIX)
            kinds = {(1, 16): "<i2", (1, 24): "i3", (1, 32): "<i4", (3, 32): "<f4", (3, 64): "<f8"}
            if (code, bits) not in kinds:
                what = "8-bit PCM" if (code, bits) == (1, 8) else f"format {code} / {bits}-bit"
                raise DatasetError(
                    f"{path} is {what}; tinyunfold reads 16/24/32-bit PCM or float", _WAV_FIX
                )
            width = bits // 8
            if align != width:
                raise DatasetError(
                    f"{path}: block align {align} does not match {bits}-bit mono", _WAV_FIX
                )
            if clen > size - body:
                raise DatasetError(
                    f"{path}: the header claims {clen:,} bytes of samples, the file holds "
                    f"{max(0, size - body):,}: truncated or corrupt",
                    _WAV_FIX,
                )
            if clen > cap:
                raise DatasetError(
                    f"{path} holds {clen:,} bytes of samples, over the cap of {cap:,}",
                    f"cut the recording, or raise the cap with {ENV_MAX_WAV}=<bytes>",
                )
            n = clen // width
            if n == 0:
                raise DatasetError(f"{path} holds no samples", "remove or replace the file")
            fh.seek(body)
            raw = fh.read(n * width)
    except OSError as err:
        raise DatasetError(
            f"cannot read {path} ({err.strerror or err})", "check the file"
        ) from None
    if kinds[(code, bits)] == "i3":
        b = np.frombuffer(raw, dtype=np.uint8).reshape(n, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = (np.where(v >= 1 << 23, v - (1 << 24), v)).astype(np.float64) / float(1 << 23)
    elif code == 1:
        x = np.frombuffer(raw, dtype=kinds[(code, bits)]).astype(np.float64) / float(
            1 << (bits - 1)
        )
    else:
        x = np.frombuffer(raw, dtype=kinds[(code, bits)]).astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise DatasetError(f"{path} contains NaN or Inf samples", "re-export the file")
    return int(rate), x


def read_npy_header(fh: Any, what: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Read a .npy header (magic, shape, order, dtype) without reading the data.

    Raises :class:`InputFileError` when it is not a plain .npy header.
    """
    from numpy.lib import format as npf

    try:
        major, _ = npf.read_magic(fh)
        if major == 1:
            shape, fortran, dtype = npf.read_array_header_1_0(fh)
        elif major in (2, 3):
            shape, fortran, dtype = npf.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unknown .npy version {major}")
    except (ValueError, EOFError, OSError, SyntaxError, TypeError) as exc:
        raise InputFileError(
            f"{what} is not a .npy file ({exc})", "save the array with numpy.save"
        ) from None
    return tuple(int(s) for s in shape), bool(fortran), np.dtype(dtype)


def read_npy(path: str | Path, what: str = "input") -> np.ndarray:
    """Read a numeric, non-empty, finite .npy array given on the command line (no pickle).

    The header's shape and dtype are checked against the file size and the cap
    (``TINYUNFOLD_MAX_NPY_BYTES``, default 256 MiB) before any data is read. Accepts integer,
    unsigned and float dtypes; refuses bool, complex, string, object and structured arrays.
    """
    path = Path(path)
    label = f"{what} {path}"
    if not path.is_file():
        raise InputFileError(f"{label} does not exist", "check the path")
    cap = _cap(ENV_MAX_NPY, DEFAULT_MAX_NPY_BYTES)
    try:
        with open(path, "rb") as fh:
            shape, fortran, dtype = read_npy_header(fh, label)
            if dtype.kind not in "iuf" or dtype.fields is not None or dtype.subdtype is not None:
                raise InputFileError(
                    f"{label} holds {dtype} values; a numeric (int or float) array is needed",
                    "save a float32 array with numpy.save",
                )
            nbytes = math.prod(shape) * dtype.itemsize
            here = fh.tell()
            size = fh.seek(0, 2)
            left = size - here
            if nbytes > cap:
                raise InputFileError(
                    f"{label} declares {shape} {dtype} = {nbytes:,} bytes, over the cap of {cap:,}",
                    f"pass a smaller array, or raise the cap with {ENV_MAX_NPY}=<bytes>",
                )
            if nbytes != left:
                raise InputFileError(
                    f"{label}: the header declares {nbytes:,} bytes of data, the file holds {left:,}",
                    "the file is truncated or corrupt: save it again with numpy.save",
                )
            if nbytes == 0:
                raise InputFileError(f"{label} is empty (shape {shape})", "pass a non-empty array")
            fh.seek(here)
            data = fh.read(nbytes)
    except OSError as err:
        raise InputFileError(
            f"cannot read {label} ({err.strerror or err})", "check the file"
        ) from None
    x = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    if dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise InputFileError(f"{label} contains NaN or Inf", "pass finite values")
    return np.array(x)


# What reading an untrusted zip archive (.npz, .tum) can raise, each turned into one clear line by
# its reader: a bad or truncated archive, an inflate error, an entry over the zip64 limits, the
# exception zipfile uses for a compression method it cannot read (an exception caught here, not
# unfinished code), an encrypted entry (RuntimeError), bad bytes or text (ValueError, which
# includes UnicodeDecodeError).
ZIP_READ_ERRORS: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    NotImplementedError,
    RuntimeError,
    ValueError,
)


def read_npz(
    path: str | Path, what: str = "input", text: tuple[str, ...] = ()
) -> dict[str, np.ndarray]:
    """Read a ``.npz`` of numeric, finite arrays (``text`` names may hold a str scalar), no pickle.

    Each entry's declared size and ``.npy`` header are checked against the caps
    (``TINYUNFOLD_MAX_NPY_BYTES`` per entry and in total) before anything is decompressed;
    duplicate or non-``.npy`` entries are refused.
    """
    path = Path(path)
    label = f"{what} {path}"
    if not path.is_file():
        raise InputFileError(f"{label} does not exist", "check the path")
    cap = _cap(ENV_MAX_NPY, DEFAULT_MAX_NPY_BYTES)
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            names = [i.filename for i in infos]
            if len(set(names)) != len(names) or len(names) > 64:
                raise InputFileError(
                    f"{label}: duplicate or too many entries", "save it again with numpy.savez"
                )
            if sum(i.file_size for i in infos) > cap:
                raise InputFileError(
                    f"{label} declares {sum(i.file_size for i in infos):,} bytes, over the cap of {cap:,}",
                    f"pass a smaller file, or raise the cap with {ENV_MAX_NPY}=<bytes>",
                )
            for info in infos:
                if not info.filename.endswith(".npy"):
                    raise InputFileError(
                        f"{label}: entry {info.filename[:60]!r} is not a .npy",
                        "save it again with numpy.savez",
                    )
                key = info.filename[:-4]
                with zf.open(info) as fh:
                    shape, fortran, dtype = read_npy_header(fh, f"{label}[{key}]")
                    ok = dtype.kind in "iuf" or (key in text and dtype.kind == "U" and shape == ())
                    if not ok or dtype.fields is not None or dtype.subdtype is not None:
                        raise InputFileError(
                            f"{label}[{key}] holds {dtype} values; numeric arrays are needed",
                            "save float arrays with numpy.savez",
                        )
                    nbytes = math.prod(shape) * dtype.itemsize
                    if nbytes > info.file_size:
                        raise InputFileError(
                            f"{label}[{key}] is truncated or corrupt", "save it again"
                        )
                    data = fh.read(nbytes + 1)
                if len(data) != nbytes:
                    raise InputFileError(f"{label}[{key}] is truncated or corrupt", "save it again")
                a = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
                if dtype.kind == "f" and not np.all(np.isfinite(a)):
                    raise InputFileError(
                        f"{label}[{key}] contains NaN or Inf", "pass finite values"
                    )
                out[key] = np.array(a)
    except InputFileError:
        raise
    except ZIP_READ_ERRORS as exc:
        raise InputFileError(
            f"{label} is not a readable .npz ({type(exc).__name__}: {exc})",
            "save it with numpy.savez",
        ) from None
    return out


def write_wav(path: str | Path, rate: int, x: np.ndarray, full_scale: float | None = None) -> None:
    """Write a mono float32 WAV (parent folders are created); with ``full_scale`` a 16-bit PCM
    WAV of x / full_scale: round(32768 x / full_scale), which :func:`read_wav` reads back as
    that quantised x / full_scale exactly."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.asarray(x)
    if x.ndim != 1 or not np.all(np.isfinite(x)):
        raise DatasetError(f"cannot write {path}: need a finite 1-D signal", "check the audio")
    import scipy.io.wavfile

    if full_scale is None:
        scipy.io.wavfile.write(path, int(rate), x.astype(np.float32))
        return
    q = np.round(np.asarray(x, dtype=np.float64) * (32768.0 / full_scale))
    scipy.io.wavfile.write(path, int(rate), np.clip(q, -32768, 32767).astype(np.int16))


def pcm16_full_scale(peak: float) -> float:
    """The power of two 2^k (k may be negative) that puts ``peak`` just inside 16-bit PCM:
    the smallest k with peak / 2^k < 32767/32768. One scale for a whole dataset keeps every
    file's level (and every SNR) as generated; a power of two keeps the scaling exact."""
    k = 0
    if peak <= 0 or not np.isfinite(peak):
        return 1.0
    while peak * 2.0**-k >= 32767 / 32768:
        k += 1
    while peak * 2.0 ** -(k - 1) < 32767 / 32768:
        k -= 1
    return float(2.0**k)


class _RateCheck:
    def __init__(self) -> None:
        self.rate: int | None = None
        self.first: Path | None = None

    def __call__(self, path: Path) -> np.ndarray:
        rate, x = read_wav(path)
        if self.rate is None:
            self.rate, self.first = rate, path
        elif rate != self.rate:
            raise DatasetError(
                f"{path} has sample rate {rate} Hz but {self.first} has {self.rate} Hz",
                "resample every file of the dataset to one rate",
            )
        return x


def _wavs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".wav")


def _split_list(s: str) -> list[str]:
    return [t.strip() for t in s.split(";") if t.strip()]


def _parse_classes(s: str) -> tuple[str, ...]:
    s = s.strip()
    if s.lower() in NO_HIT:
        return ()
    return tuple(_split_list(s))


def _rel_path(root: Path, rel: str, where: str) -> Path:
    p = Path(rel)
    if p.is_absolute() or ".." in p.parts:
        raise DatasetError(
            f"{where}: path {rel!r} must be relative to the dataset folder, without '..'",
            "write stems as e.g. stems/mix_0001_target.wav",
        )
    return root / p


def load_dataset(
    path: str | Path,
    *,
    load_stems: bool = True,
    problems: list[str] | None = None,
    only_split: str | None = None,
) -> Dataset:
    """Load and validate a dataset folder (layout in the module docstring / docs/datasets.md).

    Parameters
    ----------
    path : folder of the dataset.
    load_stems : also read the ``target_stem`` / ``noise_stem`` WAV files (default True).
    problems : when given, problems of single class folders, noise files and labels.csv rows
        are appended to it (one line each) and loading goes on without them, so that every
        problem of the folder is found in one pass (:func:`check_dataset`); folder-level
        problems still raise.
    only_split : when given (e.g. ``"train"``), only the labels.csv rows of that split are loaded;
        the other rows are skipped unread (their WAVs, stems and labels are never opened or
        parsed: ``tinyunfold sweep`` never sees the test split).

    Raises
    ------
    DatasetError
        Naming the file (and labels.csv line) at fault and the fix.
    """
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(
            f"dataset folder {root} does not exist",
            "create one with `tinyunfold dataset mdof --out DIR` or see docs/datasets.md",
        )
    missing = [
        f"{sub}/ folder" for sub in ("targets", "noise", "mixtures") if not (root / sub).is_dir()
    ]
    if not (root / "labels.csv").is_file():
        missing.append("labels.csv")
    if missing:
        raise DatasetError(
            f"{root} has no {', '.join(missing)}",
            "a dataset needs targets/<class>/*.wav, noise/*.wav, mixtures/*.wav and labels.csv"
            " (docs/datasets.md)",
        )
    for sub in ("targets", "noise", "mixtures"):
        if not (root / sub).is_dir():
            raise DatasetError(
                f"{root} has no {sub}/ folder",
                "a dataset needs targets/<class>/*.wav, noise/*.wav, mixtures/*.wav and labels.csv"
                " (docs/datasets.md)",
            )
    meta: dict[str, Any] = {}
    if (root / "dataset.json").is_file():
        try:
            meta = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise DatasetError(
                f"{root / 'dataset.json'} is not valid JSON ({err})",
                "fix or delete dataset.json (it is optional)",
            ) from None
        if not isinstance(meta, dict):
            raise DatasetError(
                f"{root / 'dataset.json'} must hold a JSON object",
                "fix or delete dataset.json (it is optional)",
            )

    read = _RateCheck()
    class_dirs = sorted(
        p for p in (root / "targets").iterdir() if p.is_dir() and not p.name.startswith(".")
    )
    if not class_dirs:
        raise DatasetError(
            f"{root / 'targets'} has no class folders",
            "put the clean hit responses of class C in targets/C/*.wav",
        )
    names = [d.name for d in class_dirs]
    order = meta.get("classes")
    if isinstance(order, list) and sorted(map(str, order)) == sorted(names):
        names = [str(c) for c in order]
    targets: dict[str, list[np.ndarray]] = {}
    target_files: dict[str, list[str]] = {}
    for c in names:
        try:
            if c.lower() in NO_HIT or ";" in c or "," in c:
                raise DatasetError(
                    f"class folder name {c!r} is reserved or contains ';' or ','",
                    "rename the folder under targets/",
                )
            files = _wavs(root / "targets" / c)
            if not files:
                raise DatasetError(
                    f"{root / 'targets' / c} holds no .wav file",
                    "add the clean hit responses of this class or remove the folder",
                )
            good = []
            for f in files:
                try:
                    good.append((f, read(f)))
                except InputFileError as err:
                    if problems is None:
                        raise
                    problems.append(str(err))
            targets[c] = [x for _, x in good]
            target_files[c] = [f.name for f, _ in good]
        except InputFileError as err:
            if problems is None:
                raise
            problems.append(str(err))
    noise_paths = _wavs(root / "noise")
    if not noise_paths:
        no_noise = DatasetError(
            f"{root / 'noise'} holds no .wav file", "add at least one background-only recording"
        )
        if problems is None:
            raise no_noise
        problems.append(str(no_noise))
    noise = []
    for f in noise_paths:
        try:
            noise.append(read(f))
        except InputFileError as err:
            if problems is None:
                raise
            problems.append(str(err))

    labels = root / "labels.csv"
    if not labels.is_file():
        raise DatasetError(
            f"{root} has no labels.csv", "add one row per mixture (docs/datasets.md)"
        )
    try:
        text = labels.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise DatasetError(f"{labels} is not UTF-8 text ({err})", "save it as UTF-8 CSV") from None
    reader = csv.DictReader(io.StringIO(text))
    try:
        header = list(reader.fieldnames or [])
        rows = list(reader)
    except csv.Error as err:  # e.g. a field over csv.field_size_limit(), a NUL byte
        raise DatasetError(
            f"{labels}:{reader.line_num}: not readable as CSV ({err})",
            "labels.csv holds short comma-separated fields; quote values containing ','",
        ) from None
    for col in ("file", "classes"):
        if col not in header:
            raise DatasetError(
                f"{labels} has no {col!r} column (header: {header})",
                "the first line must name the columns, at least: file,classes",
            )
    if len(set(header)) != len(header):
        raise DatasetError(f"{labels} repeats a column name: {header}", "remove the duplicate")

    mixtures: list[Mixture] = []
    seen: set[str] = set()
    for lineno, row in enumerate(rows, start=2):
        try:
            where = f"{labels}:{lineno}"
            if None in row or any(v is None for v in row.values()):
                raise DatasetError(
                    f"{where}: wrong number of fields", "quote values containing ','"
                )
            fname = row["file"].strip()
            if not fname:
                raise DatasetError(f"{where}: empty file name", "name the WAV under mixtures/")
            if fname in seen:
                raise DatasetError(f"{where}: {fname} is listed twice", "keep one row per mixture")
            seen.add(fname)
            if only_split is not None and (row.get("split") or "").strip().lower() != only_split:
                continue
            where = f"{where} ({fname})"
            mpath = _rel_path(root / "mixtures", fname, where)
            if not mpath.is_file():
                raise DatasetError(
                    f"{where}: mixtures/{fname} does not exist", "fix the file name or add the WAV"
                )
            audio = read(mpath)
            classes = _parse_classes(row["classes"])
            for c in classes:
                if c not in targets:
                    raise DatasetError(
                        f"{where}: class {c!r} has no folder under targets/ (classes: {names})",
                        "fix the label or add targets/<class>/*.wav",
                    )
            snr_txt = (row.get("snr_db") or "").strip()
            snr: float | None = None
            if snr_txt and snr_txt.lower() not in ("none", "nan"):
                try:
                    snr = float(snr_txt)
                except ValueError:
                    raise DatasetError(
                        f"{where}: snr_db {snr_txt!r} is not a number",
                        "write a number in dB or leave it empty",
                    ) from None
                if not math.isfinite(snr):
                    snr = None
            onset_txt = _split_list(row.get("onset_s") or "")
            try:
                onsets = tuple(float(t) for t in onset_txt)
            except ValueError:
                raise DatasetError(
                    f"{where}: onset_s {row.get('onset_s')!r} is not a number list",
                    "write onsets in seconds separated by ';'",
                ) from None
            if onsets and len(onsets) != len(classes):
                raise DatasetError(
                    f"{where}: {len(onsets)} onset(s) for {len(classes)} class(es)",
                    "give one onset per class in classes (same order), or leave onset_s empty",
                )
            dur = len(audio) / read.rate if read.rate else 0.0
            for t in onsets:
                if not (0.0 <= t < dur):
                    raise DatasetError(
                        f"{where}: onset {t} s lies outside the {dur:.3f} s mixture",
                        "onsets are seconds from the start of the mixture file",
                    )
            split = (row.get("split") or "").strip().lower()
            if split not in SPLITS:
                raise DatasetError(
                    f"{where}: split {split!r} is not train, test or empty",
                    "use train, test or leave it empty",
                )
            stems: dict[str, np.ndarray | None] = {"target_stem": None, "noise_stem": None}
            stem_files: dict[str, str | None] = {"target_stem": None, "noise_stem": None}
            for col in stems:
                rel = (row.get(col) or "").strip()
                if not rel:
                    continue
                spath = _rel_path(root, rel, where)
                stem_files[col] = rel
                if not spath.is_file():
                    raise DatasetError(
                        f"{where}: {col} {rel} does not exist",
                        "fix the path (relative to the dataset root) or leave it empty",
                    )
                if load_stems:
                    s = read(spath)
                    if len(s) != len(audio):
                        raise DatasetError(
                            f"{where}: {col} {rel} has {len(s)} samples, the mixture {len(audio)}",
                            "stems must be sample-aligned with their mixture",
                        )
                    stems[col] = s
            extra = {k: (v or "") for k, v in row.items() if k not in BASE_COLUMNS}
            mixtures.append(
                Mixture(
                    name=fname,
                    audio=audio,
                    classes=classes,
                    snr_db=snr,
                    onsets_s=onsets,
                    target_stem=stems["target_stem"],
                    noise_stem=stems["noise_stem"],
                    split=split,
                    sources=tuple(_split_list(row.get("sources") or "")),
                    target_stem_file=stem_files["target_stem"],
                    noise_stem_file=stem_files["noise_stem"],
                    extra=extra,
                )
            )
        except InputFileError as err:
            if problems is None:
                raise
            problems.append(str(err))
    if not mixtures and only_split is not None and seen:
        raise DatasetError(
            f"{labels} marks no mixture with split={only_split}",
            f"mark mixtures with {only_split} in the split column (`dataset mdof` does)",
        )
    if not mixtures:
        raise DatasetError(f"{labels} lists no mixture", "add one row per mixtures/*.wav")
    unlisted = sorted({p.name for p in _wavs(root / "mixtures")} - seen)
    if unlisted:
        unl = DatasetError(
            f"mixtures/ holds {len(unlisted)} file(s) without a row in labels.csv: {unlisted[:5]}",
            "add a row for each (classes empty for a no-hit mixture) or move the files away",
        )
        if problems is None:
            raise unl
        problems.append(str(unl))
    if read.rate is None:
        raise DatasetError(f"{root} holds no readable WAV file", "see the problems above")
    return Dataset(
        sample_rate=read.rate,
        classes=names,
        targets=targets,
        noise=noise,
        mixtures=mixtures,
        target_files=target_files,
        noise_files=[p.name for p in noise_paths],
        meta=meta,
        path=root,
    )


def check_dataset(path: str | Path) -> list[str]:
    """Every layout problem of a dataset folder at once (empty list: it loads). One line each
    (with the fix); a folder-level problem (missing subfolder or labels.csv) ends the scan."""
    problems: list[str] = []
    try:
        load_dataset(path, problems=problems)
    except InputFileError as err:
        problems.append(str(err))
    return problems


# ----------------------------------------------------------------------------------- writing


def _fmt(x: float) -> str:
    return repr(float(x))


def write_dataset(
    path: str | Path, ds: Dataset, *, overwrite: bool = False, pcm16: bool = False
) -> Path:
    """Write ``ds`` as a dataset folder (float32 WAV) and return the folder.

    ``pcm16``: every file is written as 16-bit PCM at one full scale for the whole dataset
    (:func:`pcm16_full_scale` of its loudest sample, stored in dataset.json as
    ``pcm16_full_scale``): what a 16-bit recorder or ADC delivers, and exactly the samples a
    board streaming the WAVs receives, so host evaluation and device agree on the input
    (a float dataset has a dynamic range that 16-bit PCM does not keep: quiet bands then differ).

    File names come from ``ds.target_files`` / ``ds.noise_files`` / ``Mixture.name`` when given
    (``<class>_NNN.wav``, ``noise_NNN.wav`` otherwise). Mixtures with a ``target_stem`` or
    ``noise_stem`` array get ``stems/<mixture>_target.wav`` / ``_noise.wav`` (or the
    ``*_stem_file`` path when set). ``ds.meta`` goes to dataset.json (with ``classes`` added).

    Raises DatasetError when the folder exists and is not empty, unless ``overwrite``.
    """
    root = Path(path)
    if root.exists() and any(root.iterdir()) and not overwrite:
        raise DatasetError(
            f"{root} exists and is not empty", "choose another --out folder or pass --overwrite"
        )
    if overwrite and root.exists():
        for sub in ("targets", "noise", "mixtures", "stems"):
            d = root / sub
            if d.is_dir():
                for f in sorted(d.rglob("*.wav")):
                    f.unlink()
    if not ds.classes:
        raise DatasetError("dataset has no class", "add at least one target class")
    rate = int(ds.sample_rate)
    fs: float | None = None
    if pcm16:
        arrays = [x for c in ds.classes for x in ds.targets.get(c, [])] + list(ds.noise)
        for m in ds.mixtures:
            arrays += [a for a in (m.audio, m.target_stem, m.noise_stem) if a is not None]
        fs = pcm16_full_scale(max((float(np.max(np.abs(a))) for a in arrays if len(a)), default=0))
    for c in ds.classes:
        if c.lower() in NO_HIT or any(ch in c for ch in ";,/\\") or not c.strip():
            raise DatasetError(
                f"class name {c!r} is reserved or contains ';', ',' or '/'", "rename the class"
            )
        sigs = ds.targets.get(c, [])
        if not sigs:
            raise DatasetError(f"class {c!r} has no target signal", "add at least one")
        names = ds.target_files.get(c) or [f"{c}_{i:03d}.wav" for i in range(len(sigs))]
        if len(names) != len(sigs):
            raise DatasetError(
                f"class {c!r}: {len(names)} names for {len(sigs)} targets",
                "give one file name per target",
            )
        for n, x in zip(names, sigs, strict=True):
            write_wav(root / "targets" / c / n, rate, x, fs)
    if not ds.noise:
        raise DatasetError("dataset has no noise recording", "add at least one")
    nnames = ds.noise_files or [f"noise_{i:03d}.wav" for i in range(len(ds.noise))]
    for n, x in zip(nnames, ds.noise, strict=True):
        write_wav(root / "noise" / n, rate, x, fs)
    (root / "mixtures").mkdir(parents=True, exist_ok=True)
    extra_cols: list[str] = []
    for m in ds.mixtures:
        for k in m.extra:
            if k not in extra_cols and k not in BASE_COLUMNS:
                extra_cols.append(k)
    rows = []
    for m in ds.mixtures:
        name = m.name if m.name.lower().endswith(".wav") else m.name + ".wav"
        write_wav(root / "mixtures" / name, rate, m.audio, fs)
        stem_paths = {}
        for col, arr, rel in (
            ("target_stem", m.target_stem, m.target_stem_file),
            ("noise_stem", m.noise_stem, m.noise_stem_file),
        ):
            if arr is None:
                stem_paths[col] = rel or ""
                continue
            rel = rel or f"stems/{name[:-4]}_{col.split('_')[0]}.wav"
            write_wav(_rel_path(root, rel, name), rate, arr, fs)
            stem_paths[col] = rel
        row = {
            "file": name,
            "classes": ";".join(m.classes) if m.classes else "none",
            "snr_db": "" if m.snr_db is None else _fmt(m.snr_db),
            "onset_s": ";".join(_fmt(t) for t in m.onsets_s),
            "target_stem": stem_paths["target_stem"],
            "noise_stem": stem_paths["noise_stem"],
            "split": m.split,
            "sources": ";".join(m.sources),
        }
        for k in extra_cols:
            row[k] = m.extra.get(k, "")
        rows.append(row)
    with open(root / "labels.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(BASE_COLUMNS) + extra_cols, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    meta = dict(ds.meta)
    meta["classes"] = list(ds.classes)
    if fs is not None:
        meta["pcm16_full_scale"] = fs
    meta.setdefault("sample_rate", rate)
    (root / "dataset.json").write_text(
        json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return root
