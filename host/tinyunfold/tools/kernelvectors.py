"""Run kernels without a generated model (logf/expf/powf, the detector) on a board or in-process.

The program ``tu-kernel-vectors`` (firmware/app/kernels_main.c + kernel_vectors.c) reads one
operation from ``input.bin`` and writes ``output.bin``; on the host build the same dispatcher is a
shared library (``libtu_kernels_host.so``) called through ctypes. Stream format (little-endian
32-bit words), see firmware/app/kernel_vectors.h:

* ``LOGF``/``EXPF``: op, n, x[n] -> y[n]. ``POWF``: op, n, (x_i, y_i)[n] -> z[n].
* ``DETECT``: op, rank, n_frames, n_blocks, n_classes, n_shifts, top_k, floor, n_windows, has_ur,
  block_offset[n_blocks + 1], block_class[n_blocks], log_threshold[L]; with ``has_ur``:
  n_latent, n_penalized, n_iter, beta, alpha_p, p-1, eps, scale, threshold[L], A[L x L'];
  then H[rank x n_frames] per window. Out per window: log_index[L], shift[L], n_hits,
  hit[top_k] (0xFFFFFFFF pads), and with ``has_ur`` latent[L'], n_hits, hit[top_k].
  Readout (flag bit 1; bit 2: over label sets): floor, [n_sets, mask[n_sets]], threshold[L],
  W[rows x rank], b[rows] (rows = L or n_sets); out z[rows], [set index], n_hits, hit[top_k].
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyunfold.errors import ShapeError, SimulationError, ToolchainError
from tinyunfold.golden.detect import UR_N_ITER, DetectParams
from tinyunfold.platform.boards import load_board
from tinyunfold.platform.cmake import configure
from tinyunfold.tools.sim import DEFAULT_TIMEOUT_S, EXIT_HARDFAULT, execute, qemu_command

OP_LOGF, OP_EXPF, OP_POWF, OP_DETECT = 1, 2, 3, 4
_NONE = 0xFFFFFFFF


def _u32(*words: int) -> np.ndarray:
    return np.asarray(words, dtype=np.uint32)


def _f32_words(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32).ravel().view(np.uint32)


def encode_math(op: int, x: np.ndarray, y: np.ndarray | None = None) -> bytes:
    """Input stream of a logf / expf (``y`` None) or powf operation over flat float32 arrays."""
    xs = np.ascontiguousarray(x, dtype=np.float32).ravel()
    if op == OP_POWF:
        if y is None:
            raise ValueError("powf needs y")
        data = np.stack([xs, np.ascontiguousarray(y, dtype=np.float32).ravel()], 1)
    else:
        data = xs
    return np.concatenate([_u32(op, xs.size), _f32_words(data)]).astype("<u4").tobytes()


def encode_detect(params: DetectParams, H: np.ndarray) -> bytes:
    """Input stream of the detector over windows H (B, rank, n_frames)."""
    H = np.ascontiguousarray(H, dtype=np.float32).reshape(-1, params.rank, params.n_frames)
    nb = len(params.block_class)
    ur = params.ur
    parts = [
        _u32(OP_DETECT, params.rank, params.n_frames, nb, params.n_classes, params.n_shifts),
        _u32(params.top_k),
        _f32_words(np.array([params.floor], dtype=np.float32)),
        _u32(H.shape[0], _flags(params)),
        _u32(*params.block_offset),
        _u32(*params.block_class),
        _f32_words(params.log_threshold),
    ]
    if ur is not None:
        parts += [
            _u32(ur.n_latent, ur.n_penalized, ur.n_iter, ur.beta),
            _f32_words(np.array([ur.alpha_p, ur.p_minus_1, ur.eps, ur.scale])),
            _f32_words(ur.threshold),
            _f32_words(ur.A),
        ]
    rd = params.readout
    if rd is not None and rd.width != params.rank:
        raise ShapeError(
            f"the kernel vectors feed the readout H ({params.rank} rows), this readout reads "
            f"{rd.width} ({rd.input})",
            "check a spectrum readout through the detector firmware (`tinyunfold run`)",
        )
    if rd is not None:
        parts.append(_f32_words(np.array([rd.floor], dtype=np.float32)))
        if rd.sets is not None:
            parts += [_u32(rd.sets.size), np.asarray(rd.sets, dtype=np.uint32)]
        if rd.bg_mu is not None and rd.bg_inv_sd is not None:  # the excess block (flag bit 3)
            parts += [
                _f32_words(np.array([rd.excess], dtype=np.float32)),
                _f32_words(rd.bg_mu),
                _f32_words(rd.bg_inv_sd),
            ]
        parts += [
            _f32_words(rd.threshold),
            _f32_words(rd.W),
            _f32_words(rd.b),
        ]
    parts.append(_f32_words(H))
    return np.concatenate(parts).astype("<u4").tobytes()


def _flags(params: DetectParams) -> int:
    rd = params.readout
    sets = rd is not None and rd.sets is not None
    excess = rd is not None and rd.bg_mu is not None
    return (params.ur is not None) | (rd is not None) << 1 | sets << 2 | excess << 3


def _readout_rows(params: DetectParams) -> int:
    rd = params.readout
    return 0 if rd is None else int(rd.W.shape[0])


@dataclass
class DeviceDetect:
    """Decoded detector outputs of B windows (the fields of golden.detect.DetectResult)."""

    log_index: np.ndarray  # (B, L) float32
    shift: np.ndarray  # (B, L) int64
    classes: list[list[int]]
    latent: np.ndarray | None = None  # (B, L') float32
    ur_classes: list[list[int]] | None = None
    readout_score: np.ndarray | None = None  # (B, L or S) float32
    readout_classes: list[list[int]] | None = None
    readout_set: np.ndarray | None = None  # (B,) chosen label set (label-set readout)


def detect_output_words(params: DetectParams, n_windows: int) -> int:
    L, k = params.n_classes, params.top_k
    per = 2 * L + 1 + k + (0 if params.ur is None else params.ur.n_latent + 1 + k)
    rd = params.readout
    per += 0 if rd is None else _readout_rows(params) + 1 + k + (rd.sets is not None)
    return per * n_windows


def _hits(words: np.ndarray, top_k: int) -> list[int]:
    n = int(words[0])
    hits = [int(w) for w in words[1 : 1 + top_k]]
    if n > top_k or any(h == _NONE for h in hits[:n]) or any(h != _NONE for h in hits[n:]):
        raise SimulationError(f"malformed hit list {hits} (n_hits={n})")
    return hits[:n]


def decode_detect(out: bytes, params: DetectParams, n_windows: int) -> DeviceDetect:
    words = np.frombuffer(out, dtype="<u4")
    if words.size != detect_output_words(params, n_windows):
        raise SimulationError(
            f"detector wrote {words.size} words, expected "
            f"{detect_output_words(params, n_windows)} for {n_windows} windows"
        )
    L, k = params.n_classes, params.top_k
    rows = words.reshape(n_windows, -1)
    log_index = rows[:, :L].copy().view(np.float32)
    shift = rows[:, L : 2 * L].astype(np.int64)
    classes = [_hits(r[2 * L : 2 * L + 1 + k], k) for r in rows]
    dev = DeviceDetect(log_index, shift, classes)
    b = 2 * L + 1 + k
    if params.ur is not None:
        Lp = params.ur.n_latent
        dev.latent = rows[:, b : b + Lp].copy().view(np.float32)
        dev.ur_classes = [_hits(r[b + Lp : b + Lp + 1 + k], k) for r in rows]
        b += Lp + 1 + k
    if params.readout is not None:
        R = _readout_rows(params)
        dev.readout_score = rows[:, b : b + R].copy().view(np.float32)
        b += R
        if params.readout.sets is not None:
            dev.readout_set = rows[:, b].astype(np.int64)
            b += 1
        dev.readout_classes = [_hits(r[b : b + 1 + k], k) for r in rows]
    return dev


# ------------------------------------------------------------------------------- runners
def _build(board_name: str, target: str) -> Path:
    bdir = configure(load_board(board_name))
    proc = subprocess.run(
        ["cmake", "--build", str(bdir), "--target", target], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise ToolchainError(
            f"build of {target} for {board_name} failed:\n{(proc.stdout + proc.stderr)[-3000:]}",
            "see the compiler output above",
        )
    return bdir


@functools.lru_cache(maxsize=4)
def program(board_name: str) -> Path:
    """Build ``tu-kernel-vectors`` for a board; returns the ELF (or the host executable)."""
    board = load_board(board_name)
    bdir = _build(board_name, "tu-kernel-vectors")
    return bdir / ("tu-kernel-vectors" if board.is_host else "tu-kernel-vectors.elf")


_TICKS = re.compile(r"TU_RESULT kernels ok ticks_hi=(\d+) ticks_lo=(\d+)")


def run_program(
    board_name: str, stream: bytes, out_bytes: int, timeout_s: float = DEFAULT_TIMEOUT_S
) -> bytes:
    """Run one operation on ``board_name`` (QEMU, or natively for ``host``); returns output.bin."""
    return _run_program(board_name, stream, out_bytes, timeout_s)[0]


def _run_program(
    board_name: str, stream: bytes, out_bytes: int, timeout_s: float = DEFAULT_TIMEOUT_S
) -> tuple[bytes, int]:
    """(output.bin, the operation's counter ticks in the board's unit)."""
    board = load_board(board_name)
    elf = program(board_name)
    with tempfile.TemporaryDirectory(prefix="tu-kv-") as tmp:
        work = Path(tmp)
        (work / "input.bin").write_bytes(stream)
        cmd = qemu_command(board, elf) if board.runner["kind"] == "qemu" else [str(elf)]
        rc, console = execute(board, cmd, timeout_s, cwd=work)
        if rc == EXIT_HARDFAULT:
            raise SimulationError(f"{board.name}: HardFault in the firmware: {console.strip()}")
        if rc != 0 or "TU_RESULT kernels ok" not in console:
            raise SimulationError(f"{board.name}: kernel vectors failed ({rc}): {console[-2000:]}")
        out = (work / "output.bin").read_bytes()
    if len(out) != out_bytes:
        raise SimulationError(f"{board.name}: {len(out)} output bytes, expected {out_bytes}")
    m = _TICKS.search(console)
    ticks = 0 if m is None else (int(m.group(1)) << 32) | int(m.group(2))
    return out, board.ticks_to_units(ticks)


@functools.lru_cache(maxsize=1)
def _host_library() -> ctypes.CDLL:
    bdir = _build("host", "tu_kernels_host")
    lib = ctypes.CDLL(str(bdir / "libtu_kernels_host.so"))
    lib.tu_host_kernel_vectors.restype = ctypes.c_int
    lib.tu_host_kernel_vectors.argtypes = [
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.POINTER(ctypes.c_size_t),
    ]
    return lib


def run_host_library(stream: bytes, out_bytes: int) -> bytes:
    """The same operation through the host shared library (ctypes, in-process)."""
    out = ctypes.create_string_buffer(out_bytes)
    n = ctypes.c_size_t(0)
    rc = _host_library().tu_host_kernel_vectors(stream, len(stream), out, out_bytes, n)
    if rc != 0 or n.value != out_bytes:
        raise SimulationError(
            f"host kernel vectors returned {rc} with {n.value} of {out_bytes} output bytes"
        )
    return out.raw


def run(board_name: str, stream: bytes, out_bytes: int) -> bytes:
    """``board_name`` ``"host-lib"`` is the ctypes library; anything else a board program."""
    if board_name == "host-lib":
        return run_host_library(stream, out_bytes)
    return run_program(board_name, stream, out_bytes)


def math_on(board_name: str, op: int, x: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
    """logf / expf / powf of flat float32 ``x`` (``y``) on a board; float32 (n,)."""
    xs = np.ascontiguousarray(x, dtype=np.float32).ravel()
    out = run(board_name, encode_math(op, xs, y), 4 * xs.size)
    return np.frombuffer(out, dtype="<f4").astype(np.float32)


def detect_on(board_name: str, params: DetectParams, H: np.ndarray) -> DeviceDetect:
    """The detector over windows H (B, rank, n_frames) on a board."""
    B = int(np.asarray(H).reshape(-1, params.rank * params.n_frames).shape[0])
    out = run(board_name, encode_detect(params, H), 4 * detect_output_words(params, B))
    return decode_detect(out, params, B)


# --------------------------------------------------------------------------------- bench
def _bench_detector(L: int, n: int, shifted: bool, beta: int, background: bool) -> DetectParams:
    from tinyunfold.golden.detect import DEFAULT_FLOOR, UR_EPS, URParams

    rng = np.random.default_rng(0)
    offs = tuple(range(0, 3 * L + 1, 3))  # rank-3 target blocks, one per class, a noise block
    Lp = L + int(background)
    ur = URParams(
        A=(rng.random((L, Lp)) + 0.1).astype(np.float32), beta=beta, alpha_p=np.float32(0.025),
        p_minus_1=np.float32(-0.75), eps=np.float32(UR_EPS), scale=np.float32(1.0),
        threshold=np.full(L, 0.5, np.float32), n_penalized=L,
    )  # fmt: skip
    return DetectParams(
        rank=3 * L + 3, n_frames=n, block_offset=offs, block_class=tuple(range(L)), n_classes=L,
        n_shifts=n if shifted else 1, floor=np.float32(DEFAULT_FLOOR),
        log_threshold=np.full(L, -1.0, np.float32), top_k=1, ur=ur,
    )  # fmt: skip


def bench(boards: tuple[str, ...] = ("mps2-an386", "mps2-an500")) -> list[str]:
    """Instructions per logf/expf/powf call and per detector window (QEMU icount), as lines."""
    lines = []
    x = np.random.default_rng(0).uniform(0.01, 100.0, 100_000).astype(np.float32)
    for b in boards:
        base = _run_program(b, encode_math(OP_LOGF, x[:0]), 0)[1]
        for op, name, xs, ys in (
            (OP_LOGF, "logf", x, None),
            (OP_EXPF, "expf", np.log(x), None),
            (OP_POWF, "powf", x, np.full(x.size, -0.75, np.float32)),
        ):
            t = _run_program(b, encode_math(op, xs, ys), 4 * x.size)[1]
            lines.append(f"{b} {name}: {(t - base) / x.size:.1f} instructions per call")
        for L, n, shifted, beta, bg in ((2, 4, False, 1, False), (3, 8, True, 0, True)):
            p = _bench_detector(L, n, shifted, beta, bg)
            H = np.random.default_rng(1).random((1, p.rank, n)).astype(np.float32)
            t1 = _run_program(b, encode_detect(p, H), 4 * detect_output_words(p, 1))[1]
            t0 = _run_program(b, encode_detect(p, H[:0]), 0)[1]
            q = dataclasses.replace(p, ur=None)
            t2 = _run_program(b, encode_detect(q, H), 4 * detect_output_words(q, 1))[1]
            t3 = _run_program(b, encode_detect(q, H[:0]), 0)[1]
            lines.append(
                f"{b} detector L={L} H={p.rank}x{n} {'shifted' if shifted else 'diagonal'}: "
                f"indices + threshold rule {t2 - t3}, + UR beta={beta}"
                f"{' +background' if bg else ''} ({UR_N_ITER} it) {t1 - t0} instructions per window"
            )
    return lines


if __name__ == "__main__":
    print("\n".join(bench()))
