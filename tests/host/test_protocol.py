"""Host side of protocol v2 (docs/protocol.md): frames, the Decoder under corruption, payload
codecs. The C side is checked against the same expectations in test_protocol_c.py."""

import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinyunfold.tools import protocol as proto


def _frames(frames):
    return [(f.type, f.seq, f.payload) for f in frames]


def test_crc_check_value():
    assert proto.crc16(b"123456789") == 0x29B1  # CRC-16/CCITT-FALSE check value


def test_round_trip_with_garbage_and_split_reads():
    a = proto.encode(proto.RESULT, 7, b"\x01\x02\x03")
    b = proto.encode(proto.INFO, 8, b"")
    dec = proto.Decoder()
    stream = b"\x00\xa5\x13" + a + b
    frames = []
    for i in range(len(stream)):  # one byte at a time
        frames += dec.feed(stream[i : i + 1])
    assert _frames(frames) == [(proto.RESULT, 7, b"\x01\x02\x03"), (proto.INFO, 8, b"")]
    assert dec.counts.resyncs == 1 and dec.counts.frames == 2


def test_feed_keeps_frames_decoded_before_a_bad_crc():
    """The v1 decoder raised on the bad CRC and lost the frame it had already decoded."""
    good = proto.encode(proto.RESULT, 1, b"abcd")
    bad = bytearray(proto.encode(proto.RESULT, 2, b"efgh"))
    bad[7] ^= 0x40
    after = proto.encode(proto.RESULT, 3, b"ijkl")
    dec = proto.Decoder()
    got = dec.feed(good + bytes(bad) + after)
    assert [f.seq for f in got] == [1, 3]
    assert dec.counts.crc_errors == 1 and dec.counts.resyncs == 1


def test_corrupt_length_rejected_at_once_and_next_frame_recovered():
    """v1: a corrupt length byte made the decoder wait for up to 65,535 bytes; later frames lost."""
    bad = bytearray(proto.encode(proto.RESULT, 1, bytes(12 + 48)))
    bad[5] = 0xF0  # announced length 0xF03C > 12 + 32768
    good = proto.encode(proto.RESULT, 2, bytes(12 + 48))
    dec = proto.Decoder()
    assert dec.feed(bytes(bad[:6])) == []
    assert dec.counts.length_errors == 1  # rejected as soon as the header is complete
    assert dec.wanted() <= proto.HEADER  # not waiting for the announced payload
    got = dec.feed(bytes(bad[6:]) + good)
    assert [f.seq for f in got] == [2]


def test_tightened_limit_and_swallowed_frame_found():
    """A corrupt length within the bound swallows the next frame; after the CRC mismatch the
    search restarts one byte after the rejected sync and finds it."""
    payload = bytes(12 + 4 * 3)
    bad = bytearray(proto.encode(proto.RESULT, 1, payload))
    bad[4] += 10  # 10 bytes longer: the next frame's start is inside the "payload"
    good = proto.encode(proto.RESULT, 2, payload)
    dec = proto.Decoder({proto.RESULT: 12 + 4 * 3 + 40})
    got = dec.feed(bytes(bad) + good + bytes(40))
    assert [f.seq for f in got] == [2]
    assert dec.counts.crc_errors == 1
    tight = proto.Decoder({proto.RESULT: 12 + 4 * 3})
    tight.feed(bytes(bad[:6]))
    assert tight.counts.length_errors == 1


def test_unknown_type_rejected():
    dec = proto.Decoder()
    assert dec.feed(b"\xa5\x5a\x42\x00\x00\x00") == []
    assert dec.counts.type_errors == 1


def test_wanted_never_overreads():
    frame = proto.encode(proto.RESULT, 3, bytes(10))
    dec = proto.Decoder()
    got = []
    pos = 0
    while not got:
        n = dec.wanted()
        assert pos + n <= len(frame)
        got = dec.feed(frame[pos : pos + n])
        pos += n
    assert pos == len(frame)


def test_header_layout_and_max_lengths():
    f = proto.encode(0x02, 0x1FF, b"xyz")
    assert f[:2] == b"\xa5\x5a"
    assert struct.unpack_from("<BBH", f, 2) == (0x02, 0xFF, 3)
    for t, n in proto.MAX_LEN.items():
        proto.encode(t, 0, bytes(n))
        with pytest.raises(proto.ProtocolError, match="exceeds the maximum"):
            proto.encode(t, 0, bytes(n + 1))


def test_payload_codecs_round_trip():
    info = proto.Info(2, 3, 36, 12, "padnmf", 16000, 256, 8, 4, bytes(range(8)), ("kick", "snare"))
    assert proto.unpack_info(proto.pack_info(info)) == info
    assert len(proto.pack_info(info)) <= proto.MAX_LEN[proto.INFO]
    big = proto.Info(2, 3, 1, 1, "k" * 16, class_names=tuple("c" * 24 for _ in range(16)))
    assert len(proto.pack_info(big)) <= proto.MAX_LEN[proto.INFO]  # the maximum really fits
    with pytest.raises(proto.ProtocolError):
        proto.unpack_info(proto.pack_info(info)[:-1])
    pcm = list(range(-256, 256))
    assert proto.unpack_audio(proto.pack_audio(123456, pcm)) == (123456, tuple(pcm))
    assert len(proto.pack_audio(0, [0] * 512)) == proto.MAX_LEN[proto.AUDIO]
    with pytest.raises(proto.ProtocolError):
        proto.pack_audio(0, [0] * 513)
    c = proto.Credit(1000, 512, 3)
    assert proto.unpack_credit(proto.pack_credit(c)) == c
    e = proto.Event(7, 7 * 1024, 1, 3, 0x3F800000, 0x3F000000)
    assert proto.unpack_event(proto.pack_event(e)) == e
    s = proto.Stats(2**40, 2**41, 1, 2, 3, 4, 5, 6, 7)
    assert proto.unpack_stats(proto.pack_stats(s)) == s
    raw = struct.pack("<3f", 1.5, -0.0, float("nan"))
    assert proto.unpack_state(proto.pack_state(9, raw)) == (9, raw)
    assert proto.unpack_error(proto.pack_error(1, 200)) == (1, 200)
    assert proto.unpack_fault(proto.pack_fault("fault: HardFault pc=0x1234")) == (
        "fault: HardFault pc=0x1234"
    )
    for unpack, n in [
        (proto.unpack_credit, 11),
        (proto.unpack_event, 21),
        (proto.unpack_stats, 43),
    ]:
        with pytest.raises(proto.ProtocolError):
            unpack(bytes(n))


# ------------------------------------------------------------------- property tests (hypothesis)

_TYPES = sorted(proto.MAX_LEN)


@st.composite
def _frame(draw):
    t = draw(st.sampled_from(_TYPES))
    n = draw(st.integers(0, min(proto.MAX_LEN[t], 64)))
    return t, draw(st.integers(0, 255)), draw(st.binary(min_size=n, max_size=n))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=2000), cuts=st.lists(st.integers(0, 2000), max_size=8))
def test_decoder_never_crashes_nor_accepts_a_bad_crc(data, cuts):
    dec = proto.Decoder()
    pieces, last = [], 0
    for c in sorted(cuts) + [len(data)]:
        pieces.append(data[last:c])
        last = max(last, c)
    for piece in pieces:
        for f in dec.feed(piece):
            # the frame, with its valid CRC, occurs in the input exactly as decoded
            assert proto.encode(f.type, f.seq, f.payload) in data
            assert f.type in proto.MAX_LEN and len(f.payload) <= proto.MAX_LEN[f.type]
        assert 1 <= dec.wanted() <= proto.OVERHEAD + proto.MAX_PAYLOAD
        assert len(dec._buf) <= proto.OVERHEAD + proto.MAX_PAYLOAD


@settings(max_examples=300, deadline=None)
@given(
    frames=st.lists(_frame(), min_size=1, max_size=8),
    garbage=st.lists(st.binary(max_size=40), min_size=9, max_size=9),
    chunk=st.integers(1, 50),
)
def test_valid_frames_between_garbage_are_all_recovered(frames, garbage, chunk):
    """Garbage without a sync pattern between frames: every frame comes out, in order. (Garbage
    that contains A5 5A and a plausible header may announce a length that swallows bytes; that case
    is covered by the retry tests on the real link.)"""
    garbage = [g.replace(b"\xa5", b"\x00") for g in garbage]
    stream = garbage[0]
    for i, (t, s, p) in enumerate(frames):
        stream += proto.encode(t, s, p) + garbage[i + 1]
    dec = proto.Decoder()
    got = []
    for i in range(0, len(stream), chunk):
        got += dec.feed(stream[i : i + chunk])
    assert _frames(got) == frames


@settings(max_examples=200, deadline=None)
@given(frames=st.lists(_frame(), min_size=2, max_size=6), seed=st.integers(0, 2**32 - 1))
def test_corrupting_one_frame_loses_only_that_frame(frames, seed):
    """One byte of one frame flipped: every other frame is still recovered (resync one byte after
    the rejected sync), none is invented."""
    rnd = random.Random(seed)
    enc = [bytearray(proto.encode(*f)) for f in frames]
    k = rnd.randrange(len(enc))
    enc[k][rnd.randrange(len(enc[k]))] ^= 1 << rnd.randrange(8)
    stream = b"".join(bytes(e) for e in enc)
    # pad so that a corrupt length, which may wait for more bytes, is resolved
    got = proto.Decoder().feed(stream + bytes(proto.OVERHEAD + proto.MAX_PAYLOAD))
    assert _frames(got) == [f for i, f in enumerate(frames) if i != k]


# ------------------------------------------------------------- the checks fail on a wrong decoder

_MUTANTS = {
    "raises-on-bad-crc (v1)": ("self.counts.crc_errors += 1", "raise ProtocolError('crc')"),
    "no-length-bound (v1)": ("if n > self.limits[type_]:", "if False:"),
    "skips-whole-frame-on-bad-crc (v1)": (
        "self.counts.crc_errors += 1\n                self._skip(1)",
        "self.counts.crc_errors += 1\n                self._skip(OVERHEAD + n)",
    ),
    "no-crc-check": ("if crc != crc16(body):", "if False:"),
}


@pytest.mark.parametrize("name", sorted(_MUTANTS))
def test_checks_fail_on_mutant_decoders(name, monkeypatch):
    import sys
    import types
    from pathlib import Path

    old, new = _MUTANTS[name]
    src = Path(proto.__file__).read_text()
    assert old in src, f"mutation target of {name} not found"
    mutant = types.ModuleType("protocol_mutant")
    monkeypatch.setitem(sys.modules, "protocol_mutant", mutant)
    exec(compile(src.replace(old, new), "protocol_mutant.py", "exec"), mutant.__dict__)
    monkeypatch.setattr(sys.modules[__name__], "proto", mutant)
    checks = [
        test_round_trip_with_garbage_and_split_reads,
        test_feed_keeps_frames_decoded_before_a_bad_crc,
        test_corrupt_length_rejected_at_once_and_next_frame_recovered,
        test_tightened_limit_and_swallowed_frame_found,
        test_decoder_never_crashes_nor_accepts_a_bad_crc,
        test_corrupting_one_frame_loses_only_that_frame,
    ]
    caught = []
    for check in checks:
        try:
            check()
        except Exception as err:  # an assertion, or the mutant raising
            caught.append((check.__name__, type(err).__name__))
    assert caught, f"no check caught the mutant {name}"
