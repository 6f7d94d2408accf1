"""The real link under corruption: a TCP relay between pyserial's ``socket://`` client and QEMU's
UART chardev flips 1% of the bytes in each direction (seeded). The stream firmware on mps2-an386
must never have a wrong reply accepted (bits compared with the golden reference), every corrupted
request must be reported on the host and counted on the device, and the stream must complete.
The figures go to docs/protocol.md (``-s`` prints them)."""

from __future__ import annotations

import random
import socket
import threading
import time

import numpy as np
import pytest

from tinyunfold.models.nmf import NMFInference
from tinyunfold.tools import protocol as proto
from tinyunfold.tools.build import build_model
from tinyunfold.tools.deploy import golden_batch
from tinyunfold.tools.link import LinkRequestFailed, open_board

RATE, SEED, BLOCKS = 0.01, 2026, 60


class CorruptingRelay:
    """``client <-> relay <-> QEMU``: each byte is replaced by ``byte ^ r`` (r in 1..255) with
    probability ``rate``, one seeded generator per direction. Keeps the clean streams and the
    offsets it corrupted, so a test can tell which frames were hit."""

    def __init__(self, rate: float, seed: int) -> None:
        self.rate = rate
        self.rngs = {"h2d": random.Random(seed), "d2h": random.Random(seed + 1)}
        self.clean = {"h2d": bytearray(), "d2h": bytearray()}
        self.flips: dict[str, list[int]] = {"h2d": [], "d2h": []}
        self.lock = threading.Lock()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.listener.settimeout(30)
        self.socks: list[socket.socket] = []

    def via(self, upstream_url: str) -> str:
        host, port = upstream_url.removeprefix("socket://").split(":")
        threading.Thread(target=self._serve, args=(host, int(port)), daemon=True).start()
        return f"socket://127.0.0.1:{self.listener.getsockname()[1]}"

    def _serve(self, host: str, port: int) -> None:
        client, _ = self.listener.accept()
        deadline = time.monotonic() + 30
        while True:  # QEMU listens already; retry briefly, one successful connection only
            try:
                up = socket.create_connection((host, port), timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    client.close()
                    return
                time.sleep(0.05)
        self.socks += [client, up]
        for src, dst, d in ((client, up, "h2d"), (up, client, "d2h")):
            threading.Thread(target=self._pump, args=(src, dst, d), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, d: str) -> None:
        rng = self.rngs[d]
        while True:
            try:
                data = src.recv(4096)
            except OSError:
                data = b""
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            out = bytearray(data)
            with self.lock:
                base = len(self.clean[d])
                self.clean[d] += data
                for i in range(len(out)):
                    if rng.random() < self.rate:
                        out[i] ^= rng.randrange(1, 256)
                        self.flips[d].append(base + i)
            try:
                dst.sendall(bytes(out))
            except OSError:
                return

    def corrupted_frames(self, d: str, upto: int | None = None) -> list[tuple[int, int, bool]]:
        """(type, seq, sync bytes hit) of every frame of the clean stream ``d`` with a flip,
        among the frames that end before byte ``upto``."""
        with self.lock:
            clean, flips = bytes(self.clean[d]), sorted(self.flips[d])
        out, pos = [], 0
        end = len(clean) if upto is None else upto
        while pos + proto.HEADER <= len(clean):
            assert clean[pos : pos + 2] == proto.SYNC, "the clean stream holds only frames"
            n = clean[pos + 4] | (clean[pos + 5] << 8)
            stop = pos + proto.OVERHEAD + n
            if stop > end:
                break
            hit = [o - pos for o in flips if pos <= o < stop]
            if hit:
                out.append((clean[pos + 2], clean[pos + 3], min(hit) < 2))
            pos = stop
        return out

    def close(self) -> None:
        for s in self.socks + [self.listener]:
            s.close()


def _model(blocks: int):
    rng = np.random.default_rng(7)
    W = rng.random((4, 2)).astype(np.float32)
    X = rng.random((blocks, 4, 2)).astype(np.float32)
    return NMFInference(W, n_layers=4, alpha_h=0.01, n_frames=2).to_modelfile(), X


def _run(blocks: int = BLOCKS, seed: int = SEED, retries: int = 20, decoder=None) -> str:
    """Stream ``blocks`` windows through the corrupting relay and check everything; returns the
    figures. ``decoder`` replaces the link's Decoder (mutation tests)."""
    model, X = _model(blocks)
    b = build_model(model, "mps2-an386", program="stream")
    relay = CorruptingRelay(RATE, seed)
    reports: list[str] = []
    t0 = time.monotonic()
    try:
        with open_board(
            b.board, b.artifact, timeout_s=240, link_timeout_s=0.5, retries=retries,
            ready_timeout_s=5.0, via=relay.via,
        ) as s:  # fmt: skip
            link = s.link
            link._report = reports.append
            info = link.hello()
            if decoder is not None:
                link.decoder = decoder
            results = list(link.stream([x.ravel() for x in X], info.out_len))
            st = link.stats()
            with relay.lock:
                h2d_at_stats = len(relay.clean["h2d"])
            # drain late duplicates, so every byte the device sent so far went through the decoder
            while link.read_frame(time.monotonic() + 1.0) is not None:
                pass
            with relay.lock:
                d2h_seen = len(relay.clean["d2h"])
            try:
                link.bye()
            except LinkRequestFailed as err:  # checked below, after the stream's own checks
                reports.append(f"BYE: {err.cause}")
    finally:
        relay.close()
    wall = time.monotonic() - t0
    # no wrong reply accepted, and the stream completes
    done = [(i, out) for i, out, _ in results if out is not None]
    for i, out in done:
        assert np.array_equal(
            out.view(np.uint32), golden_batch(model, X[i][None])[0].view(np.uint32)
        ), f"block {i}: wrong reply accepted"
    assert len(results) == blocks
    assert link.counts.failed == blocks - len(done) == 0, "stream incomplete"
    # every corrupted request is reported on the host (a line naming its seq) ...
    bad_req = relay.corrupted_frames("h2d")
    assert bad_req, "the relay corrupted no request: the test proves nothing"
    for type_, seq, _ in bad_req:
        assert any(f"seq {seq}:" in r for r in reports), (type_, seq)
    # ... and counted on the device: a corrupt header/payload as a CRC or length error, a hit sync
    # as a resync (the last requests, GET_STATS and BYE, may come after the STATS snapshot)
    before = [
        f for f in relay.corrupted_frames("h2d", upto=h2d_at_stats) if f[0] != proto.GET_STATS
    ]
    assert st.crc_errors + st.length_errors >= sum(not sync for _, _, sync in before)
    assert st.resyncs >= (1 if any(sync for _, _, sync in before) else 0)
    assert st.duplicates >= 1  # replies lost on the way back were answered from the cache
    # every corrupted device frame the host read was dropped and counted by its decoder
    bad_rep = relay.corrupted_frames("d2h", upto=d2h_seen)
    assert bad_rep, "the relay corrupted no reply: the test proves nothing"
    dc = link.decoder.counts
    assert dc.crc_errors + dc.length_errors + dc.type_errors >= sum(
        not sync for _, _, sync in bad_rep
    )
    assert s.exit_status == 0
    return (
        f"{blocks} blocks, {RATE:.0%} byte corruption each way, seed {seed}, {wall:.1f} s: "
        f"host->device {len(relay.clean['h2d'])} B, {len(relay.flips['h2d'])} bytes flipped, "
        f"{len(bad_req)} request frames hit; device->host {len(relay.clean['d2h'])} B, "
        f"{len(relay.flips['d2h'])} bytes flipped, {len(bad_rep)} reply frames hit\n"
        f"host: {link.counts}, decoder {dc}\ndevice STATS: {st}\n"
        f"wrong replies accepted: 0, blocks bit-exact: {len(done)}/{blocks}"
    )


def test_stream_survives_one_percent_corruption_each_way():
    print("\n" + _run())


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_stream_survives_corruption_long(seed):
    """The figures of docs/protocol.md: 500 windows per seed."""
    print("\n" + _run(blocks=500, seed=seed))


def _mutant_decoder(old: str, new: str) -> proto.Decoder:
    import sys
    import types
    from pathlib import Path

    src = Path(proto.__file__).read_text()
    assert old in src
    mod = types.ModuleType("protocol_mutant_link")
    sys.modules[mod.__name__] = mod
    exec(compile(src.replace(old, new), "protocol_mutant_link.py", "exec"), mod.__dict__)
    return mod.Decoder()


def test_check_fails_when_the_decoder_skips_the_crc():
    """A corrupt reply accepted: caught by the bit compare or the RESULT checks of infer."""
    mutant = _mutant_decoder("if crc != crc16(body):", "if False:")
    with pytest.raises(
        (AssertionError, proto.ProtocolError), match="bad RESULT|wrong reply accepted"
    ):
        _run(blocks=30, decoder=mutant)


def test_check_fails_without_retries():
    with pytest.raises(AssertionError, match="stream incomplete"):
        _run(blocks=30, retries=0)
