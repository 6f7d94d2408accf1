"""A trained detector as it streams (issue 10): accuracy of exactly what the device runs, and its
real-time factor on a simulated board.

* :func:`stream_accuracy` — every test mixture of a dataset is one stream through the float32
  pipeline of :mod:`tinyunfold.golden.stream` (the events the detector firmware sends, bit for bit;
  warm starts included); the reported set of a mixture is the classes of its events, scored
  set-exact against its labels.
* :func:`board_realtime` — a recording streamed through the detector firmware on a QEMU board
  over the real serial link (:func:`tinyunfold.tools.detector.run_detector`, events checked bit
  for bit): instructions per second of audio (steady state: per frame x frames per second + per
  window x windows per second) and seconds of audio per CPU second at 168 MHz with
  instructions as cycles, plus the same with the cycle estimate of :mod:`tinyunfold.tools.cycles`
  scaled from one forward pass.

**Headroom.** Recordings reach the device as int16 PCM (``golden.stream.pcm16``: round(x 2^15),
clipped). Synthetic datasets are float and may exceed full scale (Dataset1 mixtures peak at about
5), so before quantising they are scaled by 2^-k (a microphone gain; k from the loudest mixture of
the dataset) and the deployed model's ``input_scale`` is multiplied by 4^k: band powers scale by
exactly 4^-k in float32 (powers of two), so only the int16 rounding differs from the float
recording (:func:`with_headroom`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinyunfold.datasets import load_dataset
from tinyunfold.datasets.prep import train_split
from tinyunfold.golden import stream as gstream
from tinyunfold.modelfile import ModelFile

CLOCK_HZ = 168_000_000


def headroom_shift(peak: float) -> int:
    """Smallest k >= 0 with peak x 2^-k below full scale (32767/32768)."""
    k = 0
    while peak * 2.0**-k >= 32767 / 32768:
        k += 1
    return k


def with_headroom(model: ModelFile, k: int) -> ModelFile:
    """The model for recordings scaled by 2^-k: ``input_scale`` x 4^k (exact in float32)."""
    if k == 0:
        return model
    p = dict(model.params)
    p["input_scale"] = float(p.get("input_scale", 1.0)) * 4.0**k
    return ModelFile(kind=model.kind, params=p, arrays=model.arrays)


def dataset_streams(
    dataset: Path, split: str = "test", k: int | None = None
) -> tuple[int, list[tuple[Any, np.ndarray]]]:
    """(k, [(mixture, int16 PCM x 2^-k)]) of a split (``"test"``: the mixtures not marked train);
    k from the loudest mixture of the whole dataset unless given."""
    ds = load_dataset(dataset)
    train, test = train_split(ds)
    mixtures = test if split == "test" else train
    if k is None:
        k = headroom_shift(max(float(np.max(np.abs(m.audio))) for m in ds.mixtures))
    return k, [(m, gstream.pcm16(np.asarray(m.audio) * 2.0**-k)) for m in mixtures]


def stream_accuracy(
    model: ModelFile,
    dataset: Path,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Set-exact accuracy (%) of the float32 streaming detector on the test split.

    Returns {accuracy, hits_right (single and multi-hit mixtures), false_positives (no-hit
    mixtures with an event), test_mixtures, headroom_shift, windows, warm_start}.
    """
    k, streams = dataset_streams(dataset)
    cfg = gstream.stream_config(with_headroom(model, k))
    right, hit, fp, windows = [], [], [], 0
    for i, (m, pcm) in enumerate(streams):
        res = gstream.run_stream(cfg, pcm)
        windows += res.n_windows
        got = {cfg.class_names[e.class_index] for e in res.events}
        right.append(got == set(m.classes))
        if m.classes:
            hit.append(got == set(m.classes))
        else:
            fp.append(bool(got))
        if log is not None and (i + 1) % 10 == 0:
            log(f"{i + 1}/{len(streams)} mixtures, accuracy so far {100 * np.mean(right):.1f}%")
    return {
        "accuracy": round(100 * float(np.mean(right)), 1),
        "hits_right": round(100 * float(np.mean(hit)), 1) if hit else None,
        "false_positives": round(100 * float(np.mean(fp)), 1) if fp else None,
        "test_mixtures": len(streams),
        "headroom_shift": k,
        "windows": windows,
        "warm_start": cfg.warm,
    }


def board_realtime(
    model: ModelFile,
    pcm: np.ndarray,
    board: str = "mps2-an386",
    kernels: str = "cmsis",
    cycles_per_instruction: float | None = None,
    timeout_s: float = 900.0,
) -> dict[str, Any]:
    """Stream ``pcm`` through the detector firmware on ``board``: bit-exactness of the events and
    the cost per second of audio. ``cycles_per_instruction`` (e.g. from the bench's cycle estimate
    of one forward pass) adds a real-time factor by the cycle estimate."""
    from tinyunfold.tools.detector import run_detector

    cfg = gstream.stream_config(model)
    r = run_detector(model, board, pcm, kernels, timeout_s=timeout_s)
    rep = r.report()
    t = r.totals or {}
    seconds = len(pcm) / cfg.sample_rate
    # steady state: sample_rate / hop frames and sample_rate / (hop stride) windows per second (a
    # short recording's total / duration would undercount the windows cut off at its end)
    frames_per_s = cfg.sample_rate / cfg.hop
    per_s = (
        rep["instructions_per_frame"] * frames_per_s
        + rep["instructions_per_window"] * frames_per_s / cfg.stride
    )
    row = {
        "board": board,
        "kernels": kernels,
        "bit_exact": r.bit_exact,
        "mismatches": r.mismatches[:5],
        "events": len(r.device.events),
        "audio_s": round(seconds, 4),
        "frames": t.get("frames"),
        "windows": t.get("windows"),
        "instructions_per_frame": rep["instructions_per_frame"],
        "instructions_per_window": rep["instructions_per_window"],
        "instructions_per_audio_second": round(per_s),
        "instructions_total": rep["instructions_total"],
        "realtime_factor_168mhz": round(CLOCK_HZ / per_s, 3),
        "stack_bytes": rep["stats"]["stack_hwm"],
        "warm_start": cfg.warm,
    }
    if cycles_per_instruction is not None:
        row["cycles_per_instruction"] = cycles_per_instruction
        row["realtime_factor_168mhz_by_cycles"] = round(
            CLOCK_HZ / (per_s * cycles_per_instruction), 3
        )
    return row


def concatenated(streams: Sequence[tuple[Any, np.ndarray]], count: int) -> np.ndarray:
    """The first ``count`` recordings of ``streams`` one after the other (one stream)."""
    return np.concatenate([pcm for _, pcm in streams[:count]])
