"""``tinyunfold detect --model m.tum FILE...``: hits with time, class and detection indices.

For a detector that deploys (audio in, hits out), a WAV goes through the float32 streaming pipeline
(host/tinyunfold/golden/stream.py): int16 PCM, frames every hop, windows every ``stride`` frames,
the forward pass, the detection indices (4.3.28-4.3.30), the model's decision rule (thresholds
4.3.32, or the uncertainty reduction 4.3.37 with ``--method ur``) and the dedupe rule — the same
events, bit for bit, that the detector firmware sends (``tinyunfold run`` / ``stream``).

``--float64`` runs the research path instead: the float64 network on consecutive windows of the
training length. A ``.npy`` file is taken as one precomputed spectrogram window (m' x n), e.g. for
models imported with ``tinyunfold import padnmf-mat`` (float64 path).
"""

from __future__ import annotations

import argparse
import json

from tinyunfold import kinds

EPILOG = """\
examples:
  tinyunfold detect --model d1.tum mixtures/m09_-20dB_0.wav
  tinyunfold detect --model d1.tum long_recording.wav --json > hits.json
  tinyunfold detect --model d1.tum mix.wav --float64        # research path (float64)
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
        choices=("threshold", "ur", "readout"),
        help="decision: per-class thresholds (4.3.32), uncertainty reduction (4.3.37) or the "
        "linear readout of H; "
        "default: the model's stream decision (float32) / threshold (float64)",
    )
    p.add_argument(
        "--top-k",
        type=int,
        help="report at most this many hits per window (default: the model's top_k)",
    )
    p.add_argument(
        "--float64",
        action="store_true",
        help="research path: float64 network on training-length windows (not what a board runs)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=_detect)


def _detect(args: argparse.Namespace) -> int:
    from tinyunfold.pipelines.detect import detect_files

    model = kinds.load_model(args.model)
    report = detect_files(model, args.files, args.method, args.top_k, args.float64)
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    for r in report:
        label = "float32 pipeline" if r["pipeline"] == "float32" else "float64 research path"
        print(f"{r['file']} ({label})")
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
            print(f"  window{at}: {hits}")
    return 0
