"""The readout decision on the device: a tiny PAD-NMF detector trained with ``[detection]
readout = true`` and streamed with ``--decision readout`` gives the events of `tinyunfold detect`
bit for bit on mps2-an386 (uint32 score/threshold); a golden whose readout weights differ by one
bit per class makes the verdict fail."""

from __future__ import annotations

import detector_data as dd
import numpy as np
import pytest

from tinyunfold.golden import stream as gs
from tinyunfold.kinds import load_model

WAVS = ["hit", "nohit", "two"]


@pytest.fixture(scope="module")
def readout_set(tmp_path_factory):
    return dd.readout_detector(tmp_path_factory.mktemp("readout"), "", "readout = true\n")


def test_readout_events_equal_detect(readout_set, capsys):
    model, wavs = readout_set
    cfg = gs.stream_config(load_model(model))
    assert cfg.decision == "readout" and cfg.detect.readout is not None
    n_events = 0
    for w in WAVS:
        det, _ = dd.run_equals_detect(model, "mps2-an386", wavs[w], capsys)
        want = det["events"]
        # the events carry readout scores z against the readout thresholds (0.0f), not ln I
        for e in want:
            assert int(e["threshold_bits"], 16) == int(np.float32(0.0).view(np.uint32))
        n_events += len(want)
    assert n_events >= 2  # hits were reported: the comparison is not vacuous


def test_readout_weight_bit_flip_fails_the_verdict(readout_set, monkeypatch, capsys):
    """Golden readout with one bit of W flipped per class (bit 8 of column 0): MISMATCH."""
    import detector_data as dd

    model, wavs = readout_set
    dd.flipped_readout_run_fails(model, wavs["two"], monkeypatch, capsys)
