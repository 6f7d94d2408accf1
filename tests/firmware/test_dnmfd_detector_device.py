"""Deep-NMFD as a streaming detector (audio in, hits out) on the simulated boards: the detector
firmware (firmware/app/detector_main.c with the generated dnmfd forward pass and the shared
``tu_detector_*`` of codegen/templates/detector/) sends the events of `tinyunfold detect` bit for
bit, through `run` and through `sim` + `stream`; a golden running one layer fewer makes the
verdict fail (the start-up denominators' order is checked on the forward pass's bits,
test_dnmfd_device.py: on these models an ulp in D rarely reaches an event's score)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import detector_data as dd
import pytest
from test_detector_device import WAVS

from tinyunfold import kinds
from tinyunfold.cli import main
from tinyunfold.golden import dnmfd as gdnmfd
from tinyunfold.golden import stream as gs
from tinyunfold.kinds import load_model
from tinyunfold.pipelines.detect import stream_config

# The tiny synthetic detector of tests/detector_data.py as a Deep-NMFD (16 bands, K = 12, C = 2)
DNMFD_CONFIG = kinds.get("dnmfd").require("training").demo_config


@pytest.fixture(scope="module")
def dnmfd_set(tmp_path_factory):
    """({"dnmfd": non-overlapping windows, diagonal indices; "dnmfd-s4": time-shifted indices,
    stride 4 of 16 frames}, {name: wav})."""
    import detector_data as dd

    root = tmp_path_factory.mktemp("dnmfd_detector")
    ds = dd.make_dataset(root / "ds")
    models = {}
    for name, extra in (("dnmfd", ""), ("dnmfd-s4", "shifted = true\n")):
        cfg = root / f"{name}.toml"
        cfg.write_text(str(DNMFD_CONFIG) + extra)
        out = models[name] = root / f"{name}.tum"
        argv = ["train", "dnmfd", "--dataset", str(ds), "--config", str(cfg), "--out", str(out)]
        assert main([*argv, "--no-progress"]) == 0
    assert main(["model", "stream", str(models["dnmfd-s4"]), "--stride", "4"]) == 0
    return models, dd.make_wavs(root / "wav")


RUNS = [("mps2-an386", "dnmfd"), ("mps2-an386", "dnmfd-s4"), ("mps2-an500", "dnmfd")]


@pytest.mark.parametrize(("board", "name"), RUNS)
def test_run_events_equal_detect(dnmfd_set, board, name, capsys):
    models, wavs = dnmfd_set
    n_events = 0
    for w in WAVS:
        det, rep = dd.run_equals_detect(models[name], board, wavs[w], capsys)
        want = det["events"]
        assert rep["instructions_per_window"] > 0 and rep["stats"]["overruns"] == 0
        n_events += len(want)
        if w == "nohit" and name == "dnmfd":  # (the shifted one's max over 16 onsets has an FP)
            assert want == []
        if name == "dnmfd-s4" and w == "two":  # overlapping windows: the dedupe rule runs
            cfg = stream_config(load_model(models[name]))  # the kind's (registry)
            assert cfg.stride == 4
            res = gs.run_stream(cfg, gs.read_pcm16(wavs[w])[1])
            assert len(res.raw_events) > len(res.events) == len(want)
    assert n_events >= 3  # the comparison is not vacuous


def test_sim_and_stream_client(dnmfd_set, capsys):
    models, wavs = dnmfd_set
    model = models["dnmfd-s4"]
    with dd.sim_session(model, "mps2-an386") as (proc, port):
        n_events = 0
        for i, w in enumerate(WAVS):
            want = dd.detect_report(model, wavs[w], capsys)["events"]
            events, summary = dd.stream_to_sim(model, port, wavs[w], capsys, bye=i == len(WAVS) - 1)
            assert summary["summary"]["verdict"] == "BIT-EXACT"
            assert [dd.event_key(e) for e in events] == [dd.event_key(e) for e in want]
            n_events += len(want)
        assert n_events >= 3
        dd.sim_ended_cleanly(proc)


def test_mutated_golden_fails_the_verdict(dnmfd_set, monkeypatch, capsys):
    """The golden's Deep-NMFD runs one layer fewer than the board (the last trained dictionary's
    count minus one): the events' score bits differ, `run` says MISMATCH and exits 1."""
    models, wavs = dnmfd_set
    argv = ["run", "--model", str(models["dnmfd"]), "--board", "mps2-an386", "--input",
            str(wavs["two"])]  # fmt: skip
    assert main(argv) == 0
    assert "verdict: BIT-EXACT" in capsys.readouterr().out
    forward = gdnmfd.dnmfd_forward_f32  # the golden side only (the generator never calls it)

    def one_layer_fewer(c, X):
        return forward(dataclasses.replace(c, counts=(*c.counts[:-1], c.counts[-1] - 1)), X)

    monkeypatch.setattr(gdnmfd, "dnmfd_forward_f32", one_layer_fewer)
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "verdict: MISMATCH" in out and "event 0" in out


def test_detector_program_has_the_dnmfd_forward(dnmfd_set):
    """The detector firmware's model source: the dnmfd forward pass, denominators at start-up,
    the shared detection constants."""
    from tinyunfold.codegen import generate

    models, _ = dnmfd_set
    src = generate(load_model(Path(models["dnmfd"]))).files
    assert "tu_nmfd_layers_f32" in src["tu_model.c"]
    assert "tu_nmfd_denominator_f32" in src["tu_model.c"]
    assert "tu_detect_indices_f32" in src["tu_model.c"]
    assert "#define TU_MODEL_DETECTOR 1" in src["tu_model_config.h"]
