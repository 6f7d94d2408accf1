"""Warm starts in the streaming detector (golden/stream.py "Warm start"): window w > 0 starts from
window w-1's H⁽ᴷ⁾ when the model's warm_stride equals the stream stride; window 0 and every window
of a model whose warm_stride differs start cold. The board side is tests/firmware/
test_detector_warm.py."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from tinyunfold.cli import main
from tinyunfold.golden import padnmf as gpadnmf
from tinyunfold.golden import stream as gs
from tinyunfold.golden.detect import indices_f32
from tinyunfold.kinds import load_model, save_model
from tinyunfold.modelfile import ModelFile


@pytest.fixture(scope="module")
def warm_deepnmf(detector_set, tmp_path_factory):
    """The tiny Deep-NMF detector (no H mask, stride 4 of 16 frames) with warm starts on."""
    models, wavs = detector_set
    out = tmp_path_factory.mktemp("warm") / "deepnmf-warm.tum"
    assert main(["model", "stream", str(models["deepnmf"]), "--warm", "--out", str(out)]) == 0
    return out, wavs


def _cold(cfg: gs.StreamConfig) -> gs.StreamConfig:
    return dataclasses.replace(cfg, forward=dataclasses.replace(cfg.forward, warm_stride=0))


def _bits(a):
    return np.asarray(a, dtype=np.float32).view(np.uint32)


def test_model_stream_warm_sets_warm_stride_to_the_stride(warm_deepnmf, tmp_path, capsys):
    path, _ = warm_deepnmf
    m = load_model(path)
    assert m.params["warm_stride"] == m.params["stream"]["stride"] == 4
    assert gs.stream_config(m).warm
    off = tmp_path / "cold.tum"
    assert main(["model", "stream", str(path), "--no-warm", "--out", str(off)]) == 0
    assert "cold starts" in capsys.readouterr().out
    assert load_model(off).params["warm_stride"] == 0 and not gs.stream_config(load_model(off)).warm


def test_warm_stream_chains_the_windows(warm_deepnmf):
    """Each window's indices are those of the forward pass from the previous window's H⁽ᴷ⁾
    (dense and mask-aware golden paths alike); window 0 is cold; the warm start changes H."""
    path, wavs = warm_deepnmf
    cfg = gs.stream_config(load_model(path))
    _, pcm = gs.read_pcm16(wavs["two"])
    res = gs.run_stream(cfg, pcm)
    assert res.n_windows >= 4
    frames = gs.frames_f32(cfg, pcm)
    prev = None
    for w in range(res.n_windows):
        X = frames[w * 4 : w * 4 + 16].T
        H = gpadnmf.padnmf_forward_f32(cfg.forward, X, h_prev=prev)
        Hm = gpadnmf.padnmf_forward_masked_f32(cfg.forward, X, h_prev=prev)
        assert np.array_equal(_bits(H), _bits(Hm))
        li, _ = indices_f32(H, cfg.detect)
        assert np.array_equal(_bits(res.log_index[w]), _bits(li[0]))
        prev = H
    cold = gs.run_stream(_cold(cfg), pcm)
    assert np.array_equal(_bits(res.log_index[0]), _bits(cold.log_index[0]))
    differs = [
        not np.array_equal(_bits(a), _bits(b))
        for a, b in zip(res.log_index, cold.log_index, strict=True)
    ]
    assert all(differs[1:]), differs  # the warm start moves every later window's H
    # the later windows see the second hit at earlier onsets, i.e. on warm columns: other scores
    assert [e.key() for e in res.raw_events] != [e.key() for e in cold.raw_events]


def test_warm_stride_other_than_the_stride_runs_cold(warm_deepnmf, tmp_path, capsys):
    """warm_stride 2 with stride 4: the warm table would shift by the wrong frames -> cold."""
    path, wavs = warm_deepnmf
    m = load_model(path)
    other = save_model(
        tmp_path / "other.tum",
        ModelFile(kind=m.kind, params={**m.params, "warm_stride": 2}, arrays=m.arrays),
    )
    cfg = gs.stream_config(load_model(other))
    assert cfg.forward.warm_stride == 2 and not cfg.warm
    _, pcm = gs.read_pcm16(wavs["two"])
    got = gs.run_stream(cfg, pcm)
    want = gs.run_stream(_cold(gs.stream_config(m)), pcm)
    assert np.array_equal(_bits(got.log_index), _bits(want.log_index))
    assert main(["model", "stream", str(other), "--out", str(tmp_path / "o2.tum")]) == 0
    assert "cold (warm_stride 2 != stride)" in capsys.readouterr().out


def test_detect_reports_the_warm_start(warm_deepnmf, capsys):
    path, wavs = warm_deepnmf
    assert main(["detect", "--model", str(path), str(wavs["two"]), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)[0]
    assert rep["pipeline"] == "float32" and rep["warm_start"] is True
    cfg = gs.stream_config(load_model(path))
    _, pcm = gs.read_pcm16(wavs["two"])
    want = [e.to_dict(cfg) for e in gs.run_stream(cfg, pcm).events]
    assert rep["events"] == want and want
