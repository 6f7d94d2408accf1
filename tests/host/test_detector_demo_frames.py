"""The tiny synthetic detector of `make demo` (pipelines/detector_demo.py) and of the streaming
tests must not trip the front-end warning it would teach users to ignore: its frames tile the
audio (n_fft >= hop), for the PAD-NMF/Deep-NMF config and for every kind's ``demo_config``."""

from __future__ import annotations

import tomllib

import pytest

from tinyunfold import kinds
from tinyunfold.features import SpectrogramParams
from tinyunfold.pipelines import detector_demo

DEMO_CONFIGS = {"detector_demo.CONFIG": detector_demo.CONFIG} | {
    f"{k.name} demo_config": str(k.training.demo_config)
    for k in kinds.REGISTRY.values()
    if k.training is not None and k.training.demo_config
}


def _params(config: str) -> SpectrogramParams:
    return SpectrogramParams(sample_rate=detector_demo.FS, **tomllib.loads(config)["features"])


@pytest.mark.parametrize("name", sorted(DEMO_CONFIGS))
def test_demo_frames_tile_the_audio(name: str) -> None:
    p = _params(DEMO_CONFIGS[name])
    assert p.gap_warning() is None and p.coverage == 1.0, p.gap_warning()
    # one mixture of the tiny dataset is one window of 16 frames (the tests' n = 16)
    assert 1 + (detector_demo.N - p.n_fft) // p.hop == 16


def test_the_check_sees_frames_that_skip_audio() -> None:
    """The same check on the demo config with the hop doubled (the old 128/256 preset) fails."""
    p = _params(detector_demo.CONFIG)
    skipping = SpectrogramParams(**{**p.to_dict(), "hop": 2 * p.hop})
    assert skipping.gap_warning() is not None and skipping.coverage < 1.0
