"""Warm starts on the boards (issue 10): the detector firmware of a model whose warm_stride equals
the stream stride runs tu_model_forward_warm from the previous window's H⁽ᴷ⁾, and its events equal
`tinyunfold detect`'s bit for bit, through `run` and through `sim` + `stream` (several recordings
in one session: each new stream starts cold again). The check bites: a golden that runs cold
while the board runs warm reports MISMATCH, and the warm board's events differ from the cold
golden's. The tiny Deep-NMF detector (no H mask: every column with a predecessor starts warm)."""

from __future__ import annotations

import dataclasses

import detector_data as dd
import numpy as np
import pytest

from tinyunfold.cli import main
from tinyunfold.datasets import write_wav
from tinyunfold.golden import stream as gs
from tinyunfold.kinds import load_model
from tinyunfold.tools.detector import compare_events, run_detector

BOARDS = ["mps2-an386", "mps2-an500"]


@pytest.fixture(scope="module")
def warm_set(detector_set, tmp_path_factory):
    """(warm model path, {name: wav}): the Deep-NMF detector (stride 4 of 16) with --warm, and
    besides the three test WAVs one recording of all three in a row ("long", 13 windows), where
    the warm start changes the deduplicated events (a hit seen first on warm columns)."""
    models, wavs = detector_set
    root = tmp_path_factory.mktemp("warm")
    out = root / "deepnmf-warm.tum"
    assert main(["model", "stream", str(models["deepnmf"]), "--warm", "--out", str(out)]) == 0
    pcm = np.concatenate([gs.read_pcm16(wavs[k])[1] for k in ("hit", "nohit", "two")])
    long = root / "long.wav"
    write_wav(long, gs.stream_config(load_model(out)).sample_rate, pcm.astype(np.float64) / 32768)
    return out, {**wavs, "long": long}


def _cold(cfg: gs.StreamConfig) -> gs.StreamConfig:
    return dataclasses.replace(cfg, forward=dataclasses.replace(cfg.forward, warm_stride=0))


def _detect(model, wav, capsys):
    rep = dd.detect_report(model, wav, capsys)
    assert rep["warm_start"] is True
    return rep["events"]


@pytest.mark.parametrize("board", BOARDS)
def test_warm_run_events_equal_detect(warm_set, board, capsys):
    model, wavs = warm_set
    for w in ("two", "long"):
        det, _ = dd.run_equals_detect(model, board, wavs[w], capsys)
        assert det["warm_start"] is True and det["events"]


def test_warm_board_differs_from_a_cold_golden(warm_set):
    """The same firmware run compared with the cold golden: the scores of the hits first seen on
    warm columns differ, so a board that ignored the warm start would fail the check above."""
    model, wavs = warm_set
    m = load_model(model)
    _, pcm = gs.read_pcm16(wavs["long"])
    r = run_detector(m, "mps2-an386", pcm)
    assert r.bit_exact, r.mismatches
    cold = gs.run_stream(_cold(gs.stream_config(m)), pcm).events
    assert compare_events(r.device.events, cold)


def test_cold_golden_fails_the_run_verdict(warm_set, monkeypatch, capsys):
    """`run` with the golden forced cold (StreamConfig.warm False) while the board runs warm:
    MISMATCH, exit 1."""
    model, wavs = warm_set
    monkeypatch.setattr(gs.StreamConfig, "warm", property(lambda self: False))
    argv = ["run", "--model", str(model), "--board", "mps2-an386", "--input", str(wavs["long"])]
    assert main(argv) == 1
    assert "verdict: MISMATCH" in capsys.readouterr().out


def test_sim_and_stream_warm_restarts_cold_per_stream(warm_set, capsys):
    """One `sim` session, four recordings streamed one after the other by `stream`: each starts
    at sample 0 (a new stream), so its first window must start cold again to stay bit-exact."""
    model, wavs = warm_set
    with dd.sim_session(model, "mps2-an386") as (proc, port):
        names = ["long", "two", "hit", "long"]
        for i, w in enumerate(names):
            want = _detect(model, wavs[w], capsys)
            events, summary = dd.stream_to_sim(
                model, port, wavs[w], capsys, bye=i == len(names) - 1
            )
            assert summary["summary"]["verdict"] == "BIT-EXACT", summary
            assert [dd.event_key(e) for e in events] == [dd.event_key(e) for e in want]
        dd.sim_ended_cleanly(proc)
