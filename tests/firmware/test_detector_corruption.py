"""The detector stream under 1% byte corruption in each direction (the TCP relay of
test_link_corruption.py between pyserial and QEMU's UART): no wrong event is ever accepted, every
lost frame is reported (host: retries, dropped replies, lost EVENTs against the device's total;
device: CRC / length errors), and the stream completes. `-s` prints the figures."""

from __future__ import annotations

from test_link_corruption import CorruptingRelay

from tinyunfold.golden import stream as gs
from tinyunfold.kinds import load_model
from tinyunfold.tools import protocol as proto
from tinyunfold.tools.build import build_model
from tinyunfold.tools.detector import DetectorLink, firmware_totals, stream_pcm
from tinyunfold.tools.link import open_board

CHUNK = 32  # samples per AUDIO frame (72 + 8 bytes): about half get through at 1%


def test_detector_stream_survives_one_percent_corruption(detector_set):
    models, wavs = detector_set
    model = load_model(models["deepnmf"])
    cfg = gs.stream_config(model)
    _, pcm = gs.read_pcm16(wavs["hit"])
    golden = {e.key() for e in gs.run_stream(cfg, pcm).events}
    b = build_model(model, "mps2-an386", program="detector")
    relay = CorruptingRelay(0.01, 2026)
    try:
        with open_board(
            b.board, b.artifact, 300, via=relay.via, link_timeout_s=0.5, retries=20
        ) as s:
            link = DetectorLink.adopt(s.link)
            run = stream_pcm(link, link.hello().info, pcm, chunk=CHUNK)
            link.bye()
    finally:
        relay.close()
    totals = firmware_totals(s.console)
    assert s.exit_status == 0 and totals is not None
    assert totals["samples"] == len(pcm)  # the stream completed, no sample lost or doubled
    got = [e.key() for e in run.events]
    assert set(got) <= golden and len(set(got)) == len(got)  # no wrong event accepted
    lost = totals["events"] - len(got)
    hit_events = [f for f in relay.corrupted_frames("d2h") if f[0] == proto.EVENT]
    assert lost == len(hit_events)  # every EVENT lost on the link is one the relay hit
    h2d = relay.corrupted_frames("h2d")
    assert h2d and link.counts.retries >= 1 and link.counts.failed == 0
    assert run.stats.crc_errors + run.stats.length_errors >= 1
    print(
        f"\n{len(pcm)} samples in {run.credits} AUDIO frames of {CHUNK}: {len(h2d)} request frames "
        f"hit, {len(relay.corrupted_frames('d2h'))} reply/EVENT frames hit; host retries "
        f"{link.counts.retries}, timeouts {link.counts.timeouts}, dropped replies "
        f"{link.counts.corrupt_replies}; device CRC errors {run.stats.crc_errors}, length errors "
        f"{run.stats.length_errors}, resyncs {run.stats.resyncs}, duplicates "
        f"{run.stats.duplicates}; events {len(got)} of {totals['events']} arrived, all correct"
    )
