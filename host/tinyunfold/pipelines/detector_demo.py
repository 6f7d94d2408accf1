"""A tiny synthetic hit detector for ``tinyunfold demo`` / ``bench`` and the tests.

Two classes of decaying tones ("low" 800/900 Hz, "high" 2600/2800 Hz) in two-tone background noise,
8 kHz, 0.256 s mixtures at 0 dB; 128-point frames every 128 samples (they tile the audio:
``features.SpectrogramParams.gap_warning`` stays silent), so a mixture is one window of 16 frames;
16 bands, T = 3, K = 20. Trains in seconds; each WAV streams in about a second over QEMU's UART.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinyunfold import kinds
from tinyunfold.datasets import Dataset, Mixture, load_dataset, write_dataset, write_wav
from tinyunfold.modelfile import ModelFile

FS = 8000
N = 2048  # 0.256 s mixtures: 16 frames of 128 samples, one window
FREQS = {"low": (800.0, 900.0), "high": (2600.0, 2800.0)}

CONFIG = """
[features]
n_fft = 128
hop = 128
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


def make_dataset(root: Path, snrs: tuple[float, ...] | None = None, n_nohit: int = 2) -> Path:
    """Write the dataset folder: per split, one hit of each tone of each class at each SNR in
    ``snrs`` (default 0 dB; file names then carry no SNR, else ``_<-snr>``) and ``n_nohit``
    no-hit mixtures. The tests' tiny datasets are this one with ``snrs=(0.0, -10.0)``."""
    rng = np.random.default_rng(0)
    targets = {c: [_hit(f, rng) for f in fs] for c, fs in FREQS.items()}
    mixtures = []
    for split in ("train", "test"):
        for c, fs in FREQS.items():
            for f in fs:
                for snr in (0.0,) if snrs is None else snrs:
                    s = _hit(f, rng)
                    nz = _noise(rng)
                    s *= np.sqrt(10 ** (snr / 10) * np.sum(nz**2) / np.sum(s**2))
                    suffix = "" if snrs is None else f"_{int(-snr)}"
                    mixtures.append(
                        Mixture(
                            name=f"{split}_{c}_{int(f)}{suffix}.wav",
                            audio=nz + s,
                            classes=(c,),
                            snr_db=snr,
                            target_stem=s,
                            split=split,
                        )
                    )
        for i in range(n_nohit):
            mixtures.append(Mixture(name=f"{split}_none_{i}.wav", audio=_noise(rng), split=split))
    ds = Dataset(
        sample_rate=FS, classes=list(FREQS), targets=targets, noise=[_noise(rng)], mixtures=mixtures
    )
    return write_dataset(root, ds)


def train(dataset: Path, kind: str, config: Path | None = None) -> ModelFile:
    """Train ``kind`` on ``dataset`` with :data:`CONFIG` (or the kind's
    ``Training.demo_config``, or ``config``)."""
    training = kinds.get(kind).require("training")
    if config is None:
        config = dataset / f"detector_demo_{kind}.toml"
        config.write_text(training.demo_config or CONFIG)
    cfg = training.load_config(str(config), [])
    trained = training.fit(load_dataset(dataset), cfg, False)
    model: ModelFile = trained.modelfile()
    return model


def make_wavs(folder: Path) -> dict[str, Path]:
    """Three recordings: one hit, no hit, two hits (in two windows of N = 2048 samples)."""
    rng = np.random.default_rng(7)
    folder.mkdir(parents=True, exist_ok=True)

    def tone(c: int, n: int) -> np.ndarray:
        nz = _noise(rng, n)
        s = _hit(FREQS[list(FREQS)[c]][0], rng, n)
        return nz + s * np.sqrt(np.sum(nz**2) / np.sum(s**2))

    wavs = {
        "hit": tone(1, N),
        "nohit": _noise(rng, N),
        "two": np.concatenate([tone(1, N), tone(0, N)]),
    }
    # one gain for the three (one microphone): the loudest peaks at 0.5, and the no-hit
    # recording's background is as loud as the hit recordings' (a gain of its own made it
    # 4x louder than theirs, 1.5x the training no-hits: the indices grow with that level)
    gain = 0.5 / max(float(np.max(np.abs(x))) for x in wavs.values())
    out = {}
    for name, x in wavs.items():
        out[name] = folder / f"{name}.wav"
        write_wav(out[name], FS, gain * x)
    return out
