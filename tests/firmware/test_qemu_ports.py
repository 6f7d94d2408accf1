"""QEMU's TCP ports (UART, GDB server): bound by tinyunfold and handed to QEMU (QemuListener), so
no other program or test worker can take them between the choice and QEMU's bind (and a client
can never reach another QEMU); a port the user chose that is taken gives one clear line."""

import socket
import time

import numpy as np
import pytest

from tinyunfold.errors import SimulationError
from tinyunfold.models.nmf import NMFInference
from tinyunfold.tools import link
from tinyunfold.tools.build import build_model
from tinyunfold.tools.deploy import golden_batch
from tinyunfold.tools.detector import serve


@pytest.fixture(scope="module")
def built():
    rng = np.random.default_rng(3)
    model = NMFInference(rng.random((6, 2)).astype(np.float32), n_layers=4, n_frames=2)
    model = model.to_modelfile()
    return model, build_model(model, "mps2-an386", program="stream")


@pytest.fixture
def taken():
    """A port another program listens on (it accepts connections: a client would reach it)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(4)
    yield s.getsockname()[1]
    s.close()


def test_ports_taken_by_others_are_never_handed_to_qemu(built, taken, monkeypatch) -> None:
    """Even if every "free" port were taken by the time QEMU binds it (the race of a probe-then-
    bind port), the board comes up on its own sockets and answers bit-exact."""
    model, b = built
    monkeypatch.setattr(link, "free_port", lambda: taken)
    X = np.random.default_rng(4).random((1, 6, 2)).astype(np.float32)
    with link.open_board(b.board, b.artifact, timeout_s=60) as s:
        assert s.serial_url != f"socket://127.0.0.1:{taken}"
        info = s.link.hello()
        out, _ = s.link.infer(X[0].ravel(), info.out_len)
        assert np.array_equal(out.view(np.uint32), golden_batch(model, X)[0].view(np.uint32))


def test_a_chosen_port_that_is_taken_is_one_clear_line(built, taken) -> None:
    _, b = built
    with (
        pytest.raises(SimulationError) as ei,
        link.open_board(b.board, b.artifact, timeout_s=30, serial_port=taken),
    ):
        pass
    msg = str(ei.value)
    assert f"QEMU could not listen on tcp:127.0.0.1:{taken}: address in use" in msg
    assert "\n" not in msg and "choose another port" in msg
    with pytest.raises(SimulationError) as ei, serve(b.board, b.artifact, taken, 30.0):
        pass
    assert f"QEMU could not listen on tcp:127.0.0.1:{taken}: address in use" in str(ei.value)


@pytest.mark.parametrize("load", ["kernel", "gdb"])
def test_serve_picks_its_own_port(built, taken, monkeypatch, load) -> None:
    from tinyunfold.tools import detector

    model, b = built
    monkeypatch.setattr(link, "free_port", lambda: taken)
    monkeypatch.setattr(detector, "free_port", lambda: taken, raising=False)
    with serve(b.board, b.artifact, None, 60.0, load=load) as served:
        assert served.url != f"socket://127.0.0.1:{taken}"
        t = link.open_serial(served.url, deadline=time.monotonic() + 20)
        dev = link.DeviceLink(t, timeout_s=2.0)
        info = dev.hello()
        assert info.kind == "nmf"
        dev.bye()
        t.close()


@pytest.mark.parametrize("value", ["99999", "-1", "x"])
def test_a_port_that_cannot_be_one_is_one_clear_line(value, capsys) -> None:
    """`sim --port` / `flash --serial-port` take 0 (a free port, printed) to 65535; anything
    else is refused before a build with one line that says what a port may be."""
    from tinyunfold.cli import main

    for argv in (["sim", "--port", value], ["flash", "--serial-port", value]):
        with pytest.raises(SystemExit) as err:
            main([*argv, "--model", "m.tum", "--board", "mps2-an386"])
        assert err.value.code == 2
        lines = [ln for ln in capsys.readouterr().err.splitlines() if "error:" in ln]
        assert lines == [lines[0]] and "is not a TCP port (0 for any free one" in lines[0]
