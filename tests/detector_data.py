"""A tiny synthetic hit-detection dataset and trained PAD-NMF / Deep-NMF detectors for the
streaming-detector tests (tests/firmware/test_detector_*.py, tests/host/test_stream_golden.py).

Two classes of decaying tones in two-tone background noise, 8 kHz, 0.5 s mixtures; 16 bands,
T = 3, K = 20: trains in seconds and streams in about a second per WAV over QEMU's UART.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinyunfold.cli import main
from tinyunfold.datasets import Dataset, Mixture, write_dataset, write_wav

FS = 8000
N = 4000  # 0.5 s mixtures
FREQS = {"low": (800.0, 900.0), "high": (2600.0, 2800.0)}

CFG = """
[features]
n_fft = 128
hop = 256
window = "hann"
n_bands = 16
[model]
n_layers = 20
n_discriminative = 2
context = 3
target_rank = 3
noise_rank = 2
alpha_s = 100.0
eps = 1e-12
n_epochs = 2
batch_size = 4
init_iter = 30
[detection]
threshold_rule = "max"
margin = 1.5
"""


def _hit(f0: float, rng: np.random.Generator, n: int = N) -> np.ndarray:
    t = np.arange(n) / FS
    return np.exp(-t / 0.05) * np.sin(2 * np.pi * f0 * t + rng.uniform(0, 6))


def _noise(rng: np.random.Generator, n: int = N) -> np.ndarray:
    t = np.arange(n) / FS + rng.uniform(0, 1)
    return 0.3 * (
        np.sin(2 * np.pi * 500 * t) + 0.5 * np.sin(2 * np.pi * 1500 * t)
    ) + 0.01 * rng.normal(size=n)


def make_dataset(root: Path) -> Path:
    rng = np.random.default_rng(0)
    targets = {c: [_hit(f, rng) for f in fs] for c, fs in FREQS.items()}
    mixtures = []
    for split in ("train", "test"):
        for c, fs in FREQS.items():
            for f in fs:
                s = _hit(f, rng)
                nz = _noise(rng)
                s *= np.sqrt(np.sum(nz**2) / np.sum(s**2))  # 0 dB
                mixtures.append(
                    Mixture(
                        name=f"{split}_{c}_{int(f)}.wav",
                        audio=nz + s,
                        classes=(c,),
                        snr_db=0.0,
                        target_stem=s,
                        split=split,
                    )
                )
        for i in range(2):
            mixtures.append(Mixture(name=f"{split}_none_{i}.wav", audio=_noise(rng), split=split))
    ds = Dataset(
        sample_rate=FS, classes=list(FREQS), targets=targets, noise=[_noise(rng)], mixtures=mixtures
    )
    return write_dataset(root, ds)


def train(dataset: Path, kind: str, out: Path) -> Path:
    cfg = out.with_suffix(".toml")
    cfg.write_text(CFG)
    argv = ["train", kind, "--dataset", str(dataset), "--config", str(cfg), "--out", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    return out


def make_wavs(folder: Path) -> dict[str, Path]:
    """Three recordings: one hit, no hit, two hits (in two windows of 4096 samples)."""
    rng = np.random.default_rng(7)
    folder.mkdir(parents=True, exist_ok=True)

    def tone(c: int, n: int) -> np.ndarray:
        nz = _noise(rng, n)
        s = _hit(FREQS[list(FREQS)[c]][0], rng, n)
        return nz + s * np.sqrt(np.sum(nz**2) / np.sum(s**2))

    wavs = {
        "hit": tone(1, 4096),
        "nohit": _noise(rng, 4096),
        "two": np.concatenate([tone(1, 4096), tone(0, 4096)]),
    }
    out = {}
    for name, x in wavs.items():
        out[name] = folder / f"{name}.wav"
        write_wav(out[name], FS, 0.5 * x / np.max(np.abs(x)))
    return out
