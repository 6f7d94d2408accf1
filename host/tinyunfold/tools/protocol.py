"""The serial-link protocol (docs/protocol.md), host side: frame encoding and a stream decoder.

Frame: ``A5 5A | type u8 | seq u8 | len u16 LE | payload | crc u16 LE`` with CRC-16/CCITT-FALSE
over type, seq, len and payload — the same as ``firmware/src/tu_proto_*.c``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from tinyunfold.errors import TinyUnfoldError

SYNC = b"\xa5\x5a"
HELLO, INFER, BYE = 0x01, 0x02, 0x03
INFO, RESULT, BYE_ACK, ERROR = 0x81, 0x82, 0x83, 0xEE
ERROR_NAMES = {
    1: "CRC mismatch",
    2: "wrong payload length",
    3: "unknown message type",
    4: "payload too long",
    5: "model error",
}
MAX_PAYLOAD = 0xFFFF


class ProtocolError(TinyUnfoldError):
    """A corrupt, unexpected or missing frame on the serial link."""

    exit_code = 5


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE.

    >>> hex(crc16(b"123456789"))
    '0x29b1'
    """
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes


def encode(type_: int, seq: int, payload: bytes = b"") -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    body = struct.pack("<BBH", type_, seq & 0xFF, len(payload)) + payload
    return SYNC + body + struct.pack("<H", crc16(body))


class Decoder:
    """Incremental decoder: ``feed(bytes)`` returns the complete frames; bad CRCs raise."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def wanted(self) -> int:
        """Bytes still missing from the frame being received (at least 1).

        Reading exactly this many never asks for more than the device sent, so a link that
        closes right after its last frame (the firmware exits after BYE_ACK) loses nothing.
        """
        start = self._buf.find(SYNC)
        if start < 0:
            return 2 if not self._buf or self._buf[-1] != SYNC[0] else 1
        have = len(self._buf) - start
        if have < 6:
            return 6 - have
        (n,) = struct.unpack_from("<H", self._buf, start + 4)
        return max(1, 8 + n - have)

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        while True:
            start = self._buf.find(SYNC)
            if start < 0:
                del self._buf[: max(0, len(self._buf) - 1)]
                return frames
            del self._buf[:start]
            if len(self._buf) < 6:
                return frames
            type_, seq, n = struct.unpack_from("<BBH", self._buf, 2)
            if len(self._buf) < 8 + n:
                return frames
            body = bytes(self._buf[2 : 6 + n])
            (crc,) = struct.unpack_from("<H", self._buf, 6 + n)
            del self._buf[: 8 + n]
            if crc != crc16(body):
                raise ProtocolError(
                    f"corrupt frame from the device (type 0x{type_:02x}, CRC mismatch)",
                    "check the serial link (baud rate, cable); the frame was dropped",
                )
            frames.append(Frame(type_, seq, body[4:]))
