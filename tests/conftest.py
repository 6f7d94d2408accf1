"""Shared fixtures. Firmware tests never skip when the toolchain is missing: they fail with the
ToolchainError that names the missing package (CI must install it through `make test`)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# `make test` runs the suite on every core (pytest-xdist, `-n auto`): each worker builds the
# firmware in its own CMake trees, <build root>/pytest-gw<N> (two ninja runs in one tree, or a
# model generated into it while another worker links, would race).
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER:
    _base = os.environ.get("TINYUNFOLD_BUILD") or str(Path.cwd() / "build")
    os.environ["TINYUNFOLD_BUILD"] = str(Path(_base).expanduser().absolute() / f"pytest-{_WORKER}")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def _padnmf_model(kind, h_mask, seed, n_bins=5, T=3, ranks=(3, 2, 3), K=9, C=3, n=4):
    """A small random ``padnmf``/``deepnmf`` model file (masks as the kind requires) and its rng."""
    from tinyunfold.modelfile import ModelFile
    from tinyunfold.models.padnmf import BlockLayout, w_mask

    rng = np.random.default_rng(seed)
    lay = BlockLayout(
        n_bins=n_bins, context=T, ranks=ranks, block_class=(0, 1), class_names=("a", "b")
    )
    m, r = lay.n_features, lay.rank
    MW = w_mask(lay) if kind == "padnmf" else np.ones((m, r))
    Ws = [rng.random((m, r)) * MW + 1e-3 * MW for _ in range(C)]
    params = {
        "n_layers": K, "n_discriminative": C, "alpha_h": 0.05, "alpha_s": 0.0, "eps": 1e-9,
        "h_mask": h_mask, "w_mask": kind == "padnmf", "h0": "ones", "layout": lay.to_params(),
        "features": None, "n_frames": n,
    }  # fmt: skip
    arrays = {"W_fixed": Ws[0], "W_disc": np.stack(Ws[1:])}
    return ModelFile(kind=kind, params=params, arrays=arrays), rng


@pytest.fixture
def padnmf_model():
    """Factory fixture: ``padnmf_model(kind, h_mask, seed, ...) -> (ModelFile, rng)``."""
    return _padnmf_model


def _front_end_params():
    from tinyunfold.features import SpectrogramParams

    return [
        SpectrogramParams(sample_rate=8000, n_fft=256, hop=128),
        SpectrogramParams(sample_rate=16000, n_fft=512, hop=256, n_bands=24, band_scale="log"),
        SpectrogramParams(sample_rate=48000, n_fft=64, hop=32, window="hamming", n_bands=5,
                          f_min=1000.0, f_max=20000.0),
    ]  # fmt: skip


@pytest.fixture(params=_front_end_params(), ids=lambda p: f"n{p.n_fft}-b{p.n_bands}")
def front_end(request):
    """Front-end configurations (all bins / 24 log bands / 5 bands in a range; Hann, Hamming)."""
    return request.param


def front_end_frames(p, seed: int) -> np.ndarray:
    """Three test frames: noise, a 1234.5 Hz tone, silence — (3, n_fft) float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(p.n_fft) / p.sample_rate
    tone = np.sin(2 * np.pi * 1234.5 * t)
    return np.stack([rng.standard_normal(p.n_fft), tone, np.zeros(p.n_fft)]).astype(np.float32)


@pytest.fixture
def frames_of():
    """``frames_of(params, seed)`` -> the three test frames of a front-end configuration."""
    return front_end_frames


@pytest.fixture(scope="session")
def detector_set(tmp_path_factory):
    """Trained tiny PAD-NMF and Deep-NMF detectors and three WAVs (tests/detector_data.py).

    The Deep-NMF detector streams overlapping windows (stride 4 of 16 frames), the PAD-NMF one
    non-overlapping windows (the default stride n); ``padnmf-ur`` is the PAD-NMF detector with
    the uncertainty-reduction decision on the device (its threshold on the latent lowered to 1e-4
    so that the test recordings give hits). Returns ({name: path}, {name: wav path}).
    """
    import detector_data as dd

    from tinyunfold.cli import main

    root = tmp_path_factory.mktemp("detector")
    ds = dd.make_dataset(root / "ds")
    models = {k: dd.train(ds, k, root / f"{k}.tum") for k in ("padnmf", "deepnmf")}
    assert main(["model", "stream", str(models["deepnmf"]), "--stride", "4"]) == 0
    from tinyunfold.kinds import load_model, save_model
    from tinyunfold.modelfile import ModelFile

    m = load_model(models["padnmf"])
    det = dict(m.params["detection"])
    det["ur"] = {**det["ur"], "threshold": 1e-4}
    params = {**m.params, "detection": det, "stream": {"decision": "ur"}}
    models["padnmf-ur"] = save_model(
        root / "padnmf-ur.tum", ModelFile(kind=m.kind, params=params, arrays=m.arrays)
    )
    return models, dd.make_wavs(root / "wav")


def _dnmfd_model(seed, ranks=(2, 3, 1), m=6, n=5, K=6, C=2):
    """A small random ``dnmfd`` model file (dictionaries zero beyond each rank) and its rng."""
    from tinyunfold.models.dnmfd import DeepNMFD
    from tinyunfold.models.nmfd import rank_mask

    rng = np.random.default_rng(seed)
    R = max(ranks)
    mask = rank_mask(ranks, R)
    est = DeepNMFD(ranks=ranks, n_targets=1, n_layers=K, n_discriminative=C, eps=1e-9)
    est.set_dictionary((rng.random((len(ranks), m, R)) + 1e-3) * mask)
    est.W_layers_ = est.W_layers_ * rng.uniform(0.5, 1.5, est.W_layers_.shape) * mask
    return est.to_modelfile({"n_frames": n}), rng


@pytest.fixture
def dnmfd_model():
    """Factory fixture: ``dnmfd_model(seed, ...) -> (ModelFile, rng)``."""
    return _dnmfd_model
