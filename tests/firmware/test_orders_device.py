"""The order notch in the streaming detector (``[features] orders_f0``): a tiny PAD-NMF detector
whose front-end tracks and notches the demo background's orders (500 Hz and its third order,
1500 Hz) gives the events of `tinyunfold detect` bit for bit on mps2-an386, one recording per
boot and several recordings in one session (each a new stream: tu_detector_reset)."""

from __future__ import annotations

import detector_data as dd
import numpy as np
import pytest

from tinyunfold.golden import stream as gs
from tinyunfold.kinds import load_model
from tinyunfold.pipelines.detect import read_pcm

ORDERS = "orders_f0 = [400.0, 600.0]\norders = 3\norders_width = 1\norders_step = 1.0\norders_gate_db = 6.0\n"


@pytest.fixture(scope="module")
def orders_model(tmp_path_factory):
    """The spectrum readout with the excess block behind the order notch (ORDERS)."""
    root = tmp_path_factory.mktemp("orders")
    return dd.readout_detector(root, "augment = 40\n", dd.EXCESS_READOUT, ORDERS)


def test_orders_events_equal_detect(orders_model, capsys):
    """`run` equals `detect` (bits, events) on the three demo WAVs; the stream's bands are the
    notched ones (the demo background's orders lose > 10 dB) and the events are the right
    ones, so the comparison is not vacuous."""
    from dataclasses import replace

    model, wavs = orders_model
    cfg = gs.stream_config(load_model(model))
    assert cfg.front.orders is not None and cfg.front.orders.orders_f0 == (400.0, 600.0)
    pcm = read_pcm(wavs["nohit"], cfg)
    notched = gs.frames_f32(cfg, pcm)
    plain = gs.frames_f32(replace(cfg, front=replace(cfg.front, orders=None)), pcm)
    assert 10 * np.log10(plain.sum() / notched.sum()) > 10.0
    classes = {}
    for w in ("hit", "nohit", "two"):
        det, _ = dd.run_equals_detect(model, "mps2-an386", wavs[w], capsys)
        classes[w] = [(e["window"], e["class"]) for e in det["events"]]
    assert classes["nohit"] == [] and (0, "high") in classes["hit"], classes


def test_orders_state_restarts_with_each_stream(orders_model, capsys):
    """One `sim` session, recordings streamed one after the other: each is a new stream whose
    first frame has no previous one (tu_detector_reset), so each stays BIT-EXACT."""
    model, wavs = orders_model
    with dd.sim_session(model, "mps2-an386") as (proc, port):
        names = ["two", "hit", "nohit", "two"]
        for i, w in enumerate(names):
            want = dd.detect_report(model, wavs[w], capsys)
            events, summary = dd.stream_to_sim(
                model, port, wavs[w], capsys, bye=i == len(names) - 1
            )
            assert summary["summary"]["verdict"] == "BIT-EXACT", summary
            assert [dd.event_key(e) for e in events] == [dd.event_key(e) for e in want["events"]]
        dd.sim_ended_cleanly(proc)
