"""``tinyunfold detect --model m.tum FILE...``: hits with time, class and detection indices.

A recording is cut into consecutive windows of the training window length (the model's
``window_samples``; a shorter last piece is dropped), each window goes through the network
(K layers), the detection indices (4.3.28-4.3.30) and the decision rule (thresholds 4.3.32, or the
uncertainty reduction 4.3.37 with ``--method ur``). Each hit reports its class, the detection
index, the decision score (the index, or the latent Î_l with ``ur``) and the threshold it beat, the
onset frame within the window (the best off-diagonal; 0 without the shifted variant) and its time.
A ``.npy`` file is taken as one precomputed
spectrogram window (m' x n), e.g. for models imported with ``tinyunfold import padnmf-mat``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from tinyunfold import kinds
from tinyunfold.errors import TinyUnfoldError

EPILOG = """\
examples:
  tinyunfold detect --model d1.tum mixtures/m09_-20dB_0.wav
  tinyunfold detect --model d1.tum long_recording.wav --json > hits.json
  tinyunfold detect --model piano.tum window.npy --method ur
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "detect",
        help="detect hits in WAV files with a hit-detector model",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    names = ", ".join(k.name for k in kinds.of_task("detector"))
    p.add_argument("--model", required=True, help=f"hit-detector model file ({names})")
    p.add_argument("files", nargs="+", help=".wav recordings or .npy spectrogram windows")
    p.add_argument(
        "--method",
        choices=("threshold", "ur"),
        default="threshold",
        help="decision: per-class thresholds (4.3.32) or uncertainty reduction (4.3.37)",
    )
    p.add_argument(
        "--top-k",
        type=int,
        help="report at most this many hits per window (default: the model's top_k)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=_detect)


def detect_windows(
    model: Any, windows: list[np.ndarray], method: str = "threshold", top_k: int | None = None
) -> list[dict[str, Any]]:
    """Run the detector on spectrogram windows; one dict per window."""
    parts = kinds.get(model.kind).require("detection")(model)
    est, det = parts.transformer, parts.detector
    if top_k is not None:
        det.top_k = int(top_k)
    H = est.transform(windows)
    res = det.indices(H, est.layout_)
    dec = det.decide(res.index, method)
    names = est.layout_.class_names
    if method == "ur":
        assert det.ur is not None
        score, thr = det.ur.latent(res.index), det.ur.class_thresholds()
    else:
        score, thr = res.index, det.thresholds
    conf = det.confidence(res.index)  # calibrated P(class present), None for older models
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


def _detect(args: argparse.Namespace) -> int:
    from tinyunfold.datasets.io import read_npy, read_wav
    from tinyunfold.datasets.prep import model_front_end, spectrogram
    from tinyunfold.modelfile import typed_int

    model = kinds.load_model(args.model)
    detectors = [k.name for k in kinds.of_task("detector")]
    if model.kind not in detectors:
        raise TinyUnfoldError(
            f"detect needs a hit detector ({', '.join(detectors)}), got a {model.kind!r} model",
            "train a hit detector with `tinyunfold train <kind> --dataset D`",
        )
    report = []
    for f in args.files:
        path = Path(f)
        if path.suffix.lower() == ".npy":
            spec = read_npy(path, "spectrogram")
            res = detect_windows(model, [spec], args.method, args.top_k)
            report.append({"file": f, "windows": [{"start_s": None, **res[0]}]})
            continue
        feats, scale = model_front_end(model.params)
        rate, x = read_wav(path)
        if rate != feats.sample_rate:
            raise TinyUnfoldError(
                f"{f} is sampled at {rate} Hz, the model at {feats.sample_rate} Hz",
                "resample the recording",
            )
        wlen = typed_int(
            model.params.get("window_samples", len(x)), model.kind, "window_samples", 1, 1 << 31
        )
        starts = list(range(0, len(x) - wlen + 1, wlen))
        if not starts:
            raise TinyUnfoldError(f"{f} is shorter than one window ({wlen} samples)")
        specs = [spectrogram(x[s : s + wlen], feats, scale) for s in starts]
        res = detect_windows(model, specs, args.method, args.top_k)
        wins = []
        for s, r in zip(starts, res, strict=True):
            for h in r["hits"]:
                h["time_s"] = (s + h["onset_frame"] * feats.hop) / rate
            wins.append({"start_s": s / rate, **r})
        report.append({"file": f, "windows": wins})
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        for r in report:
            for w in r["windows"]:
                hits = (
                    ", ".join(
                        f"{h['class']} (score {h['score']:.4g} > {h['threshold']:.4g}"
                        + (f", t={h['time_s']:.3f} s" if "time_s" in h else "")
                        + ")"
                        for h in w["hits"]
                    )
                    or "no hit"
                )
                at = "" if w["start_s"] is None else f" @ {w['start_s']:.2f} s"
                print(f"{r['file']}{at}: {hits}")
    return 0
