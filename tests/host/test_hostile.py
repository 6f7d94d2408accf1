"""Hostile inputs, table-driven: every command on malformed model files, .npy, WAV, CSV and TOML.

Each case runs ``python -m tinyunfold ...`` as a subprocess with a 1 GiB address-space cap
(``resource.setrlimit`` in ``preexec_fn``) and a wall-clock timeout. It must exit with the
documented status (docs/errors.md), print exactly one line on stderr that names the cause and the
fix (``tinyunfold: error: <cause>; fix: <fix>``), never a traceback, and write nothing outside its
output folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import resource
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tinyunfold.errors import EXIT_INPUT
from tinyunfold.features import SpectrogramParams
from tinyunfold.kinds import save_model
from tinyunfold.models.frontend import frontend_model
from tinyunfold.models.nmf import NMFInference

AS_CAP = 1 << 30  # 1 GiB of address space per command
TIMEOUT_S = 60
RATE = 8000


# ------------------------------------------------------------------------------- file makers
def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=a.dtype.hasobject)
    return buf.getvalue()


def _nmf_model(F: int = 6, R: int = 2, N: int = 3, K: int = 2):
    W = np.random.default_rng(0).random((F, R)).astype(np.float32) + 0.1
    return NMFInference(W, n_layers=K, n_frames=N).to_modelfile()


def _manifest_of(model) -> dict:
    """The manifest save_model writes (re-read from a saved copy)."""
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"tu-hostile-{os.getpid()}.tum"
    save_model(path, model)
    with zipfile.ZipFile(path) as zf:
        man = json.loads(zf.read("manifest.json"))
        blobs = {n: zf.read(n) for n in zf.namelist() if n != "manifest.json"}
    path.unlink()
    return {"manifest": man, "blobs": blobs}


def _zip(path: Path, entries: list[tuple[str, bytes]], compress: int = zipfile.ZIP_DEFLATED):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are the point of some cases
        with zipfile.ZipFile(path, "w", compression=compress) as zf:
            for name, data in entries:
                zf.writestr(name, data)


def tum(
    edit: Callable[[dict], None] | None = None,
    arrays: dict[str, np.ndarray] | None = None,
    model=None,
    extra: list[tuple[str, bytes]] = (),
    manifest_text: str | None = None,
):
    """A writer of a (malformed) model file: manifest edited by ``edit``, arrays replaced by
    ``arrays`` (their sha256 and manifest entries recomputed, so only the intended defect is
    left), extra zip entries appended."""

    def write(path: Path) -> None:
        base = _manifest_of(model or _nmf_model())
        man, blobs = base["manifest"], base["blobs"]
        for name, a in (arrays or {}).items():
            data = _npy_bytes(a)
            fname = f"arrays/{name}.npy"
            blobs[fname] = data
            man["arrays"][name] = {
                "file": fname,
                "dtype": a.dtype.name,
                "shape": list(a.shape),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        if edit:
            edit(man)
        text = manifest_text if manifest_text is not None else json.dumps(man)
        _zip(path, [("manifest.json", text.encode()), *blobs.items(), *extra])

    return write


def params(**kw):
    return lambda m: m["params"].update(kw)


def raw(data: bytes):
    return lambda path: path.write_bytes(data)


def npy(a: np.ndarray):
    return lambda path: path.write_bytes(_npy_bytes(a))


def wav(
    samples: bytes = b"\x00\x01" * 4000,
    channels: int = 1,
    rate: int = RATE,
    bits: int = 16,
    code: int = 1,
    data_len: int | None = None,
):
    """A RIFF/WAVE file with a hand-written header (so it can lie)."""

    def write(path: Path) -> None:
        align = channels * bits // 8
        fmt = struct.pack("<HHIIHH", code, channels, rate, rate * align, align, bits)
        n = len(samples) if data_len is None else data_len
        body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", n)
        path.write_bytes(b"RIFF" + struct.pack("<I", len(body) + len(samples)) + body + samples)

    return write


def _npy_header(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    """Only the header of a .npy that claims ``shape`` (no data follows)."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": dtype, "fortran_order": False, "shape": shape}
    )
    return buf.getvalue()


def _padnmf_detector():
    """A small padnmf model with a feature front-end (``detect`` reads WAV files for it)."""
    from tinyunfold.modelfile import ModelFile
    from tinyunfold.models.padnmf import BlockLayout, w_mask

    rng = np.random.default_rng(3)
    lay = BlockLayout(n_bins=5, context=3, ranks=(3, 2), block_class=(0,), class_names=("a",))
    MW = w_mask(lay)
    Ws = [rng.random(MW.shape) * MW + 1e-3 * MW for _ in range(2)]
    params = {
        "n_layers": 4, "n_discriminative": 2, "alpha_h": 0.05, "alpha_s": 0.0, "eps": 1e-9,
        "h_mask": False, "w_mask": True, "h0": "ones", "layout": lay.to_params(),
        "features": SpectrogramParams(RATE, 256, 128).to_dict(), "n_frames": 4,
    }  # fmt: skip
    return ModelFile("padnmf", params, {"W_fixed": Ws[0], "W_disc": np.stack(Ws[1:])})


def float_wav(x: np.ndarray):
    return wav(np.asarray(x, "<f4").tobytes(), bits=32, code=3)


def _zip_bomb(path: Path) -> None:
    """An array entry of 256 MiB of zeros (~256 KiB deflated), manifest consistent with it."""
    n = 64 << 20  # float32 values
    header = _npy_header((n,))
    man = _manifest_of(_nmf_model())["manifest"]
    man["arrays"]["W"].update(shape=[n], sha256="0" * 64)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(man))
        with zf.open("arrays/W.npy", "w", force_zip64=True) as fh:
            fh.write(header)
            chunk = bytes(1 << 20)
            for _ in range(n * 4 >> 20):
                fh.write(chunk)


def _declared_4gb(path: Path) -> None:
    """A valid model whose zip directory claims W.npy is ~4 GB uncompressed."""
    tum()(path)
    data = bytearray(path.read_bytes())
    i = data.find(b"PK\x01\x02", 0)
    while i >= 0:
        name_len = struct.unpack_from("<H", data, i + 28)[0]
        if data[i + 46 : i + 46 + name_len] == b"arrays/W.npy":
            struct.pack_into("<I", data, i + 24, 0xFFFFFF00)
        i = data.find(b"PK\x01\x02", i + 4)
    path.write_bytes(bytes(data))


def _dataset(
    root: Path, labels: str | bytes | None = None, mixture: Callable | None = None
) -> None:
    """A tiny valid dataset folder; ``labels`` replaces labels.csv, ``mixture`` writes the mix."""
    rng = np.random.default_rng(1)
    for sub in ("targets/a", "noise", "mixtures"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    float_wav(rng.standard_normal(RATE // 4) * 0.1)(root / "targets/a/t.wav")
    float_wav(rng.standard_normal(RATE // 4) * 0.1)(root / "noise/n.wav")
    (mixture or float_wav(rng.standard_normal(RATE // 4) * 0.1))(root / "mixtures/m.wav")
    text = labels if labels is not None else "file,classes\nm.wav,a\n"
    (root / "labels.csv").write_bytes(text if isinstance(text, bytes) else text.encode())


def dataset(**kw):
    return lambda path: _dataset(path, **kw)


def toml(text: str):
    return lambda path: path.write_text(text)


SYSTEM = """name = "t"
kind = "linear"
steps = 5
x0 = [1.0, 1.0]
C = [[1, 0], [0, 1]]
[model]
A = [[1.0, 0.0], [0.0, 1.0]]
[noise]
sigma_q = 0.02
sigma_r = 0.03
sigma_p = 0.1
"""


# ------------------------------------------------------------------------------- the table
@dataclass
class Case:
    id: str
    argv: str  # {bad}: the hostile file; {good_nmf}, {spec}, {x}, {ds}, {padnmf}: good inputs
    make: Callable[[Path], None]
    word: str  # a word of the cause
    suffix: str = ".tum"
    code: int = EXIT_INPUT


MODEL_CASES = [
    ("not-a-zip", raw(b"\x80\x04\x95pickle?"), "not a zip"),
    ("empty-file", raw(b""), "not a zip"),
    ("truncated-zip", lambda p: (tum()(p), p.write_bytes(p.read_bytes()[:200])), "not"),
    ("no-manifest", lambda p: _zip(p, [("other.json", b"{}")]), "no manifest"),
    ("manifest-not-json", tum(manifest_text="{nope"), "corrupt manifest"),
    ("manifest-array", tum(manifest_text="[1, 2]"), "foreign"),
    ("manifest-deep", tum(manifest_text="[" * 50_000 + "]" * 50_000), "nests deeper"),
    ("manifest-2mb", tum(manifest_text=" " * (2 << 20) + "{}"), "manifest"),
    ("manifest-nan", tum(manifest_text='{"format": NaN}'), "corrupt manifest"),
    ("format-version-str", tum(lambda m: m.update(format_version="1")), "format_version"),
    ("format-version-bool", tum(lambda m: m.update(format_version=True)), "format_version"),
    ("kind-unknown", tum(lambda m: m.update(kind="nmff")), "unknown model kind"),
    ("kind-list", tum(lambda m: m.update(kind=["nmf"])), "kind"),
    ("params-list", tum(lambda m: m.update(params=[1])), "must be objects"),
    ("zip-bomb-256mb", _zip_bomb, "over the cap"),
    ("declared-4gb", _declared_4gb, "over the cap"),
    ("shape-huge", tum(lambda m: m["arrays"]["W"].update(shape=[1 << 20, 1 << 20])), "cap"),
    ("shape-negative", tum(lambda m: m["arrays"]["W"].update(shape=[-6, 2])), "malformed shape"),
    ("shape-bool", tum(lambda m: m["arrays"]["W"].update(shape=[True, 2])), "malformed shape"),
    ("shape-vs-npy", tum(lambda m: m["arrays"]["W"].update(shape=[3, 4])), "manifest says"),
    ("dtype-object", tum(lambda m: m["arrays"]["W"].update(dtype="object")), "dtype"),
    ("dtype-complex", tum(arrays={"W": np.ones((6, 2), np.complex64)}), "dtype"),
    ("sha-mismatch", tum(lambda m: m["arrays"]["W"].update(sha256="0" * 64)), "sha256"),
    ("array-missing", tum(lambda m: m["arrays"]["W"].update(file="arrays/X.npy")), "missing"),
    ("dup-entry", tum(extra=[("arrays/W.npy", b"x")]), "appears twice"),
    ("extra-entry", tum(extra=[("evil.py", b"import os")]), "unexpected zip entries"),
    ("n_layers-true", tum(params(n_layers=True)), "n_layers"),
    ("n_layers-400-digits", tum(params(n_layers=10**400)), "n_layers"),
    ("n_layers-1e9", tum(params(n_layers=10**9)), "n_layers"),
    ("n_layers-string", tum(params(n_layers="50")), "n_layers"),
    ("n_frames-float", tum(params(n_frames=23.9)), "n_frames"),
    ("eps-zero", tum(params(eps=0)), "eps"),
    ("eps-bool", tum(params(eps=True)), "eps"),
    ("h0-unknown", tum(params(h0="zeros")), "h0"),
    ("param-missing", tum(lambda m: m["params"].pop("alpha_h")), "alpha_h"),
    ("W-nan", tum(arrays={"W": np.full((6, 2), np.nan, np.float32)}), "NaN"),
    ("W-negative", tum(arrays={"W": -np.ones((6, 2), np.float32)}), "nonnegative"),
    ("W-empty", tum(arrays={"W": np.ones((0, 2), np.float32)}), "W"),
    ("W-float64", tum(arrays={"W": np.ones((6, 2))}), "float32"),
    ("W-1d", tum(arrays={"W": np.ones(6, np.float32)}), "2-D"),
    (
        "spectrogram-rate-true",
        tum(
            lambda m: m["params"]["features"].update(sample_rate=True),
            model=frontend_model(SpectrogramParams(RATE, 256, 128)),
        ),
        "sample_rate",
    ),
    (
        "spectrogram-nfft-str",
        tum(
            lambda m: m["params"]["features"].update(n_fft="256"),
            model=frontend_model(SpectrogramParams(RATE, 256, 128)),
        ),
        "n_fft",
    ),
]

CASES: list[Case] = []


def add(cases, cid: str, argv: str, suffix: str, make=None) -> None:
    """One case per (id, maker, word) of ``cases`` for the command line ``argv``."""
    for name, mk, word in cases:
        CASES.append(Case(f"{cid}-{name}", argv, make(mk) if make else mk, word, suffix))


# every distinct malformed model file once (model info), a few of them on every other command
add(MODEL_CASES, "model-info", "model info {bad}", ".tum")
FEW = MODEL_CASES[::9]
add(FEW, "build", "build --model {bad} --board host", ".tum")
add(FEW, "run", "run --model {bad} --board host --input {x}", ".tum")
add(FEW, "stream", "stream --model {bad} --board host --input {x}", ".tum")
add(FEW, "flash", "flash --model {bad} --board mps2-an386", ".tum")
add(FEW, "detect", "detect --model {bad} {x}", ".tum")
add(FEW[:2], "evaluate", "evaluate --model {bad} --dataset {ds} --out out", ".tum")

NPY_CASES = [
    ("string", npy(np.array([["a", "b"]] * 6)), "<U1"),
    ("bytes", npy(np.array([[b"a"] * 3] * 6)), "S1"),
    ("complex", npy(np.ones((6, 3), np.complex64)), "complex"),
    ("object", npy(np.array([[1, None, 2]] * 6, dtype=object)), "object"),
    ("bool", npy(np.ones((6, 3), bool)), "bool"),
    ("structured", npy(np.zeros((6, 3), dtype=[("a", "<f4")])), "numeric"),
    ("zero-size", npy(np.ones((0, 6, 3), np.float32)), "empty"),
    ("nan", npy(np.full((6, 3), np.nan, np.float32)), "NaN"),
    ("inf", npy(np.full((6, 3), np.inf, np.float32)), "NaN or Inf"),
    ("beyond-float32", npy(np.full((6, 3), 1e300)), "float32 range"),
    ("not-npy", raw(b"hello, world\n" * 10), "not a .npy"),
    ("npz", lambda p: np.savez(p.with_suffix(""), a=np.ones(3)) or p.with_suffix(".npz").rename(p), "not a .npy"),
    ("header-claims-huge", lambda p: p.write_bytes(_npy_header((1 << 15, 1 << 15))), "cap"),
    ("truncated", lambda p: p.write_bytes(_npy_bytes(np.ones((6, 3), np.float32))[:-4]), "truncated"),
    ("wrong-shape", npy(np.ones((4, 3), np.float32)), "shape"),
]  # fmt: skip
add(NPY_CASES, "run-npy", "run --model {good_nmf} --board host --input {bad}", ".npy")
add(NPY_CASES[2:9:3], "stream-npy", "stream --model {good_nmf} --board host --input {bad}", ".npy")
add(NPY_CASES[3:9:3], "model-nmf-W", "model nmf --W {bad} --out out/m.tum", ".npy")
add(NPY_CASES[0:9:4], "detect-npy", "detect --model {padnmf} {bad}", ".npy")

WAV_CASES = [
    ("stereo", wav(channels=2), "2 channels"),
    ("8-bit", wav(b"\x80" * 4000, bits=8), "8-bit"),
    ("rate-zero", wav(rate=0), "sample rate of 0"),
    ("claims-4gb", wav(data_len=0xFFFFFFF0), "claims"),
    ("nan", float_wav(np.full(4000, np.nan)), "NaN"),
    ("inf", float_wav(np.full(4000, np.inf)), "NaN or Inf"),
    ("not-wav", raw(b"ID3\x03\x00 an mp3, really" * 20), "not a readable WAV"),
    ("no-samples", wav(b""), "no samples"),
    ("float16", wav(b"\x00" * 4000, bits=16, code=3), "format 3"),
    ("truncated-header", raw(b"RIFF\x10\x00\x00\x00WAVEfmt "), "data chunk"),
    ("wrong-rate", wav(rate=16000), "sampled at 16000"),
]
add(WAV_CASES, "stream-wav", "stream --model {spec} --board host --input {bad}", ".wav")
add(WAV_CASES[::3], "detect-wav", "detect --model {padnmf} {bad}", ".wav")
add(WAV_CASES[1:8:3], "dataset-wav", "dataset info {bad}", "", lambda mk: dataset(mixture=mk))

CSV_CASES = [
    ("field-over-limit", dataset(labels="file,classes\nm.wav," + "a" * 200_000 + "\n"), "field larger"),
    ("nul-byte", dataset(labels="file,classes\nm.wav,a\x00\n"), "class"),
    ("no-classes-column", dataset(labels="file,label\nm.wav,a\n"), "classes"),
    ("not-utf8", dataset(labels=b"file,classes\nm.wav,\xff\n"), "UTF-8"),
    ("unknown-class", dataset(labels="file,classes\nm.wav,b\n"), "class 'b'"),
    ("too-many-fields", dataset(labels="file,classes\nm.wav,a,b\n"), "number of fields"),
    ("path-escape", dataset(labels="file,classes,target_stem\nm.wav,a,../../etc/passwd\n"), "relative"),
]  # fmt: skip
add(CSV_CASES, "dataset-csv", "dataset info {bad}", "")
add(CSV_CASES[:2], "train-csv", "train padnmf --dataset {bad} --out out/m.tum --no-progress", "")

SYSTEM_CASES = [
    ("filter-q_scal", toml(SYSTEM + "[filter]\nq_scal = 0.1\n"), "did you mean 'q_scale'"),
    ("top-stpes", toml(SYSTEM + "stpes = 5\n"), "unknown key 'stpes'"),
    ("steps-true", toml(SYSTEM.replace("steps = 5", "steps = true")), "steps must be an integer"),
    ("steps-float", toml(SYSTEM.replace("steps = 5", "steps = 5.5")), "steps must be an integer"),
    ("steps-huge", toml(SYSTEM.replace("steps = 5", "steps = 1000000000000")), "steps must be in"),
    ("sigma-string", toml(SYSTEM.replace("sigma_q = 0.02", 'sigma_q = "x"')), "sigma_q"),
    ("learn-idx", toml(SYSTEM + '[[learn]]\ntarget = "A"\nidx = [0, 0]\n'), "did you mean 'index'"),
    ("not-toml", toml("kind = = linear"), "not valid TOML"),
    ("not-utf8", raw(b"kind = '\xff'"), "not valid TOML"),
    ("deep-arrays", toml("x0 = " + "[" * 5000 + "]" * 5000), "TOML"),
]
add(SYSTEM_CASES, "simulate", "simulate --system {bad} --n 2 --out out/t.npz", ".toml")
add(
    SYSTEM_CASES[:2],
    "train-dkf",
    "train dkf --system {bad} --trajectories {x} --out out/m.tum",
    ".toml",
)

CONFIG_CASES = [
    ("model-typo", toml("[model]\nn_layer = 5\n"), "unknown key 'n_layer'"),
    ("features-typo", toml("[features]\nn_fftt = 512\n"), "did you mean 'n_fft'"),
    ("features-rate", toml("[features]\nsample_rate = 8000\n"), "sample_rate"),
    ("section-typo", toml("[modle]\nn_layers = 5\n"), "did you mean 'model'"),
    ("not-toml", toml("[model\n"), "cannot read config"),
]
TRAIN = "train {} --dataset {{ds}} --config {{bad}} --out out/m.tum --no-progress"
add(CONFIG_CASES, "train-padnmf-config", TRAIN.format("padnmf"), ".toml")
add(CONFIG_CASES[:2], "train-dnmfd-config", TRAIN.format("dnmfd"), ".toml")


def _npz_declaring_4gb(path: Path) -> None:
    np.savez(path.with_suffix(""), y=np.ones((2, 5, 2)))
    path.with_suffix(".npz").rename(path)
    data = bytearray(path.read_bytes())
    i = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, i + 24, 0xFFFFFF00)  # y.npy: ~4 GB uncompressed, says the zip
    path.write_bytes(bytes(data))


def npz(**arrays):
    def write(path: Path) -> None:
        np.savez(path.with_suffix(""), **arrays)
        path.with_suffix(".npz").rename(path)

    return write


TRAJ_CASES = [
    ("not-npz", raw(b"x, y\n1, 2\n"), "not a readable .npz"),
    ("declares-4gb", _npz_declaring_4gb, "over the cap"),
    ("object", npz(y=np.array([None, 1], dtype=object)), "object"),
    ("nan", npz(y=np.full((2, 5, 2), np.nan)), "NaN"),
    ("no-y", npz(x=np.ones((2, 6, 2))), "no array 'y'"),
]
add(
    TRAJ_CASES,
    "train-dkf-traj",
    "train dkf --system {system} --trajectories {bad} --out out/m.tum",
    ".npz",
)

COST_CASES = [
    # a valid model and a valid input whose golden reference alone would take hours: refused
    # before any computation (and before any build)
    Case(
        "run-golden-too-costly",
        "run --model {bad} --board host --input {big}",
        lambda p: save_model(p, _nmf_model(F=64, R=64, N=64, K=10_000)),
        "operations, over the cap",
    ),
]
CASES += COST_CASES


# ------------------------------------------------------------------------------- runner
@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """Good inputs shared by the cases (never modified by them)."""
    d = tmp_path_factory.mktemp("good")
    good = {
        "good_nmf": save_model(d / "nmf.tum", _nmf_model()),
        "spec": save_model(d / "spec.tum", frontend_model(SpectrogramParams(RATE, 256, 128))),
        "padnmf": save_model(d / "padnmf.tum", _padnmf_detector()),
        "x": d / "x.npy",
        "big": d / "big.npy",
        "ds": d / "ds",
        "system": d / "system.toml",
    }
    good["system"].write_text(SYSTEM)
    np.save(good["x"], np.ones((2, 6, 3), np.float32))
    np.save(good["big"], np.ones((64, 64, 64), np.float32))
    _dataset(good["ds"])
    return good


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (AS_CAP, AS_CAP))


def _snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for root in roots:
        for p in root.rglob("*"):
            st = p.lstat()
            out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


def run_cli(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "TINYUNFOLD_BUILD": str(cwd / "out" / "build"),
    }
    return subprocess.run(
        [sys.executable, "-m", "tinyunfold", *argv],
        cwd=cwd,
        env=env,
        preexec_fn=_limit,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )


def check_one_line(proc: subprocess.CompletedProcess, code: int, word: str) -> str:
    """The documented exit status and exactly one stderr line with cause, fix and ``word``."""
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode == code, (proc.returncode, proc.stderr[-2000:])
    assert len(lines) == 1, proc.stderr[-2000:]
    line = lines[0]
    assert line.startswith("tinyunfold: error: ") and "; fix: " in line, line
    cause, fix = line.split("; fix: ", 1)
    assert word.lower() in line.lower(), (word, line)
    assert len(cause) > len("tinyunfold: error: ") + 5 and len(fix) > 5, line
    return line


def test_table_is_big_enough():
    assert len({c.id for c in CASES}) == len(CASES)
    kinds = {c.suffix for c in CASES}
    assert {".tum", ".npy", ".wav", ".toml", ""} <= kinds
    assert len(CASES) >= 40
    commands = {c.argv.split(" --")[0].split(" {")[0] for c in CASES}
    assert {
        "model info", "model nmf", "build", "run", "stream", "flash", "detect", "dataset info",
        "simulate", "train dkf", "train padnmf", "train dnmfd",
    } <= commands  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, inputs, tmp_path):
    bad = tmp_path / "in" / f"bad{case.suffix}"
    bad.parent.mkdir()
    case.make(bad)
    cwd = tmp_path / "work"
    (cwd / "out").mkdir(parents=True)
    argv = case.argv.format(bad=bad, **{k: str(v) for k, v in inputs.items()}).split()
    before = _snapshot(tmp_path / "in", inputs["x"].parent)
    proc = run_cli(argv, cwd)
    check_one_line(proc, case.code, case.word)
    assert _snapshot(tmp_path / "in", inputs["x"].parent) == before  # inputs untouched
    assert sorted(p.name for p in cwd.iterdir()) == ["out"]  # nothing beside the output folder
