"""The tiny synthetic detector of the streaming-detector tests: the dataset and WAVs of
:mod:`tinyunfold.pipelines.detector_demo`, trained through the CLI (`tinyunfold train`)."""

from __future__ import annotations

from pathlib import Path

from tinyunfold.cli import main
from tinyunfold.pipelines.detector_demo import CONFIG, make_dataset, make_wavs

__all__ = ["make_dataset", "make_wavs", "train"]


def train(dataset: Path, kind: str, out: Path) -> Path:
    cfg = out.with_suffix(".toml")
    cfg.write_text(CONFIG)
    argv = ["train", kind, "--dataset", str(dataset), "--config", str(cfg), "--out", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    return out
