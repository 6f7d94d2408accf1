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


def _expect_error(link, code):
    with pytest.raises(proto.ProtocolError, match=proto.ERROR_NAMES[code]):
        link._reply(link._seq, proto.RESULT)


@pytest.mark.parametrize("board", ["mps2-an386", "mps2-an500", "stm32f405", "host"])
def test_stream_bit_exact_and_robust(board):
    model, X = _model()
    b = build_model(model, board, program="stream")
    with open_board(b.board, b.artifact, timeout_s=60) as s:
        if board != "host":
            assert "Transfer rate" in s.gdb_log and s.serial_url.startswith("socket://")
        info = s.link.hello()
        assert (info.kind, info.in_len, info.out_len) == ("nmf", 36, 12)
        for x in X:
            out, ticks = s.link.infer(x.ravel(), info.out_len)
            assert np.array_equal(
                out.view(np.uint32), golden_batch(model, x[None])[0].view(np.uint32)
            )
            assert ticks > 0
        # a corrupted payload byte: the device answers ERROR(CRC) and drops the frame
        bad = bytearray(proto.encode(proto.INFER, 50, X[0].tobytes()))
        bad[10] ^= 0x01
        s.link._seq = 50
        s.link.send_raw(bytes(bad))
        _expect_error(s.link, 1)
        # garbage between frames, a wrong length, an unknown type, an over-long announcement
        s.link.send_raw(b"\x00\x13\xa5\x00")
        s.link.request(proto.INFER, X[0].tobytes()[:-4])
        _expect_error(s.link, 2)
        s.link.request(0x42)
        _expect_error(s.link, 3)
        s.link.send_raw(b"\xa5\x5a\x02\x09\xff\xff")
        s.link._seq = 9
        _expect_error(s.link, 4)
        # ...and nothing after them is lost
        out, _ = s.link.infer(X[1].ravel(), info.out_len)
        assert np.array_equal(
            out.view(np.uint32), golden_batch(model, X[1][None])[0].view(np.uint32)
        )
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
