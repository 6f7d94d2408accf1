import struct

import pytest

from tinyunfold.tools import protocol as proto


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
    assert [(f.type, f.seq, f.payload) for f in frames] == [
        (proto.RESULT, 7, b"\x01\x02\x03"),
        (proto.INFO, 8, b""),
    ]


def test_corrupt_frame_raises():
    bad = bytearray(proto.encode(proto.RESULT, 1, b"abcd"))
    bad[7] ^= 0x40
    with pytest.raises(proto.ProtocolError, match="CRC mismatch"):
        proto.Decoder().feed(bytes(bad))


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


def test_header_layout():
    f = proto.encode(0x02, 0x1FF, b"xyz")
    assert f[:2] == b"\xa5\x5a"
    assert struct.unpack_from("<BBH", f, 2) == (0x02, 0xFF, 3)
    with pytest.raises(proto.ProtocolError):
        proto.encode(0x02, 0, bytes(70000))
