"""The readout over label sets on the device (issue 11): a tiny PAD-NMF detector trained with
``[detection] readout = "sets"`` and streamed with ``--decision readout`` gives the events of
`tinyunfold detect` bit for bit on mps2-an386 (each hit carries the chosen set's z against 0.0f);
`detect` reports the sets' per-class marginals as the confidence; a golden whose set weights
differ by one bit makes the verdict fail."""

from __future__ import annotations

import numpy as np
import pytest

from tinyunfold.golden import stream as gs
from tinyunfold.kinds import load_model
from tinyunfold.pipelines.detect import read_pcm

WAVS = ["hit", "nohit", "two"]


@pytest.fixture(scope="module")
def sets_model(tmp_path_factory):
    import detector_data as dd

    root = tmp_path_factory.mktemp("readout-sets")
    return dd.readout_detector(root, "", 'readout = "sets"\nreadout_max_hits = 2\n')


def test_sets_events_equal_detect(sets_model, capsys):
    import detector_data as dd

    model, wavs = sets_model
    mf = load_model(model)
    cfg = gs.stream_config(mf)
    rd = cfg.detect.readout
    assert cfg.decision == "readout" and rd is not None and rd.sets is not None
    np.testing.assert_array_equal(rd.sets, [0, 1, 2, 3])  # (), (0,), (1,), (0, 1)
    from tinyunfold.detection import Detector

    ro = Detector.from_model(mf.params, mf.arrays).readout
    assert ro is not None and ro.max_hits == 2
    n_events = 0
    for w in WAVS:
        det, _ = dd.run_equals_detect(model, "mps2-an386", wavs[w], capsys)
        res = gs.run_stream(cfg, read_pcm(wavs[w], cfg))
        assert res.readout_z is not None and res.readout_z.shape[1] == 4
        for e in det["events"]:  # the chosen set's z, against z of the empty set (0.0f)
            z = res.readout_z[e["window"]]
            assert int(e["threshold_bits"], 16) == 0
            assert int(e["score_bits"], 16) == int(z.max().view(np.uint32)) and z.max() > 0
        # the confidence `detect` reports is the per-class marginal P(c ∈ set) of the float32 z
        conf = ro.probability_of_score(res.readout_z.astype(np.float64))
        for i, win in enumerate(det["windows"]):
            assert list(win["confidence"].values()) == [float(v) for v in conf[i]]
        n_events += len(det["events"])
    assert n_events >= 2  # hits were reported: the comparison is not vacuous


def test_sets_weight_bit_flip_fails_the_verdict(sets_model, monkeypatch, capsys):
    """Golden set readout with bit 8 of every row's first weight flipped: MISMATCH."""
    import detector_data as dd

    model, wavs = sets_model
    dd.flipped_readout_run_fails(model, wavs["two"], monkeypatch, capsys)
