"""Deep-NMFD as a streaming detector on the host side: the kind's stream config (golden/stream.py
with the Deep-NMFD golden forward pass), what it refuses, and `detect`'s float32 pipeline on a
trained tiny detector (the boards' events are compared in
tests/firmware/test_dnmfd_detector_device.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tinyunfold import kinds
from tinyunfold.golden import detect as gdetect
from tinyunfold.golden import dnmfd as gdnmfd
from tinyunfold.golden import stream as gs
from tinyunfold.kinds import load_model
from tinyunfold.modelfile import ModelFile
from tinyunfold.pipelines import detector_demo


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("dnmfd_stream")
    ds = detector_demo.make_dataset(root / "ds")
    model = detector_demo.train(ds, "dnmfd")  # the kind's Training.demo_config
    return model, detector_demo.make_wavs(root / "wav")


def test_stream_config_runs_the_dnmfd_forward(trained):
    model, wavs = trained
    cfg = kinds.get("dnmfd").require("stream")(model)
    assert cfg.forward_f32 is gdnmfd.dnmfd_forward_f32
    assert cfg.detect.rank == cfg.forward.n_dicts and cfg.n_bins == cfg.forward.n_bins == 16
    pcm = gs.read_pcm16(wavs["two"])[1]
    res = gs.run_stream(cfg, pcm)
    frames = gs.frames_f32(cfg, pcm)
    H = np.stack(
        [
            gdnmfd.dnmfd_forward_f32(cfg.forward, frames[w * cfg.stride : w * cfg.stride + 16].T)
            for w in range(res.n_windows)
        ]
    )
    want = gdetect.detect_f32(H, cfg.detect, cfg.decision).log_index
    assert res.n_windows == 2 and len(res.events) >= 2
    assert np.array_equal(res.log_index.view(np.uint32), want.view(np.uint32))


def test_codegen_gives_the_detector_only_for_streaming_models(trained, dnmfd_model):
    model, _ = trained
    kind = kinds.get("dnmfd")
    assert kind.codegen is not None
    assert kind.codegen(model)["detector"]["rank"] == len(model.array("ranks"))
    forward_only, _ = dnmfd_model(1)
    assert kind.codegen(forward_only)["detector"] is None


def test_models_that_cannot_stream_are_refused_with_the_reason(trained, dnmfd_model):
    stream = kinds.get("dnmfd").require("stream")
    forward_only, _ = dnmfd_model(1)
    with pytest.raises(gs.DetectorDeployError, match="no detector layout"):
        stream(forward_only)
    model, _ = trained
    p = dict(model.params)
    p["features"] = None
    with pytest.raises(gs.DetectorDeployError, match="no audio front-end"):
        stream(ModelFile(model.kind, p, model.arrays))
    lay = dict(model.params["layout"])
    lay["ranks"] = [*lay["ranks"], 1]  # one row more than the network has dictionaries
    p = {**model.params, "layout": lay}
    with pytest.raises(gs.DetectorDeployError, match="layout has"):
        stream(ModelFile(model.kind, p, model.arrays))


def test_a_saved_model_streams_after_loading(trained, tmp_path):
    model, _ = trained
    path = kinds.save_model(tmp_path / "d.tum", model)
    assert kinds.get("dnmfd").require("stream")(load_model(path)).n_frames == 16
