"""A trained detector as it streams (pipelines/stream_eval.py, the bench's trained-detector
streaming row): the headroom gain is compensated exactly, the accuracy is that of `detect`'s
events, and the board row is bit-exact with consistent real-time factors."""

from __future__ import annotations

import numpy as np

from tinyunfold.golden import stream as gs
from tinyunfold.kinds import load_model
from tinyunfold.pipelines import bench
from tinyunfold.pipelines import stream_eval as se


def _bits(a):
    return np.asarray(a, dtype=np.float32).view(np.uint32)


def test_headroom_shift():
    assert se.headroom_shift(0.5) == 0
    assert se.headroom_shift(1.0) == 1
    assert se.headroom_shift(5.19) == 3


def test_headroom_gain_is_compensated_exactly(detector_set):
    """PCM that is a multiple of 2^k, scaled by 2^-k into the model with input_scale x 4^k: the
    same indices bit for bit as the unscaled PCM into the model. A compensation off by one ulp
    of the scale does not give them."""
    models, wavs = detector_set
    m = load_model(models["padnmf-ur"])
    _, pcm = gs.read_pcm16(wavs["two"])
    k = 3
    big = (pcm.astype(np.int32) // 2**k * 2**k).astype(np.int16)
    small = (big.astype(np.int32) >> k).astype(np.int16)
    cfg, cfg_k = gs.stream_config(m), gs.stream_config(se.with_headroom(m, k))
    assert np.array_equal(_bits(gs.frames_f32(cfg_k, small)), _bits(gs.frames_f32(cfg, big)))
    want, got = gs.run_stream(cfg, big), gs.run_stream(cfg_k, small)
    assert np.array_equal(_bits(got.log_index), _bits(want.log_index)) and want.events
    assert [e.key() for e in got.events] == [e.key() for e in want.events]
    p = dict(se.with_headroom(m, k).params)
    p["input_scale"] = float(np.nextafter(np.float32(p["input_scale"]), np.float32(np.inf)))
    off = gs.stream_config(type(m)(kind=m.kind, params=p, arrays=m.arrays))
    assert not np.array_equal(_bits(gs.frames_f32(off, small)), _bits(gs.frames_f32(cfg, big)))


def test_stream_accuracy_scores_the_streamed_events(detector_set):
    """The accuracy is recomputed here from run_stream on each test mixture (the events the board
    sends): reported set = classes of the events."""
    models, _ = detector_set
    ds = models["padnmf"].parent / "ds"
    m = load_model(models["padnmf-ur"])
    acc = se.stream_accuracy(m, ds)
    k, streams = se.dataset_streams(ds)
    cfg = gs.stream_config(se.with_headroom(m, k))
    right = [
        {cfg.class_names[e.class_index] for e in gs.run_stream(cfg, pcm).events} == set(mx.classes)
        for mx, pcm in streams
    ]
    assert acc["test_mixtures"] == len(streams) == 6 and acc["headroom_shift"] == k
    assert acc["accuracy"] == round(100 * float(np.mean(right)), 1)


def test_trained_streaming_row_on_the_m4f(detector_set, tmp_path):
    models, _ = detector_set
    ds = models["padnmf"].parent / "ds"
    rows = bench.trained_streaming_rows(models["padnmf-ur"], ds, n_mixtures=2)
    (r,) = rows
    assert r["bit_exact"] and r["board"] == "mps2-an386" and r["windows"] >= 1
    cfg = gs.stream_config(load_model(models["padnmf-ur"]))
    fps = cfg.sample_rate / cfg.hop
    per_s = r["instructions_per_audio_second"]
    want = r["instructions_per_frame"] * fps + r["instructions_per_window"] * fps / cfg.stride
    assert per_s == round(want) and r["instructions_total"] > 0
    assert r["realtime_factor_168mhz"] == round(168e6 / per_s, 3)
    assert r["cycles_per_instruction"] > 1
    assert r["realtime_factor_168mhz_by_cycles"] < r["realtime_factor_168mhz"]
    md = bench.streaming_markdown(rows)
    assert "trained detector padnmf-ur.tum (2 test mixtures)" in md
