"""The float32 streaming detector pipeline (golden/stream.py) and `detect` on top of it."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from tinyunfold.cli import main
from tinyunfold.datasets import write_wav
from tinyunfold.golden import padnmf as gpadnmf
from tinyunfold.golden import spectrogram as gspec
from tinyunfold.golden import stream as gs
from tinyunfold.kinds import load_model
from tinyunfold.modelfile import ModelFile


def _cfg(path):
    return gs.stream_config(load_model(path))


def test_pcm16_is_exact_for_int16_wavs_and_rounds_float(tmp_path):
    import scipy.io.wavfile

    s = np.array([-32768, -1, 0, 1, 12345, 32767], dtype=np.int16)
    scipy.io.wavfile.write(tmp_path / "a.wav", 8000, s)
    rate, pcm = gs.read_pcm16(tmp_path / "a.wav")
    assert rate == 8000 and np.array_equal(pcm, s)
    assert np.array_equal(
        gs.pcm16(np.array([0.5, -1.5, 1.0, 0.49 / 32768])), [16384, -32768, 32767, 0]
    )
    assert gs.PCM_SCALE == np.float32(1 / 32768)


def test_frames_and_windows_follow_the_definition(detector_set):
    """Frame j = samples [j*hop, j*hop+n_fft) x 2^-15 -> bands x input_scale; window w = frames
    [w*stride, w*stride+n); built here independently from golden/spectrogram + golden/padnmf."""
    models, wavs = detector_set
    cfg = _cfg(models["deepnmf"])
    assert cfg.stride == 4 and cfg.n_frames == 16
    _, pcm = gs.read_pcm16(wavs["two"])
    frames = gs.frames_f32(cfg, pcm)
    j = 7
    x = pcm[j * cfg.hop : j * cfg.hop + cfg.n_fft].astype(np.float32) / np.float32(32768)
    ref = gspec.frame_power_f32(cfg.front, x[None])[0] * cfg.input_scale
    assert np.array_equal(frames[j].view(np.uint32), ref.view(np.uint32))
    assert len(frames) == 1 + (len(pcm) - cfg.n_fft) // cfg.hop
    res = gs.run_stream(cfg, pcm)
    assert res.n_windows == 1 + (len(frames) - 16) // 4
    w = 2
    H = gpadnmf.padnmf_forward_f32(cfg.forward, frames[w * 4 : w * 4 + 16].T)
    from tinyunfold.golden.detect import indices_f32

    li, _ = indices_f32(H, cfg.detect)
    assert np.array_equal(res.log_index[w].view(np.uint32), li[0].view(np.uint32))


def test_dedupe_rule():
    E = gs.Event
    f = np.float32
    ev = [
        E(0, 0, 1, 5, f(1), f(0)),  # abs onset 5
        E(1, 4, 1, 1, f(2), f(0)),  # abs 4*1+1 = 5, same class: dropped
        E(1, 4, 0, 1, f(2), f(0)),  # other class: kept
        E(2, 8, 1, 0, f(3), f(0)),  # abs 8: kept
        E(3, 12, 1, 0, f(3), f(0)),  # abs 12: kept
    ]
    out = gs.dedupe(ev, stride=4, n_classes=2)
    assert [(e.window, e.class_index) for e in out] == [(0, 1), (1, 0), (2, 1), (3, 1)]
    # non-overlapping windows (stride >= n) never drop: absolute onsets of windows are disjoint
    assert gs.dedupe(ev, stride=16, n_classes=2) == ev


def test_detect_runs_the_float32_pipeline(detector_set, capsys):
    models, wavs = detector_set
    for kind, path in models.items():
        cfg = _cfg(path)
        for name, wav in wavs.items():
            assert main(["detect", "--model", str(path), str(wav), "--json"]) == 0
            rep = json.loads(capsys.readouterr().out)[0]
            assert rep["pipeline"] == "float32" and rep["stride"] == cfg.stride
            _, pcm = gs.read_pcm16(wav)
            ref = [e.to_dict(cfg) for e in gs.run_stream(cfg, pcm).events]
            assert rep["events"] == ref
            classes = {e["class"] for e in ref}
            assert classes == {"nohit": set(), "hit": {"high"}, "two": {"high", "low"}}[name], kind
    # the research path stays, labelled
    assert main(["detect", "--model", str(models["padnmf"]), str(wavs["two"]), "--float64"]) == 0
    assert "float64 research path" in capsys.readouterr().out


def test_what_the_device_does_not_run_is_refused_with_the_reason(detector_set, tmp_path, capsys):
    models, _ = detector_set
    m = load_model(models["padnmf"])

    def with_params(**kw):
        return ModelFile(kind=m.kind, params={**m.params, **kw}, arrays=m.arrays)

    bad = {
        "log-compressed": with_params(features={**m.params["features"], "log": True}),
        "no audio front-end": with_params(features=None),
        "stride": with_params(stream={"stride": 0}),
        "activation-sum": with_params(detection={**m.params["detection"], "activation": True}),
    }
    for reason, model in bad.items():
        with pytest.raises(gs.DetectorDeployError, match=reason):
            gs.stream_config(model)
    # UR with a beta the device does not run
    det = m.params["detection"]
    ur = dict(det["ur"], beta=0.5)
    with pytest.raises(gs.DetectorDeployError, match="beta"):
        gs.stream_config(with_params(detection={**det, "ur": ur}))
    # the readout decision on a model trained without one
    with pytest.raises(gs.DetectorDeployError, match="readout = true"):
        gs.stream_config(with_params(stream={"decision": "readout"}))
    assert main(["model", "stream", str(models["padnmf"]), "--stride", "0"]) != 0
    assert "stride" in capsys.readouterr().err


def test_float_wav_is_quantised_once(detector_set, tmp_path):
    models, wavs = detector_set
    cfg = _cfg(models["padnmf"])
    _, pcm = gs.read_pcm16(wavs["hit"])
    write_wav(tmp_path / "x.wav", cfg.sample_rate, pcm.astype(np.float64) / 32768)
    _, pcm2 = gs.read_pcm16(tmp_path / "x.wav")
    assert np.array_equal(pcm, pcm2)
    assert dataclasses.asdict(gs.run_stream(cfg, pcm).events[0]) == dataclasses.asdict(
        gs.run_stream(cfg, pcm2).events[0]
    )


def test_generated_detector_constants_and_refusal(detector_set):
    """The generator bakes framing, class names and hash into the config of a detector; a model
    that cannot stream gets the forward pass only, and the detector program names the reason."""
    from tinyunfold.codegen import generate
    from tinyunfold.codegen.generator import model_hash
    from tinyunfold.tools.build import build_model

    models, _ = detector_set
    m = load_model(models["deepnmf"])
    cfg = gs.stream_config(m)
    h = generate(m).files["tu_model_config.h"]
    assert "#define TU_MODEL_DETECTOR 1" in h and "#define TU_MODEL_STRIDE 4U" in h
    assert f"#define TU_MODEL_HOP {cfg.hop}U" in h and '"\\x6c\\x6f\\x77"' in h  # "low"
    assert f"0x{model_hash(m)[:2]}, 0x{model_hash(m)[2:4]}" in h
    c = generate(m).files["tu_model.c"]
    assert "tu_detector_decide" in c and "tu_ur_infer_f32" not in c
    ur = load_model(models["padnmf-ur"])
    assert "tu_ur_infer_f32(&tu_ur" in generate(ur).files["tu_model.c"]
    nofe = ModelFile(kind=m.kind, params={**m.params, "features": None}, arrays=m.arrays)
    assert "TU_MODEL_DETECTOR" not in generate(nofe).files["tu_model_config.h"]
    with pytest.raises(gs.DetectorDeployError, match="no audio front-end"):
        build_model(nofe, "host", program="detector")
