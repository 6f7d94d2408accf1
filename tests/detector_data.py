"""The tiny synthetic detector of the streaming-detector tests: the dataset and WAVs of
:mod:`tinyunfold.pipelines.detector_demo`, trained through the CLI (`tinyunfold train`)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tinyunfold.cli import main
from tinyunfold.pipelines.detector_demo import CONFIG, make_dataset, make_wavs

__all__ = ["make_dataset", "make_wavs", "start_sim", "train", "wait_listening"]


def train(dataset: Path, kind: str, out: Path) -> Path:
    cfg = out.with_suffix(".toml")
    cfg.write_text(CONFIG)
    argv = ["train", kind, "--dataset", str(dataset), "--config", str(cfg), "--out", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    return out


def start_sim(model: Path, board: str, port: int) -> subprocess.Popen[str]:
    """`tinyunfold sim` of ``model`` on ``board`` behind a TCP serial link on ``port``."""
    cmd = [sys.executable, "-m", "tinyunfold", "sim", "--model", str(model), "--board", board,
           "--port", str(port), "--timeout", "120"]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_listening(proc: subprocess.Popen[str], port: int, timeout_s: float = 120.0) -> None:
    """Wait for the sim's 'serial link on' line (the build may take a while)."""
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    for line in proc.stdout:
        if f"127.0.0.1:{port}" in line:
            return
        assert time.monotonic() < deadline, "sim did not start"
    raise AssertionError(f"sim ended: {proc.wait()}")
