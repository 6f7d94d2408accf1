"""``tinyunfold detect``: hits in recordings, on the host.

Two paths:

* **float32, deployable** (default for a detector that runs audio in, hits out): the streaming
  pipeline of :mod:`tinyunfold.golden.stream` — exactly the events the detector firmware sends
  (same windows, classes, onsets, score and threshold bits).
* **float64, research** (``--float64``, ``.npy`` spectrogram windows, models without an audio
  front-end): the estimator's ``transform`` and :class:`tinyunfold.detection.Detector` in float64 on
  consecutive windows of ``window_samples`` samples (a shorter last piece is dropped).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tinyunfold import kinds
from tinyunfold.errors import TinyUnfoldError
from tinyunfold.golden import stream as gstream
from tinyunfold.modelfile import ModelFile


def require_detector_model(model: ModelFile) -> kinds.Kind:
    kind = kinds.get(model.kind)
    if kind.task != "detector":
        names = ", ".join(k.name for k in kinds.of_task("detector"))
        raise TinyUnfoldError(
            f"detect needs a hit detector ({names}), got a {model.kind!r} model",
            "train a hit detector with `tinyunfold train <kind> --dataset D`",
        )
    return kind


def stream_config(model: ModelFile) -> gstream.StreamConfig:
    """The streaming detector of ``model`` (raises with the reason when it has none)."""
    kind = require_detector_model(model)
    cfg: gstream.StreamConfig = kind.require("stream")(model)
    return cfg


def deployable(model: ModelFile) -> bool:
    """True when ``model`` runs as a streaming detector (then ``detect`` uses float32)."""
    try:
        stream_config(model)
    except TinyUnfoldError:
        return False
    return True


def read_pcm(path: str | Path, cfg: gstream.StreamConfig) -> np.ndarray:
    """int16 PCM of a WAV at the detector's sample rate (the one WAV reader of the detector)."""
    rate, pcm = gstream.read_pcm16(path)
    if rate != cfg.sample_rate:
        raise TinyUnfoldError(
            f"{path} is sampled at {rate} Hz, the model at {cfg.sample_rate} Hz",
            "resample the recording",
        )
    return pcm


def detect_f32(
    model: ModelFile,
    path: str | Path,
    method: str | None = None,
    top_k: int | None = None,
    cfg: gstream.StreamConfig | None = None,
    det: Any = None,
) -> dict[str, Any]:
    """The float32 streaming pipeline on one WAV: events (after dedupe) and per-window hits.

    ``cfg`` (:func:`stream_config`) and ``det`` (the model's fitted detector) are derived from
    ``model`` when not given (:func:`detect_files` derives them once for many files).
    """
    cfg = stream_config(model) if cfg is None else cfg
    pcm = read_pcm(path, cfg)
    res = gstream.run_stream(cfg, pcm, method, top_k)
    if res.n_windows == 0:
        raise TinyUnfoldError(
            f"{path} is shorter than one window ({cfg.window_samples} samples)",
            "use a longer recording",
        )
    events = [e.to_dict(cfg) for e in res.events]
    # calibrated P(class present) (host-only, not a device decision): of the readout's float32
    # scores z for the readout rule (σ(z), or P(c ∈ set) over label sets), else of the index
    if det is None:
        det = require_detector_model(model).require("detection")(model).detector
    if res.readout_z is not None and det.readout is not None:
        conf = det.readout.probability_of_score(np.asarray(res.readout_z, dtype=np.float64))
    else:
        conf = det.confidence(np.exp(np.asarray(res.log_index, dtype=np.float64)))
    windows = []
    for w in range(res.n_windows):
        start = w * cfg.stride * cfg.hop
        win: dict[str, Any] = {
            "start_s": start / cfg.sample_rate,
            "hits": [e for e in events if e["window"] == w],
            "indices": {c: float(res.log_index[w, i]) for i, c in enumerate(cfg.class_names)},
        }
        if conf is not None:
            win["confidence"] = {c: float(conf[w, i]) for i, c in enumerate(cfg.class_names)}
        windows.append(win)
    return {
        "file": str(path),
        "pipeline": "float32",
        "decision": method or cfg.decision,
        "sample_rate": cfg.sample_rate,
        "hop": cfg.hop,
        "n_frames": cfg.n_frames,
        "stride": cfg.stride,
        "warm_start": cfg.warm,
        "n_samples": res.n_samples,
        "n_windows": res.n_windows,
        "events": events,
        "windows": windows,
    }


def detect_windows_f64(
    model: ModelFile, windows: list[np.ndarray], method: str = "threshold", top_k: int | None = None
) -> list[dict[str, Any]]:
    """The float64 research path on spectrogram windows; one dict per window."""
    parts = require_detector_model(model).require("detection")(model)
    est, det = parts.transformer, parts.detector
    if top_k is not None:
        det.top_k = int(top_k)
    H = est.transform(windows)
    X = np.stack(windows)  # the windows X~, what a spectrum readout reads
    res = det.indices(H, est.layout_)
    dec = det.decide(res.index, method, H=H, X=X)
    names = est.layout_.class_names
    if method == "ur":
        assert det.ur is not None
        score, thr = det.ur.latent(res.index), det.ur.class_thresholds()
    elif method == "readout":
        assert det.readout is not None
        score, thr = det.readout.class_scores(det.readout.source(H, X))  # z, or P(c ∈ set)
    else:
        score, thr = res.index, det.thresholds
    conf = (  # calibrated P(class present), None for older models
        det.readout.probability(det.readout.source(H, X))
        if method == "readout" and det.readout is not None
        else det.confidence(res.index)
    )
    out = []
    for q, hits in enumerate(dec):
        extra = (
            {}
            if conf is None
            else {"confidence": {names[c]: float(conf[q, c]) for c in range(len(names))}}
        )
        out.append(
            {
                **extra,
                "hits": [
                    {
                        "class": names[c],
                        "index": float(res.index[q, c]),
                        "score": float(score[q, c]),
                        "threshold": float(thr[c]),
                        "onset_frame": int(res.shift[q, c]),
                    }
                    for c in hits
                ],
                "indices": {names[c]: float(res.index[q, c]) for c in range(len(names))},
            }
        )
    return out


def detect_f64(
    model: ModelFile, path: str | Path, method: str = "threshold", top_k: int | None = None
) -> dict[str, Any]:
    """The float64 research path on one file (.wav or one .npy spectrogram window)."""
    from tinyunfold.datasets.io import read_npy, read_wav
    from tinyunfold.datasets.prep import model_front_end, spectrogram
    from tinyunfold.modelfile import typed_int

    path = Path(path)
    if path.suffix.lower() == ".npy":
        spec = read_npy(path, "spectrogram")
        res = detect_windows_f64(model, [spec], method, top_k)
        return {"file": str(path), "pipeline": "float64", "windows": [{"start_s": None, **res[0]}]}
    feats, scale = model_front_end(model.params)
    rate, x = read_wav(path)
    if rate != feats.sample_rate:
        raise TinyUnfoldError(
            f"{path} is sampled at {rate} Hz, the model at {feats.sample_rate} Hz",
            "resample the recording",
        )
    wlen = typed_int(
        model.params.get("window_samples", len(x)), model.kind, "window_samples", 1, 1 << 31
    )
    starts = list(range(0, len(x) - wlen + 1, wlen))
    if not starts:
        raise TinyUnfoldError(f"{path} is shorter than one window ({wlen} samples)")
    specs = [spectrogram(x[s : s + wlen], feats, scale) for s in starts]
    res = detect_windows_f64(model, specs, method, top_k)
    wins = []
    for s, r in zip(starts, res, strict=True):
        for h in r["hits"]:
            h["time_s"] = (s + h["onset_frame"] * feats.hop) / rate
        wins.append({"start_s": s / rate, **r})
    return {"file": str(path), "pipeline": "float64", "windows": wins}


def detect_files(
    model: ModelFile,
    paths: list[str],
    method: str | None = None,
    top_k: int | None = None,
    float64: bool = False,
) -> list[dict[str, Any]]:
    """``detect`` on each file: the float32 streaming pipeline for a deployable detector and a
    WAV, else the float64 research path. The stream config and detector are derived once."""
    kind = require_detector_model(model)
    cfg = None
    if not float64:
        try:
            cfg = stream_config(model)
        except TinyUnfoldError:
            cfg = None  # not deployable: the float64 path
    det = kind.require("detection")(model).detector if cfg is not None else None
    out = []
    for path in paths:
        if cfg is not None and Path(path).suffix.lower() != ".npy":
            out.append(detect_f32(model, path, method, top_k, cfg, det))
        else:
            out.append(detect_f64(model, path, method or "threshold", top_k))
    return out
