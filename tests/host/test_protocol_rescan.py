"""The C frame parser (firmware/src/tu_proto_parser_*.c, through ctypes) against the host
`protocol.Decoder` on the same byte streams: after a rejected frame (CRC mismatch, length over the
bound, unknown type) both search again one byte after the rejected sync, so they must report the
same frames at the same byte, the same errors and the same counters (docs/protocol.md, "Parsers").

Random streams of frames with corrupted, inserted and dropped bytes, and crafted ones: a valid frame
inside a corrupted frame's payload, nested syncs, a corrupt length that swallows the next frames, a
deep nest of corrupted frames (the in-place re-scan must restore what each rejected candidate
overwrote). Mutants (no re-scan, a re-scan without the restore, a repeated A5 not counted as
skipped) are caught."""

from __future__ import annotations

import ctypes as C
import random
from collections import Counter

import pytest
from test_protocol_c import BAD_CRC, BAD_TYPE, FRAME, NEED_MORE, TOO_LONG, CParser, build_lib

from tinyunfold.tools import protocol as proto

# The host sees an unknown type when the header is complete, three bytes after the type byte at
# which the device rejects it (or at once, when its re-scan reaches a header it holds whole); the
# trailer lets a header at the very end of a stream complete on both sides.
TYPE_LAG, TRAILER = 3, bytes(4)
TYPES = sorted(proto.MAX_LEN)


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    return build_lib(tmp_path_factory.mktemp("rescan") / "libtuproto.so")


def host_events(data: bytes, capacity: int):
    """(frames as (byte index, (type, seq, payload)), errors as Counter of (byte index, code),
    counts) of the host Decoder fed one byte at a time, with the device's bounds."""
    dec = proto.Decoder({t: min(n, capacity) for t, n in proto.MAX_LEN.items()})
    frames, errors = [], Counter()
    c = dec.counts
    for i in range(len(data)):
        before = (c.crc_errors, c.length_errors, c.type_errors)
        for f in dec.feed(data[i : i + 1]):
            frames.append((i, (f.type, f.seq, f.payload)))
        after = (c.crc_errors, c.length_errors, c.type_errors)
        for code, b, a in zip((BAD_CRC, TOO_LONG, BAD_TYPE), before, after, strict=True):
            if a > b:
                errors[(i, code)] += a - b
    return frames, errors, (c.frames, c.crc_errors, c.length_errors + c.type_errors, c.resyncs)


def device_events(lib, data: bytes, capacity: int):
    """The same for the C parser: push each byte, then resume until NEED_MORE."""
    cp = CParser(lib, capacity=capacity)
    p, ref = cp.p, C.byref(cp.p)
    frames, errors = [], Counter()
    for i, b in enumerate(data):
        ev, rescan = lib.tu_proto_parser_push(ref, b), False
        while ev != NEED_MORE:
            if ev == FRAME:
                frames.append((i, (p.type, p.seq, bytes(cp.buf[: p.len]))))
            elif ev == BAD_TYPE:
                # the type byte: this one, or a held byte (the last held byte is byte i)
                at = i - (p.rescan_end - p.rescan_pos) if rescan else i
                errors[(max(at + TYPE_LAG, i), ev)] += 1
            else:
                errors[(i, ev)] += 1
            ev, rescan = lib.tu_proto_parser_resume(ref), True
    return frames, errors, (p.frames_ok, p.crc_errors, p.length_errors, p.resyncs)


def check_same(lib, stream: bytes, capacity: int) -> tuple[int, int, int, int]:
    data = stream + TRAILER
    host = host_events(data, capacity)
    dev = device_events(lib, data, capacity)
    assert dev[0] == host[0], "frames differ (byte index, (type, seq, payload))"
    assert dev[1] == host[1], "rejections differ (byte index, event)"
    assert dev[2] == host[2], "counters (frames, crc, length + type, resyncs) differ"
    return host[2]


def rand_frame(rnd: random.Random, max_payload: int = 40) -> bytes:
    t = rnd.choice(TYPES)
    n = rnd.randrange(min(max_payload, proto.MAX_LEN[t]) + 1)
    return proto.encode(t, rnd.randrange(256), bytes(rnd.randrange(256) for _ in range(n)))


def corrupt(rnd: random.Random, data: bytes, rate: float) -> bytes:
    """Replace, drop or insert bytes; insertions favour the sync bytes."""
    out = bytearray()
    for b in data:
        r = rnd.random()
        if r < rate / 2:
            out.append(b ^ rnd.randrange(1, 256))
        elif r < rate * 0.7:
            pass
        elif r < rate:
            out += bytes([b, rnd.choice([0xA5, 0x5A, rnd.randrange(256)])])
        else:
            out.append(b)
    return bytes(out)


@pytest.mark.parametrize("capacity", [8, 64, 2048])
def test_same_as_host_decoder_on_corrupted_streams(lib, capacity):
    rnd = random.Random(capacity)
    totals = Counter()
    for _ in range(60):
        frames = [rand_frame(rnd, 2 * capacity) for _ in range(rnd.randrange(1, 12))]
        clean = b"".join(
            f + bytes(rnd.randrange(256) for _ in range(rnd.randrange(3))) for f in frames
        )
        got = check_same(lib, corrupt(rnd, clean, rnd.choice([0.002, 0.01, 0.05])), capacity)
        totals.update(dict(zip(("frames", "crc", "length", "resyncs"), got, strict=True)))
    assert min(totals.values()) > 0, totals  # the streams exercise every counter


def test_same_as_host_decoder_on_sync_heavy_noise(lib):
    """Bytes drawn mostly from the sync bytes and small lengths: many nested candidates."""
    rnd = random.Random(5)
    alphabet = [0xA5, 0x5A, 0x01, 0x02, 0x03, 0x00, 0x81, 0xEE, 0x42]
    for _ in range(40):
        noise = bytes(rnd.choice(alphabet) for _ in range(rnd.randrange(400)))
        parts = [noise[: len(noise) // 2], rand_frame(rnd, 6), noise[len(noise) // 2 :]]
        check_same(lib, b"".join(parts), rnd.choice([2, 16, 200]))


def _with_len(frame: bytes, n: int) -> bytes:
    """The frame with its length field set to ``n`` (CRC left as it was: a corrupt length)."""
    b = bytearray(frame)
    b[4], b[5] = n & 0xFF, n >> 8
    return bytes(b)


def _flip(frame: bytes, at: int) -> bytes:
    b = bytearray(frame)
    b[at] ^= 0x10
    return bytes(b)


G1 = proto.encode(proto.INFER, 1, bytes(range(10)))
G2 = proto.encode(proto.HELLO, 2, b"\x02")
G3 = proto.encode(proto.AUDIO, 3, bytes(8))

CRAFTED = {
    # a corrupt length that swallows the next two frames: both are still found
    "swallowed": _with_len(proto.encode(proto.INFER, 9, bytes(4)), 4 + len(G1) + len(G2))
    + G1
    + G2
    + bytes(20),
    # a valid frame inside a corrupted frame's payload
    "inside-payload": _flip(proto.encode(proto.INFER, 9, b"\x00" + G1 + G2 + b"\x00"), 6),
    # a frame inside a corrupted frame inside a corrupted frame ... (restore at every level)
    "nest": b"",
    # syncs everywhere: a sync as type, a repeated A5, a sync in the length
    "syncs": b"\xa5\xa5\x5a\xa5\x5a"
    + G1
    + b"\xa5"
    + G2
    + b"\xa5\x5a\x02\x00\xa5\x5a"
    + G3
    + b"\xa5\x5a\xa5\x5a\xa5"
    + G1,
    # over-long length whose header bytes start the next frame
    "too-long-header": b"\xa5\x5a\x01\x07\xa5\x5a" + G2[2:] + G3,
    # a frame right after a good one with one stray A5 between: one resync
    "stray-a5": G1 + b"\xa5" + G2 + G3,
}
_nest = G3
for depth in range(12):
    _nest = _flip(proto.encode(proto.INFER, 100 + depth, bytes([depth]) + _nest + b"\xa5"), 6)
CRAFTED["nest"] = _nest + G2


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_same_as_host_decoder_on_crafted_streams(lib, name):
    stream = CRAFTED[name]
    check_same(lib, stream, 2048)
    frames, _, _ = host_events(stream + TRAILER, 2048)
    found = {proto.encode(*f) for _, f in frames}
    wanted = {
        "swallowed": {G1, G2},
        "inside-payload": {G1, G2},
        "nest": {G3, G2},
        "syncs": {G1, G2, G3},
        "too-long-header": {G3},
        "stray-a5": {G1, G2, G3},
    }[name]
    assert wanted <= found, (name, frames)  # the host finds them: the comparison means something


def test_nested_rescans_report_several_frames_from_one_rejection(lib):
    """One CRC rejection whose bytes hold three frames: push reports the rejection, resume the
    frames, then NEED_MORE; a later push first finishes a re-scan the caller left unfinished."""
    stream = _flip(proto.encode(proto.INFER, 9, b"\x00" + G1 + G2 + G3), 6)
    cp = CParser(lib, capacity=2048)
    events = cp.push(stream)
    last = len(stream) - 1
    assert events == [(last, BAD_CRC)] + [(last, (f[2], f[3], f[6:-2])) for f in (G1, G2, G3)]
    cp = CParser(lib, capacity=2048)
    for b in stream:  # push only, never resume
        lib.tu_proto_parser_push(C.byref(cp.p), b)
    assert cp.p.rescan_end > 0 and cp.p.frames_ok == 0
    lib.tu_proto_parser_push(C.byref(cp.p), 0)
    assert (cp.p.frames_ok, cp.p.rescan_end) == (3, 0)


@pytest.mark.parametrize(
    "mutation",
    [
        # the parser before the re-scan: it goes on hunting from the current byte
        ("tu_proto_parser_resume.c", "while (P->rescan_pos < P->rescan_end) {", "while (0) {"),
        # re-scan without restoring what a rejected candidate overwrote
        ("tu_proto_parser_step.c", "P->payload[t - 5U] = own_byte(P, q);", "(void)q;"),
        # a repeated A5 not counted as skipped
        (
            "tu_proto_parser_step.c",
            "P->hunting = 1U;\n            P->rescan_start",
            "P->rescan_start",
        ),
    ],
    ids=["no-rescan", "no-restore", "a5-a5-not-skipped"],
)
def test_differential_checks_fail_on_mutants(tmp_path, mutation):
    mutant = build_lib(tmp_path / "libmutant.so", mutation)
    failed = []
    for name in sorted(CRAFTED):
        try:
            check_same(mutant, CRAFTED[name], 2048)
        except AssertionError:
            failed.append(name)
    try:
        test_same_as_host_decoder_on_sync_heavy_noise(mutant)
    except AssertionError:
        failed.append("noise")
    assert failed, f"no differential check caught the mutant {mutation}"
