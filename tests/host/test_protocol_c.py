"""The C side of protocol v2 (firmware/src/tu_proto_*.c) built for the host and driven through
ctypes: the same table of types and maximum lengths as protocol.py, the same frames, the same
payload bytes for every codec, over-long lengths rejected as soon as the header is complete.
Mutants of the parser show that these checks fail when the code is wrong."""

from __future__ import annotations

import ctypes as C
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from tinyunfold.tools import protocol as proto

REPO = Path(__file__).resolve().parents[2]
SOURCES = sorted((REPO / "firmware/src").glob("tu_proto_*.c"))
NEED_MORE, FRAME, BAD_CRC, TOO_LONG, BAD_TYPE = range(5)


class Parser(C.Structure):
    _fields_ = [
        ("payload", C.POINTER(C.c_uint8)),
        ("capacity", C.c_uint16),
        ("state", C.c_uint8),
        ("hunting", C.c_uint8),
        ("type", C.c_uint8),
        ("seq", C.c_uint8),
        ("len", C.c_uint16),
        ("index", C.c_uint16),
        ("crc", C.c_uint16),
        ("crc_rx", C.c_uint16),
        ("frames_ok", C.c_uint32),
        ("crc_errors", C.c_uint32),
        ("length_errors", C.c_uint32),
        ("resyncs", C.c_uint32),
        ("rescan_pos", C.c_uint32),
        ("rescan_end", C.c_uint32),
        ("rescan_start", C.c_uint32),
        ("rescan_n", C.c_uint16),
        ("rescan_head", C.c_uint8 * 5),
        ("rescan_tail", C.c_uint8 * 2),
    ]


class Info(C.Structure):
    _fields_ = [
        ("proto", C.c_uint8),
        ("abi", C.c_uint16),
        ("in_len", C.c_uint32),
        ("out_len", C.c_uint32),
        ("sample_rate", C.c_uint32),
        ("hop", C.c_uint16),
        ("window", C.c_uint16),
        ("stride", C.c_uint16),
        ("model_hash", C.c_uint8 * 8),
        ("kind", C.c_char_p),
        ("kind_len", C.c_uint8),
        ("n_classes", C.c_uint8),
        ("class_names", C.c_char_p * 16),
        ("class_len", C.c_uint8 * 16),
    ]


class Credit(C.Structure):
    _fields_ = [("next_sample", C.c_uint32), ("credit", C.c_uint32), ("overruns", C.c_uint32)]


class Event(C.Structure):
    _fields_ = [
        ("window", C.c_uint32),
        ("start_sample", C.c_uint32),
        ("class_index", C.c_uint16),
        ("onset_frame", C.c_uint16),
        ("score_bits", C.c_uint32),
        ("thresh_bits", C.c_uint32),
    ]


class Stats(C.Structure):
    _fields_ = [("ticks_last", C.c_uint64), ("ticks_max", C.c_uint64)] + [
        (n, C.c_uint32)
        for n in (
            "frames_ok crc_errors length_errors resyncs duplicates overruns stack_hwm".split()
        )
    ]


def build_lib(out: Path, replace: tuple[str, str, str] | None = None) -> C.CDLL:
    """Compile the protocol sources into a shared library; ``replace`` = (file name, old, new)
    makes a mutant."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    assert gcc, "a host C compiler (gcc) is needed: apt-get install gcc"
    srcs = []
    for s in SOURCES:
        if replace and s.name == replace[0]:
            text = s.read_text()
            assert replace[1] in text, f"mutation target not found in {s.name}"
            m = out.parent / s.name
            m.write_text(text.replace(replace[1], replace[2]))
            s = m
        srcs.append(str(s))
    cmd = [gcc, "-shared", "-fPIC", "-O1", "-std=c11", "-Wall", "-Werror", "-ffp-contract=off"]
    cmd += [f"-I{REPO / 'firmware/include'}", f"-I{REPO / 'firmware/src'}", *srcs, "-o", str(out)]
    subprocess.run(cmd, check=True, timeout=120)
    lib = C.CDLL(str(out))
    lib.tu_proto_crc16.restype = C.c_uint16
    lib.tu_proto_max_len.restype = C.c_uint16
    lib.tu_proto_parser_push.restype = C.c_int
    if hasattr(lib, "tu_proto_parser_resume"):  # absent from the parser before the re-scan
        lib.tu_proto_parser_resume.restype = C.c_int
    for f in ("encode", "info_pack", "audio_pack", "credit_pack", "event_pack", "stats_pack",
              "state_pack", "error_pack", "fault_pack"):  # fmt: skip
        getattr(lib, f"tu_proto_{f}").restype = C.c_size_t
    return lib


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    return build_lib(tmp_path_factory.mktemp("proto") / "libtuproto.so")


class CParser:
    def __init__(self, lib: C.CDLL, capacity: int = 20000) -> None:
        self.lib = lib
        # guard room past the capacity: a mutant that ignores the bound writes there harmlessly
        self.buf = (C.c_uint8 * (capacity + 70000))()
        self.p = Parser()
        lib.tu_proto_parser_init(C.byref(self.p), self.buf, capacity)

    def push(self, data: bytes) -> list[tuple[int, int | tuple[int, int, bytes]]]:
        """Events other than NEED_MORE as (byte index, frame or event code), the events of the
        re-scan (tu_proto_parser_resume) included."""
        out: list[tuple[int, int | tuple[int, int, bytes]]] = []
        resume = getattr(self.lib, "tu_proto_parser_resume", None)
        for i, b in enumerate(data):
            ev = self.lib.tu_proto_parser_push(C.byref(self.p), b)
            while ev != NEED_MORE:
                if ev == FRAME:
                    out.append((i, (self.p.type, self.p.seq, bytes(self.buf[: self.p.len]))))
                else:
                    out.append((i, ev))
                ev = resume(C.byref(self.p)) if resume is not None else NEED_MORE
        return out

    def frames(self, data: bytes) -> list[tuple[int, int, bytes]]:
        return [e for _, e in self.push(data) if isinstance(e, tuple)]


def test_same_table_of_types_and_maximum_lengths(lib):
    known = C.c_int()
    c_table = {}
    for t in range(256):
        n = lib.tu_proto_max_len(t, C.byref(known))
        if known.value:
            c_table[t] = n
    assert c_table == proto.MAX_LEN


def test_crc_and_encode_match_python(lib):
    assert lib.tu_proto_crc16(0xFFFF, b"123456789", 9) == 0x29B1
    rnd = random.Random(3)
    for _ in range(50):
        t = rnd.choice(sorted(proto.MAX_LEN))
        payload = bytes(
            rnd.randrange(256) for _ in range(rnd.randrange(min(64, proto.MAX_LEN[t]) + 1))
        )
        dst = (C.c_uint8 * (len(payload) + 8))()
        parts = (C.c_void_p * 1)(C.cast(C.c_char_p(payload), C.c_void_p))
        sizes = (C.c_size_t * 1)(len(payload))
        n = lib.tu_proto_encode(dst, t, 77, parts, sizes, 1)
        assert bytes(dst[:n]) == proto.encode(t, 77, payload)


def test_parser_decodes_what_python_encodes_and_rejects_at_once(lib):
    a = proto.encode(proto.INFER, 1, bytes(range(40)))
    b = proto.encode(proto.HELLO, 2, b"\x02")
    cp = CParser(lib, capacity=40)
    assert cp.frames(b"\x00\x13\xa5" + a + b"zz" + b) == [
        (proto.INFER, 1, bytes(range(40))),
        (proto.HELLO, 2, b"\x02"),
    ]
    assert (cp.p.frames_ok, cp.p.resyncs) == (2, 2)
    # over the receive buffer (capacity 40) and over the type's maximum (HELLO: 1 byte)
    for header in (b"\xa5\x5a\x02\x09\x29\x00", b"\xa5\x5a\x01\x09\x02\x00"):
        cp = CParser(lib, capacity=40)
        assert cp.push(header + bytes(50) + a) == [(5, TOO_LONG), (6 + 50 + len(a) - 1, a_frame(a))]
        assert cp.p.length_errors == 1
    cp = CParser(lib)
    assert cp.push(b"\xa5\x5a\x42" + a) == [(2, BAD_TYPE), (3 + len(a) - 1, a_frame(a))]
    cp = CParser(lib)  # a sync where the type should be: the next frame starts there
    assert cp.push(b"\xa5\x5a" + a) == [(2, BAD_TYPE), (2 + len(a) - 1, a_frame(a))]
    bad = bytearray(a)
    bad[10] ^= 1
    cp = CParser(lib)
    assert cp.push(bytes(bad) + b) == [(len(a) - 1, BAD_CRC), (len(a) + len(b) - 1, a_frame(b))]
    assert (cp.p.crc_errors, cp.p.resyncs) == (1, 1)


def a_frame(f: bytes) -> tuple[int, int, bytes]:
    return f[2], f[3], f[6:-2]


def test_parser_on_random_garbage_with_frames(lib):
    """The same frames as the Python decoder on frames separated by garbage without sync bytes,
    and only CRC-valid frames from random bytes."""
    rnd = random.Random(11)
    for _ in range(30):
        frames = []
        stream = b""
        for _ in range(rnd.randrange(1, 6)):
            t = rnd.choice(sorted(proto.MAX_LEN))
            p = bytes(
                rnd.randrange(256) for _ in range(rnd.randrange(min(30, proto.MAX_LEN[t]) + 1))
            )
            frames.append((t, rnd.randrange(256), p))
            junk = bytes(rnd.randrange(256) for _ in range(rnd.randrange(20))).replace(b"\xa5", b"")
            stream += junk + proto.encode(*frames[-1])
        assert CParser(lib).frames(stream) == frames
        noise = bytes(rnd.randrange(256) for _ in range(3000))
        for f in CParser(lib).frames(noise):
            assert proto.encode(*f) in noise


def test_payload_codecs_match_python(lib):
    buf = (C.c_uint8 * 2048)()
    # INFO
    info = proto.Info(2, 3, 36, 12, "padnmf", 16000, 256, 8, 4, bytes(range(8)), ("kick", "sn"))
    m = Info(2, 3, 36, 12, 16000, 256, 8, 4, (C.c_uint8 * 8)(*range(8)), b"padnmf", 6, 2)
    m.class_names[0], m.class_len[0] = b"kick", 4
    m.class_names[1], m.class_len[1] = b"sn", 2
    n = lib.tu_proto_info_pack(buf, 1024, C.byref(m))
    assert bytes(buf[:n]) == proto.pack_info(info)
    back = Info()
    raw = proto.pack_info(info)
    assert lib.tu_proto_info_unpack(raw, len(raw), C.byref(back)) == 0
    assert (back.in_len, back.out_len, back.sample_rate, back.n_classes) == (36, 12, 16000, 2)
    assert C.string_at(back.class_names[1], back.class_len[1]) == b"sn"
    assert lib.tu_proto_info_unpack(raw[:-1], len(raw) - 1, C.byref(back)) != 0
    assert lib.tu_proto_info_pack(buf, n - 1, C.byref(m)) == 0  # does not fit: nothing written
    # AUDIO
    pcm = list(range(-300, 212))
    samples = (C.c_int16 * 512)(*pcm)
    n = lib.tu_proto_audio_pack(buf, 2048, 99, samples, 512)
    assert bytes(buf[:n]) == proto.pack_audio(99, pcm)
    assert lib.tu_proto_audio_pack(buf, 2000, 0, samples, 513) == 0
    start, count, got = C.c_uint32(), C.c_uint16(), (C.c_int16 * 512)()
    raw = proto.pack_audio(7, pcm)
    assert lib.tu_proto_audio_unpack(raw, len(raw), C.byref(start), got, 512, C.byref(count)) == 0
    assert (start.value, count.value, list(got)) == (7, 512, pcm)
    assert lib.tu_proto_audio_unpack(raw, len(raw), C.byref(start), got, 511, C.byref(count)) != 0
    # CREDIT, EVENT, STATS
    for cls, pack, unpack, py in [
        (Credit, "credit_pack", "credit_unpack", proto.Credit(5, 6, 7)),
        (Event, "event_pack", "event_unpack", proto.Event(1, 2, 3, 4, 0x3F800000, 0xFF800000)),
        (Stats, "stats_pack", "stats_unpack", proto.Stats(2**40 + 1, 2**63, 1, 2, 3, 4, 5, 6, 7)),
    ]:
        c = cls(*vars(py).values())
        n = getattr(lib, f"tu_proto_{pack}")(buf, 1024, C.byref(c))
        raw = getattr(proto, f"pack_{pack.split('_')[0]}")(py)
        assert bytes(buf[:n]) == raw
        back = cls()
        assert getattr(lib, f"tu_proto_{unpack}")(raw, len(raw), C.byref(back)) == 0
        assert [getattr(back, f) for f, _ in cls._fields_] == list(vars(py).values())
        assert getattr(lib, f"tu_proto_{unpack}")(raw, len(raw) - 1, C.byref(back)) != 0
        assert getattr(lib, f"tu_proto_{pack}")(buf, len(raw) - 1, C.byref(c)) == 0
    # STATE: float bits untouched (NaN payload, -0.0)
    bits = [0x7FC00001, 0x80000000, 0x3F800000]
    x = (C.c_uint32 * 3)(*bits)
    n = lib.tu_proto_state_pack(buf, 1024, 42, C.cast(x, C.POINTER(C.c_float)), 3)
    raw = proto.pack_state(42, b"".join(b.to_bytes(4, "little") for b in bits))
    assert bytes(buf[:n]) == raw
    step, cnt, y = C.c_uint32(), C.c_uint16(), (C.c_uint32 * 3)()
    yp = C.cast(y, C.POINTER(C.c_float))
    assert lib.tu_proto_state_unpack(raw, len(raw), C.byref(step), yp, 3, C.byref(cnt)) == 0
    assert (step.value, cnt.value, list(y)) == (42, 3, bits)
    # ERROR, FAULT
    n = lib.tu_proto_error_pack(buf, 1024, 4, 201)
    assert bytes(buf[:n]) == proto.pack_error(4, 201)
    code, ref = C.c_uint8(), C.c_uint8()
    assert lib.tu_proto_error_unpack(b"\x04\xc9", 2, C.byref(code), C.byref(ref)) == 0
    assert (code.value, ref.value) == (4, 201)
    line = "fault: HardFault pc=0x00001234 cfsr=0x00000400 " * 5
    n = lib.tu_proto_fault_pack(buf, 1024, line.encode())
    assert bytes(buf[:n]) == proto.pack_fault(line) and n == proto.MAX_LEN[proto.FAULT]


@pytest.mark.parametrize(
    "mutation",
    [
        ("tu_proto_parser_step.c", "if (P->len > max) {", "if (0) {"),  # no length bound
        ("tu_proto_parser_step.c", "if (P->crc_rx == P->crc) {", "if (1) {"),  # no CRC check
        ("tu_proto_max_len.c", "n = TU_PROTO_LEN_EVENT;", "n = 24U;"),  # tables differ
        ("tu_proto_stats_pack.c", "tu_le_put32(&dst[32], m->duplicates);", ""),
    ],
    ids=["no-length-bound", "no-crc-check", "table-differs", "stats-field-missing"],
)
def test_checks_fail_on_mutants(tmp_path, mutation):
    mutant = build_lib(tmp_path / "libmutant.so", mutation)
    checks = [
        test_same_table_of_types_and_maximum_lengths,
        test_parser_decodes_what_python_encodes_and_rejects_at_once,
        test_payload_codecs_match_python,
    ]
    failed = 0
    for check in checks:
        try:
            check(mutant)
        except AssertionError:
            failed += 1
    assert failed >= 1, f"no check caught the mutant {mutation}"
