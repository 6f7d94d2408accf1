"""The serial-link protocol v2 (docs/protocol.md), host side: frame encoding, a stream decoder
that never raises and never loses a decoded frame, and the payload codecs of every frame type.

Frame: ``A5 5A | type u8 | seq u8 | len u16 LE | payload | crc u16 LE`` with CRC-16/CCITT-FALSE
over type, seq, len and payload — the same as ``firmware/src/tu_proto_*.c``. ``MAX_LEN`` is the
host's copy of the one table of types and maximum lengths (``tu_proto_max_len`` on the device);
``tests/host/test_protocol_c.py`` checks the two agree.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tinyunfold.errors import TinyUnfoldError

VERSION = 2
SYNC = b"\xa5\x5a"
HEADER, OVERHEAD = 6, 8

# Frame types (host -> device, then device -> host with bit 7 set).
HELLO, INFER, BYE, AUDIO, GET_STATS, GET_STATE = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
INFO, RESULT, BYE_ACK, CREDIT, STATS, STATE, EVENT = 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87
ERROR, FAULT = 0xEE, 0xEF

AUDIO_MAX_SAMPLES = 512
STATE_MAX_N = 64
INFER_MAX = 32768  # 8192 float32
INFO_MAX_CLASSES, INFO_MAX_NAME, INFO_MAX_KIND = 16, 24, 16

#: The one host-side table: frame type -> (name, maximum payload length in bytes).
TYPES: dict[int, tuple[str, int]] = {
    HELLO: ("HELLO", 1),
    INFER: ("INFER", INFER_MAX),
    BYE: ("BYE", 0),
    AUDIO: ("AUDIO", 4 + 2 * AUDIO_MAX_SAMPLES),
    GET_STATS: ("GET_STATS", 0),
    GET_STATE: ("GET_STATE", 0),
    INFO: ("INFO", 512),
    RESULT: ("RESULT", 12 + INFER_MAX),
    BYE_ACK: ("BYE_ACK", 0),
    CREDIT: ("CREDIT", 12),
    STATS: ("STATS", 44),
    STATE: ("STATE", 4 + 4 * STATE_MAX_N),
    EVENT: ("EVENT", 20),
    ERROR: ("ERROR", 2),
    FAULT: ("FAULT", 160),
}
MAX_LEN: dict[int, int] = {t: n for t, (_, n) in TYPES.items()}
MAX_PAYLOAD = max(MAX_LEN.values())

ERR_CRC, ERR_LENGTH, ERR_TYPE, ERR_TOO_LONG, ERR_MODEL, ERR_OVERRUN, ERR_GAP = range(1, 8)
ERROR_NAMES = {
    ERR_CRC: "CRC mismatch",
    ERR_LENGTH: "wrong payload length",
    ERR_TYPE: "unknown message type",
    ERR_TOO_LONG: "payload too long",
    ERR_MODEL: "model error",
    ERR_OVERRUN: "audio past the credit",
    ERR_GAP: "audio gap",
}
#: Codes that mean "a frame was lost on the link": the host sends its request again.
LOST_FRAME_CODES = frozenset({ERR_CRC, ERR_LENGTH, ERR_TYPE, ERR_TOO_LONG})


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
    """One frame. Raises `ProtocolError` for a payload over the type's maximum."""
    limit = MAX_LEN.get(type_, MAX_PAYLOAD)
    if len(payload) > limit:
        raise ProtocolError(
            f"payload of {len(payload)} bytes exceeds the maximum {limit} of frame type "
            f"0x{type_:02x}",
            "split the data (docs/protocol.md lists the maximum of each type)",
        )
    body = struct.pack("<BBH", type_, seq & 0xFF, len(payload)) + payload
    return SYNC + body + struct.pack("<H", crc16(body))


@dataclass
class DecoderCounts:
    """What a `Decoder` dropped: frames with a bad CRC, rejected headers, skipped byte runs."""

    frames: int = 0
    crc_errors: int = 0
    length_errors: int = 0  # announced length over the type's maximum
    type_errors: int = 0  # unknown type
    resyncs: int = 0  # valid frames after skipped bytes (the device counts the same)


class Decoder:
    """Incremental frame decoder.

    ``feed(bytes)`` returns every complete, CRC-valid frame and never raises. A header with an
    unknown type or a length over the type's maximum (``limits``, default `MAX_LEN`) is rejected
    as soon as it is complete; after any rejection the search restarts one byte after the rejected
    sync, so a frame swallowed by a corrupt length is still found. Memory is bounded by the largest
    frame of the known types.

    Parameters
    ----------
    limits : mapping type -> maximum payload length, optional
        Tighter bounds (e.g. RESULT = 12 + 4 * out_len once INFO is known); types missing from
        it keep `MAX_LEN`.
    """

    def __init__(self, limits: Mapping[int, int] | None = None) -> None:
        self._buf = bytearray()
        self.limits = dict(MAX_LEN)
        if limits:
            self.limits.update({t: min(n, MAX_LEN.get(t, n)) for t, n in limits.items()})
        self.counts = DecoderCounts()
        self._hunting = False

    def _header(self) -> int | None:
        """Payload length of the candidate at the buffer start, or None when it is rejected.
        The buffer starts with SYNC and holds at least HEADER bytes."""
        type_, n = self._buf[2], self._buf[4] | (self._buf[5] << 8)
        if type_ not in self.limits:
            self.counts.type_errors += 1
            return None
        if n > self.limits[type_]:
            self.counts.length_errors += 1
            return None
        return n

    def wanted(self) -> int:
        """Bytes still missing from the frame being received (at least 1, at most one frame).

        Reading exactly this many never asks for more than the device sent, so a link that
        closes right after its last frame (the firmware exits after BYE_ACK) loses nothing.
        """
        start = self._buf.find(SYNC)
        if start < 0:
            return 2 if not self._buf or self._buf[-1] != SYNC[0] else 1
        have = len(self._buf) - start
        if have < HEADER:
            return HEADER - have
        type_, n = self._buf[start + 2], self._buf[start + 4] | (self._buf[start + 5] << 8)
        if type_ not in self.limits or n > self.limits[type_]:
            return 1  # feed() rejects this header at once
        return max(1, OVERHEAD + n - have)

    def _skip(self, n: int) -> None:
        del self._buf[:n]
        self._hunting = True

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        while True:
            start = self._buf.find(SYNC)
            if start < 0:
                keep = 1 if self._buf[-1:] == SYNC[:1] else 0
                if len(self._buf) > keep:
                    self._skip(len(self._buf) - keep)
                return frames
            if start > 0:
                self._skip(start)
            if len(self._buf) < HEADER:
                return frames
            n = self._header()
            if n is None:
                self._skip(1)
                continue
            if len(self._buf) < OVERHEAD + n:
                return frames
            body = bytes(self._buf[2 : HEADER + n])
            crc = self._buf[HEADER + n] | (self._buf[HEADER + n + 1] << 8)
            if crc != crc16(body):
                self.counts.crc_errors += 1
                self._skip(1)
                continue
            if self._hunting:
                self.counts.resyncs += 1
                self._hunting = False
            del self._buf[: OVERHEAD + n]
            self.counts.frames += 1
            frames.append(Frame(body[0], body[1], body[4:]))


# ---------------------------------------------------------------------------------------------
# Payload codecs (the same layouts as tu_proto_*_pack/unpack.c). Unpackers raise ProtocolError.


def _need(payload: bytes, n: int, what: str) -> None:
    if len(payload) != n:
        raise ProtocolError(f"{what} payload of {len(payload)} bytes (expected {n})")


@dataclass(frozen=True)
class Info:
    """INFO payload: protocol and ABI versions, shapes, audio framing, model hash, class names."""

    proto: int
    abi: int
    in_len: int
    out_len: int
    kind: str
    sample_rate: int = 0
    hop: int = 0
    window: int = 0
    stride: int = 0
    model_hash: bytes = bytes(8)
    class_names: tuple[str, ...] = field(default_factory=tuple)


_INFO_FIXED = struct.Struct("<BHIIIHHH8s")


def pack_info(m: Info) -> bytes:
    kind = m.kind.encode("ascii")
    names = [c.encode("ascii") for c in m.class_names]
    if (
        len(kind) > INFO_MAX_KIND
        or len(names) > INFO_MAX_CLASSES
        or any(len(c) > INFO_MAX_NAME for c in names)
        or len(m.model_hash) != 8
    ):
        raise ProtocolError("INFO: kind, class names or model hash too long")
    out = _INFO_FIXED.pack(
        m.proto, m.abi, m.in_len, m.out_len, m.sample_rate, m.hop, m.window, m.stride, m.model_hash
    )
    out += bytes([len(kind)]) + kind + bytes([len(names)])
    for c in names:
        out += bytes([len(c)]) + c
    return out


def unpack_info(p: bytes) -> Info:
    if not _INFO_FIXED.size + 2 <= len(p) <= MAX_LEN[INFO]:
        raise ProtocolError(f"INFO payload of {len(p)} bytes")
    proto, abi, in_len, out_len, sr, hop, window, stride, h = _INFO_FIXED.unpack_from(p)
    pos = _INFO_FIXED.size

    def text(limit: int) -> str:
        nonlocal pos
        n = p[pos]
        if n > limit or pos + 1 + n > len(p):
            raise ProtocolError("INFO: a string runs past the payload")
        s = p[pos + 1 : pos + 1 + n].decode("ascii", "replace")
        pos += 1 + n
        return s

    kind = text(INFO_MAX_KIND)
    if pos >= len(p) or p[pos] > INFO_MAX_CLASSES:
        raise ProtocolError("INFO: class count missing or over 16")
    n_classes = p[pos]
    pos += 1
    names = []
    for _ in range(n_classes):
        if pos >= len(p):
            raise ProtocolError("INFO: class names run past the payload")
        names.append(text(INFO_MAX_NAME))
    if pos != len(p):
        raise ProtocolError("INFO: trailing bytes")
    return Info(proto, abi, in_len, out_len, kind, sr, hop, window, stride, h, tuple(names))


def pack_audio(start: int, samples: Sequence[int]) -> bytes:
    """AUDIO payload: ``start`` (index of the first sample) + int16 PCM (at most 512)."""
    if len(samples) > AUDIO_MAX_SAMPLES:
        raise ProtocolError(f"AUDIO of {len(samples)} samples (at most {AUDIO_MAX_SAMPLES})")
    return struct.pack(f"<I{len(samples)}h", start, *samples)


def unpack_audio(p: bytes) -> tuple[int, tuple[int, ...]]:
    if len(p) < 4 or len(p) > MAX_LEN[AUDIO] or len(p) % 2:
        raise ProtocolError(f"AUDIO payload of {len(p)} bytes")
    (start,) = struct.unpack_from("<I", p)
    return start, struct.unpack_from(f"<{(len(p) - 4) // 2}h", p, 4)


@dataclass(frozen=True)
class Credit:
    next_sample: int
    credit: int
    overruns: int


def pack_credit(m: Credit) -> bytes:
    return struct.pack("<III", m.next_sample, m.credit, m.overruns)


def unpack_credit(p: bytes) -> Credit:
    _need(p, MAX_LEN[CREDIT], "CREDIT")
    return Credit(*struct.unpack("<III", p))


@dataclass(frozen=True)
class Event:
    """EVENT payload; ``score_bits``/``thresh_bits`` are float32 bits (uint32)."""

    window: int
    start_sample: int
    class_index: int
    onset_frame: int
    score_bits: int
    thresh_bits: int


_EVENT = struct.Struct("<IIHHII")


def pack_event(m: Event) -> bytes:
    return _EVENT.pack(
        m.window, m.start_sample, m.class_index, m.onset_frame, m.score_bits, m.thresh_bits
    )


def unpack_event(p: bytes) -> Event:
    _need(p, MAX_LEN[EVENT], "EVENT")
    return Event(*_EVENT.unpack(p))


@dataclass(frozen=True)
class Stats:
    ticks_last: int
    ticks_max: int
    frames_ok: int
    crc_errors: int
    length_errors: int
    resyncs: int
    duplicates: int
    overruns: int
    stack_hwm: int


_STATS = struct.Struct("<QQIIIIIII")


def pack_stats(m: Stats) -> bytes:
    return _STATS.pack(
        m.ticks_last, m.ticks_max, m.frames_ok, m.crc_errors, m.length_errors, m.resyncs,
        m.duplicates, m.overruns, m.stack_hwm,
    )  # fmt: skip


def unpack_stats(p: bytes) -> Stats:
    _need(p, MAX_LEN[STATS], "STATS")
    return Stats(*_STATS.unpack(p))


def pack_state(step: int, x: Sequence[float] | bytes) -> bytes:
    """STATE payload: step index + float32 values (given as floats or as raw LE float32 bytes)."""
    raw = x if isinstance(x, bytes) else struct.pack(f"<{len(x)}f", *x)
    if len(raw) % 4 or len(raw) // 4 > STATE_MAX_N:
        raise ProtocolError(f"STATE of {len(raw) / 4:g} values (at most {STATE_MAX_N})")
    return struct.pack("<I", step) + raw


def unpack_state(p: bytes) -> tuple[int, bytes]:
    """Returns (step, raw little-endian float32 bytes) — bits untouched."""
    if len(p) < 4 or len(p) > MAX_LEN[STATE] or len(p) % 4:
        raise ProtocolError(f"STATE payload of {len(p)} bytes")
    return struct.unpack_from("<I", p)[0], bytes(p[4:])


def pack_error(code: int, ref_seq: int) -> bytes:
    return bytes([code & 0xFF, ref_seq & 0xFF])


def unpack_error(p: bytes) -> tuple[int, int]:
    _need(p, MAX_LEN[ERROR], "ERROR")
    return p[0], p[1]


def pack_fault(line: str) -> bytes:
    return line.encode("ascii", "replace")[: MAX_LEN[FAULT]]


def unpack_fault(p: bytes) -> str:
    return p.decode("ascii", "replace")
