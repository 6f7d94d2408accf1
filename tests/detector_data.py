"""The tiny synthetic detector of the streaming-detector tests: the dataset and WAVs of
:mod:`tinyunfold.pipelines.detector_demo`, trained through the CLI (`tinyunfold train`)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tinyunfold.cli import main
from tinyunfold.pipelines.detector_demo import CONFIG, make_dataset, make_wavs

__all__ = [
    "EXCESS_READOUT",
    "detect_report",
    "event_key",
    "make_dataset",
    "make_wavs",
    "run_equals_detect",
    "sim_ended_cleanly",
    "sim_session",
    "start_sim",
    "stream_to_sim",
    "train",
    "wait_listening",
]


def train(dataset: Path, kind: str, out: Path) -> Path:
    cfg = out.with_suffix(".toml")
    cfg.write_text(CONFIG)
    argv = ["train", kind, "--dataset", str(dataset), "--config", str(cfg), "--out", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    return out


# [detection] lines of the spectrum readout with the excess block (readout_excess = 5)
EXCESS_READOUT = 'readout = "sets"\nreadout_input = "spectrum"\nreadout_excess = 5\n'


def readout_detector(
    root: Path, model_keys: str, detection_keys: str, feature_keys: str = ""
) -> tuple[Path, dict]:
    """A tiny PAD-NMF detector trained on the demo set with the demo CONFIG plus ``model_keys``
    (TOML lines of [model]), ``detection_keys`` (lines of [detection]) and ``feature_keys``
    (lines of [features]), its stream decision set to ``readout``; returns (model, the demo
    WAVs)."""
    ds = make_dataset(root / "ds")
    cfg = root / "readout.toml"
    text = CONFIG.replace("[features]\n", "[features]\n" + feature_keys)
    cfg.write_text(text.replace("[detection]", model_keys + "[detection]") + detection_keys)
    out = root / "padnmf-readout.tum"
    argv = ["train", "padnmf", "--dataset", str(ds), "--config", str(cfg), "--out", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    assert main(["model", "stream", str(out), "--decision", "readout"]) == 0
    return out, make_wavs(root / "wav")


def flipped_readout_run_fails(model: Path, wav: Path, monkeypatch: Any, capsys: Any) -> None:
    """`run` of ``wav`` against a golden readout whose every row's first weight has bit 8
    flipped (a wrong constant, either readout mode): the verdict must be MISMATCH."""
    from dataclasses import replace

    import numpy as np

    from tinyunfold.golden import detect as gd

    real = gd.readout_f32

    def mutated(H: Any, rd: Any) -> Any:
        W = rd.W.copy()
        W[:, 0] = (W[:, 0].view(np.uint32) ^ np.uint32(1 << 8)).view(np.float32)
        return real(H, replace(rd, W=W))

    monkeypatch.setattr("tinyunfold.golden.detect.readout_f32", mutated)
    rc = main(["run", "--model", str(model), "--board", "mps2-an386", "--input", str(wav)])
    out = capsys.readouterr().out
    assert rc == 1 and "verdict: MISMATCH" in out


def start_sim(model: Path, board: str, port: int = 0) -> subprocess.Popen[str]:
    """`tinyunfold sim` of ``model`` on ``board`` behind a TCP serial link on ``port`` (0: a free
    port that the sim binds itself and prints)."""
    cmd = [sys.executable, "-m", "tinyunfold", "sim", "--model", str(model), "--board", board,
           "--port", str(port), "--timeout", "120"]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_listening(proc: subprocess.Popen[str], timeout_s: float = 120.0) -> int:
    """Wait for the 'serial link on socket://127.0.0.1:PORT' line of `sim` or `flash` (the build
    may take a while); returns PORT."""
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    for line in proc.stdout:
        m = re.search(r"serial link on socket://127\.0\.0\.1:(\d+)", line)
        if m:
            return int(m.group(1))
        assert time.monotonic() < deadline, "sim did not start"
    raise AssertionError(f"sim ended: {proc.wait()}")


@contextmanager
def sim_session(model: Path, board: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`tinyunfold sim --port 0` of ``model`` on ``board`` (a port bound by the sim itself, never
    one that another test could take first): yields (process, port); a sim still running on
    the way out (a failed test) is killed."""
    proc = start_sim(model, board)
    try:
        port = wait_listening(proc)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def stream_to_sim(
    model: Path, port: int, wav: Path, capsys: Any, bye: bool = False
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """`tinyunfold stream --json` of ``wav`` to the sim on ``port``: (events, summary line)."""
    argv = ["stream", "--port", f"socket://127.0.0.1:{port}", str(wav), "--json",
            "--model", str(model), "--no-progress"] + (["--bye"] if bye else [])  # fmt: skip
    assert main(argv) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    return lines[:-1], lines[-1]


def sim_ended_cleanly(proc: subprocess.Popen[str]) -> None:
    """After BYE: the sim exits 0 and reports the board stopped with status 0."""
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "board stopped (status 0)" in out


def detect_report(model: Path, wav: Path, capsys: Any) -> dict[str, Any]:
    """`tinyunfold detect --json` of one WAV on the float32 (device) pipeline."""
    assert main(["detect", "--model", str(model), str(wav), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)[0]
    assert rep["pipeline"] == "float32"
    return rep


def event_key(e: dict[str, Any]) -> tuple[Any, ...]:
    """Every field of an event that the device decides; score and threshold as their bits."""
    return (e["window"], e["start_sample"], e["class"], e["onset_frame"], e["score_bits"],
            e["threshold_bits"])  # fmt: skip


def run_equals_detect(
    model: Path, board: str, wav: Path, capsys: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """`tinyunfold run` of one WAV on ``board`` against `detect`: BIT-EXACT, the same events.
    Returns (detect report, run report) for the caller's further checks."""
    det = detect_report(model, wav, capsys)
    rc = main(["run", "--model", str(model), "--board", board, "--input", str(wav), "--json"])
    rep = json.loads(capsys.readouterr().out)
    assert rc == 0 and rep["bit_exact"], rep["mismatches"]
    assert [event_key(e) for e in rep["events"]] == [event_key(e) for e in det["events"]]
    return det, rep
