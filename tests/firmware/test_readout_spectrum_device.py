"""The spectrum readout on the device (``[detection] readout_input = "spectrum"``): a tiny PAD-NMF
detector trained with ``readout = "sets"`` reading the band energies of the window X̃ (not H)
gives the events of `tinyunfold detect` bit for bit on mps2-an386 (tu_detector_decide(X, H):
the readout reads ``window_x``, the front-end bands x input_scale the network reads); the golden
scores are the readout of X̃ windows cut here from the front-end frames; a golden fed H in
place of X̃ makes the verdict fail."""

from __future__ import annotations

import detector_data as dd
import numpy as np
import pytest

from tinyunfold.cli import main
from tinyunfold.golden import detect as gd
from tinyunfold.golden import stream as gs
from tinyunfold.kinds import load_model
from tinyunfold.pipelines.detect import read_pcm

WAVS = ["hit", "nohit", "two"]


@pytest.fixture(scope="module")
def spectrum_model(tmp_path_factory):
    # 40 augmented training mixtures (the 6 of the demo set are too few to fit 16 band weights
    # per label set: 5-fold CV accuracy 0.5, no event on the WAVs)
    root = tmp_path_factory.mktemp("readout-spectrum")
    return dd.readout_detector(
        root, "augment = 40\n", 'readout = "sets"\nreadout_input = "spectrum"\n'
    )


def _device_equals_golden_of_the_windows(model, cfg, wav, capsys) -> dict:
    """`run` on mps2-an386 equals `detect` (events, bits), and the golden's scores are the
    readout of the windows X~ cut here from the front-end frames; returns `detect`'s report."""
    det, _ = dd.run_equals_detect(model, "mps2-an386", wav, capsys)
    pcm = read_pcm(wav, cfg)
    frames = gs.frames_f32(cfg, pcm)
    res = gs.run_stream(cfg, pcm)
    X = np.stack([frames[i * cfg.stride : i * cfg.stride + cfg.n_frames].T
                  for i in range(res.n_windows)])  # fmt: skip
    assert res.readout_z is not None
    z = gd.readout_f32(X, cfg.detect.readout)
    np.testing.assert_array_equal(res.readout_z.view(np.uint32), z.view(np.uint32))
    return det


def test_spectrum_events_equal_detect(spectrum_model, capsys):
    model, wavs = spectrum_model
    cfg = gs.stream_config(load_model(model))
    rd = cfg.detect.readout
    assert cfg.decision == "readout" and rd is not None and rd.input == "spectrum"
    # one weight per band of X~ (m' = 16), not per atom of H (rank) nor per row of the Hankel m'T
    assert rd.W.shape == (4, cfg.front.n_features) and cfg.detect.rank != cfg.front.n_features
    n_events = 0
    classes = {}
    for w in WAVS:
        det = _device_equals_golden_of_the_windows(model, cfg, wavs[w], capsys)
        n_events += len(det["events"])
        classes[w] = [(e["window"], e["class"]) for e in det["events"]]
    assert n_events >= 2  # hits were reported: the comparison is not vacuous
    # and they are right: "high" in the one-hit WAV, nothing in the no-hit one, high then low
    assert classes == {"hit": [(0, "high")], "nohit": [], "two": [(0, "high"), (1, "low")]}


def test_golden_fed_H_fails_the_verdict(spectrum_model, monkeypatch, capsys):
    """Golden readout reading H (its first rows, zero-padded to the m' bands) in place of X~:
    MISMATCH against the device, which reads X~."""
    model, wavs = spectrum_model

    def fed_h(rd, H, X):
        A = np.zeros_like(X, dtype=np.float32)
        k = min(H.shape[1], A.shape[1])
        A[:, :k] = H[:, :k]
        return A

    monkeypatch.setattr("tinyunfold.golden.detect.readout_input_f32", fed_h)
    rc = main(["run", "--model", str(model), "--board", "mps2-an386", "--input",
               str(wavs["two"])])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 1 and "verdict: MISMATCH" in out


@pytest.fixture(scope="module")
def dnmfd_spectrum(tmp_path_factory):
    """A Deep-NMFD detector with the spectrum readout over label sets, and one recording of the
    18 test mixtures of its dataset end to end (one window each), at the training level (the
    headroom gain 2^-k of the recording undone by input_scale x 4^k: pipelines/stream_eval.py)."""
    from tinyunfold.datasets import write_wav
    from tinyunfold.kinds import save_model
    from tinyunfold.pipelines.stream_eval import dataset_streams, with_headroom
    from tinyunfold.training.dnmfd import DNMFD_DEMO_CONFIG

    root = tmp_path_factory.mktemp("readout-spectrum-dnmfd")
    # 3 SNRs and 6 no-hit mixtures per split: 18 training mixtures for 16 band weights per set
    ds = dd.make_dataset(root / "ds", snrs=(5.0, 0.0, -5.0), n_nohit=6)
    cfg = root / "dnmfd.toml"
    cfg.write_text(DNMFD_DEMO_CONFIG + 'readout = "sets"\nreadout_input = "spectrum"\n')
    out = root / "dnmfd-spectrum.tum"
    argv = ["train", "dnmfd", "--dataset", str(ds), "--config", str(cfg), "--out", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    assert main(["model", "stream", str(out), "--decision", "readout"]) == 0
    k, streams = dataset_streams(ds)
    model = save_model(root / "dnmfd-spectrum-k.tum", with_headroom(load_model(out), k))
    wav = root / "test.wav"
    write_wav(wav, 8000, np.concatenate([pcm for _, pcm in streams]) / 32768.0)
    return model, wav, [sorted(m.classes) for m, _ in streams]


def test_dnmfd_spectrum_events_equal_detect(dnmfd_spectrum, capsys):
    """The same readout code on the other detector kind: bit-exact on mps2-an386, and the events
    of each window are mostly its mixture's classes (measured 16 of 18)."""
    from tinyunfold.pipelines.detect import stream_config

    model, wav, truth = dnmfd_spectrum
    cfg = stream_config(load_model(model))
    rd = cfg.detect.readout
    assert rd is not None and rd.input == "spectrum" and rd.W.shape == (4, cfg.front.n_features)
    det, _ = dd.run_equals_detect(model, "mps2-an386", wav, capsys)
    got = [sorted(e["class"] for e in det["events"] if e["window"] == w) for w in range(18)]
    assert len(det["events"]) >= 10  # not vacuous
    assert sum(g == t for g, t in zip(got, truth, strict=True)) >= 15, (got, truth)


@pytest.fixture(scope="module")
def excess_model(tmp_path_factory):
    """The spectrum readout with the excess block (``readout_excess = 5``)."""
    return dd.readout_detector(
        tmp_path_factory.mktemp("readout-excess"), "augment = 40\n", dd.EXCESS_READOUT
    )


def test_excess_events_equal_detect(excess_model, capsys):
    """The firmware generated for a readout with the excess block (tu_detect_readout_excess_f32,
    W on the 2 m' features) gives the events of `tinyunfold detect` bit for bit on mps2-an386,
    and finds the hits of the demo WAVs."""
    model, wavs = excess_model
    cfg = gs.stream_config(load_model(model))
    rd = cfg.detect.readout
    assert rd is not None and rd.bg_mu is not None and rd.bg_inv_sd is not None
    assert rd.W.shape == (4, 2 * cfg.front.n_features) and rd.excess == np.float32(5.0)
    classes = {}
    for w in WAVS:
        det = _device_equals_golden_of_the_windows(model, cfg, wavs[w], capsys)
        classes[w] = [(e["window"], e["class"]) for e in det["events"]]
    assert classes["nohit"] == [] and (0, "high") in classes["hit"], classes  # not vacuous


def test_a_golden_without_the_clip_fails_the_verdict(excess_model, monkeypatch, capsys):
    """A golden readout whose excess is not clipped (clip 1e30): MISMATCH against the device."""
    from dataclasses import replace

    model, wavs = excess_model
    real = gd.readout_f32
    monkeypatch.setattr(
        "tinyunfold.golden.detect.readout_f32",
        lambda H, rd: real(H, replace(rd, excess=np.float32(1e30))),
    )
    rc = main(["run", "--model", str(model), "--board", "mps2-an386", "--input",
               str(wavs["two"])])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 1 and "verdict: MISMATCH" in out
