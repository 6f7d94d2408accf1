"""The streaming firmware over the serial link: loaded through GDB into QEMU, driven with pyserial
over socket://, every result bit-exact; corrupt frames get an ERROR and lose nothing after them."""

import numpy as np
import pytest

from tinyunfold.cli import main
from tinyunfold.models.nmf import NMFInference
from tinyunfold.tools import protocol as proto
from tinyunfold.tools.build import build_model
from tinyunfold.tools.deploy import golden_batch
from tinyunfold.tools.link import open_board


def _model():
    rng = np.random.default_rng(5)
    W = rng.random((12, 4)).astype(np.float32)
    X = rng.random((3, 12, 3)).astype(np.float32)
    return NMFInference(W, n_layers=8, alpha_h=0.01, n_frames=3).to_modelfile(), X


def _expect_error(link, code, ref):
    """The next frame is ERROR(code, ref)."""
    f = link.read_frame()
    assert f is not None and f.type == proto.ERROR, f
    assert proto.unpack_error(f.payload) == (code, ref)


class _DropFirstWrite:
    """A transport whose first write is lost on the way (the device never sees it)."""

    def __init__(self, t):
        self.t, self.dropped = t, False

    def write(self, data):
        if self.dropped:
            self.t.write(data)
        self.dropped = True

    def read(self, n):
        return self.t.read(n)


@pytest.mark.parametrize("board", ["mps2-an386", "mps2-an500", "stm32f405", "host"])
def test_stream_bit_exact_and_robust(board):
    model, X = _model()
    b = build_model(model, board, program="stream")
    with open_board(b.board, b.artifact, timeout_s=60, link_timeout_s=2.0) as s:
        if board != "host":
            assert "Transfer rate" in s.gdb_log and s.serial_url.startswith("socket://")
        info = s.link.hello()
        assert (info.kind, info.in_len, info.out_len, info.proto_version) == ("nmf", 36, 12, 2)
        for x in X:
            out, ticks = s.link.infer(x.ravel(), info.out_len)
            assert np.array_equal(
                out.view(np.uint32), golden_batch(model, x[None])[0].view(np.uint32)
            )
            assert ticks > 0
        # a corrupted payload byte: the device answers ERROR(CRC, seq) and drops the frame
        bad = bytearray(proto.encode(proto.INFER, 50, X[0].tobytes()))
        bad[10] ^= 0x01
        s.link.send_raw(bytes(bad))
        _expect_error(s.link, proto.ERR_CRC, 50)
        # garbage between frames, a wrong length, an unknown type, an over-long announcement
        s.link.send_raw(b"\x00\x13\xa5\x00")
        s.link.send_raw(proto.encode(proto.INFER, 51, X[0].tobytes()[:-4]))
        _expect_error(s.link, proto.ERR_LENGTH, 51)
        s.link.send_raw(b"\xa5\x5a\x42\x07\x00\x00")  # rejected at the type byte
        _expect_error(s.link, proto.ERR_TYPE, 0)
        s.link.send_raw(b"\xa5\x5a\x02\x09\xff\xff")  # longer than INFER can be: at once
        _expect_error(s.link, proto.ERR_TOO_LONG, 9)
        # a duplicate request (same seq, same bytes) is answered from the cache; another payload
        # under the same seq is computed
        req = proto.encode(proto.INFER, 60, X[1].tobytes())
        s.link.send_raw(req + req)
        r1, r2 = s.link.read_frame(), s.link.read_frame()
        assert r1 == r2 and r1.type == proto.RESULT and r1.seq == 60
        s.link.send_raw(proto.encode(proto.INFER, 60, X[2].tobytes()))
        r3 = s.link.read_frame()
        assert r3.seq == 60 and r3.payload[12:] == golden_batch(model, X[2][None])[0].tobytes()
        st = s.link.stats()
        assert st.duplicates == 1
        assert st.crc_errors == 1 and st.length_errors == 3 and st.resyncs >= 2
        assert st.ticks_max >= st.ticks_last > 0
        # a request lost on the way: the link times out, sends it again with the same seq
        s.link.t = _DropFirstWrite(s.link.t)
        before = s.link.counts.retries
        out, _ = s.link.infer(X[1].ravel(), info.out_len)
        assert np.array_equal(
            out.view(np.uint32), golden_batch(model, X[1][None])[0].view(np.uint32)
        )
        assert s.link.counts.retries == before + 1 and s.link.counts.timeouts >= 1
        s.link.t = s.link.t.t
        s.link.bye()
    assert s.exit_status == 0


def test_cli_stream(tmp_path, capsys):
    from tinyunfold.kinds import save_model

    model, X = _model()
    m, x, o = tmp_path / "m.tum", tmp_path / "x.npy", tmp_path / "o.npy"
    save_model(m, model)
    np.save(x, X)
    assert main(f"stream --model {m} --board mps2-an386 --input {x} --output {o}".split()) == 0
    assert "3/3 blocks bit-exact" in capsys.readouterr().out
    assert np.load(o).shape == (3, 12)
