"""The end-to-end demo (``tinyunfold demo``) and its pieces: the synthetic NMF model, the
front-end, the build-run-compare loop over boards, the golden-vs-float64 check, and the streaming
detector demo (a tiny PAD-NMF detector trained on a synthetic set, a WAV streamed to the M4F)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyunfold.modelfile import ModelFile


def demo_model(layers: int = 100) -> tuple[ModelFile, np.ndarray, np.ndarray]:
    from tinyunfold.models.nmf import NMFInference
    from tinyunfold.tools.synthetic import synthetic_nmf_problem

    W, H, X = synthetic_nmf_problem()
    model = NMFInference(
        W, n_layers=layers, alpha_h=0.01, eps=1e-9, n_frames=X.shape[2]
    ).to_modelfile()
    return model, H, X


def demo_front_end() -> tuple[ModelFile, np.ndarray]:
    """The feature front-end (features.py) as deployed: 512-point frames, 24 log-spaced bands."""
    from tinyunfold.features import SpectrogramParams
    from tinyunfold.models.frontend import frontend_model

    p = SpectrogramParams(sample_rate=16000, n_fft=512, hop=256, n_bands=24, band_scale="log")
    rng = np.random.default_rng(7)
    t = np.arange(p.n_fft) / p.sample_rate
    frames = np.stack(
        [np.sin(2 * np.pi * 440.0 * t) + 0.1 * rng.standard_normal(p.n_fft) for _ in range(3)]
    ).astype(np.float32)
    return frontend_model(p), frames


def check_all(
    model: ModelFile,
    X: np.ndarray,
    boards: list[str],
    kernels: list[str],
    on_report: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Build, run and bit-compare ``model`` on every board x kernel set; one report each
    (``on_report`` sees each as it comes, for progress printing)."""
    from tinyunfold.tools.deploy import check_model

    reports = []
    for board in boards:
        for k in kernels:
            t = time.time()
            res = check_model(model, board, X, k)
            r = res.report()
            r["wall_s_build_and_run"] = round(time.time() - t, 2)
            if on_report is not None:
                on_report(r)
            reports.append(r)
    return reports


def golden_vs_float64(model: ModelFile, X: np.ndarray, H_true: np.ndarray) -> tuple[float, float]:
    """(max relative difference float32 golden vs float64 model, correlation with the true H)."""
    from tinyunfold.golden.nmf import constants, nmf_forward_f32
    from tinyunfold.models.nmf import NMFInference

    c = constants(model)
    H32 = np.stack([nmf_forward_f32(c, x) for x in X])
    H64 = np.stack([NMFInference.from_modelfile(model).transform(x) for x in X])
    rel = float(np.max(np.abs(H32 - H64)) / np.max(np.abs(H64)))
    corr = float(np.corrcoef(H32.ravel(), H_true.ravel())[0, 1])
    return rel, corr


@dataclass
class DemoDetector:
    dataset: Path
    model_path: Path
    wav: Path
    config: Any  # golden.stream.StreamConfig
    report: dict[str, Any]  # tools.detector.DetectorRun.report()


def demo_detector(out: Path) -> DemoDetector:
    """Train the tiny synthetic PAD-NMF detector and stream its two-hit WAV to mps2-an386."""
    from tinyunfold.kinds import save_model
    from tinyunfold.pipelines import detector_demo
    from tinyunfold.pipelines.detect import read_pcm, stream_config
    from tinyunfold.tools.detector import run_detector

    ds = detector_demo.make_dataset(out / "dataset")
    model = detector_demo.train(ds, "padnmf")
    path = save_model(out / "padnmf.tum", model)
    wavs = detector_demo.make_wavs(out / "wav")
    cfg = stream_config(model)
    r = run_detector(model, "mps2-an386", read_pcm(wavs["two"], cfg))
    return DemoDetector(Path(ds), path, wavs["two"], cfg, r.report())
