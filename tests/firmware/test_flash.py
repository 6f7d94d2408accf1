"""Flashing through a GDB server, tested against QEMU's gdbstub (the same protocol OpenOCD,
ST-LINK gdbserver, J-Link and pyOCD serve): load, compare-sections, reset, detach, port released,
and the program then runs; a different image fails the verification; pyOCD is optional."""

import sys
import time

import numpy as np
import pytest
from halted_qemu import halted_qemu

from tinyunfold.cli import main
from tinyunfold.kinds import save_model
from tinyunfold.models.nmf import NMFInference
from tinyunfold.tools.build import build_model, build_selftest
from tinyunfold.tools.deploy import golden_batch
from tinyunfold.tools.flash import FlashError, flash_gdb, flash_pyocd, verify_gdb
from tinyunfold.tools.link import DeviceLink, _connect_serial, free_port


def _finish(proc, timeout_s=20):
    out, _ = proc.communicate(timeout=timeout_s)
    return proc.returncode, out.decode(errors="replace")


def test_flash_gdb_stm32_stream_runs_bit_exact():
    rng = np.random.default_rng(2)
    model = NMFInference(
        rng.random((10, 3)).astype(np.float32), n_layers=6, n_frames=2
    ).to_modelfile()
    X = rng.random((2, 10, 2)).astype(np.float32)
    elf = build_model(model, "stm32f405", program="stream").artifact
    with halted_qemu("stm32f405", serial=True) as (proc, address, url):
        transport = _connect_serial(url, proc, time.monotonic() + 20)
        try:
            r = flash_gdb(elf, address)
            assert r.sections[:2] == [".text", ".data"] and r.bytes_loaded > 1000
            assert r.entry & 0xFF000000 == 0x08000000  # started from the image's flash vectors
            link = DeviceLink(transport, timeout_s=30)
            link.wait_ready()
            assert link.hello().kind == "nmf"
            for x in X:
                out, _ = link.infer(x.ravel(), 3 * 2)
                assert np.array_equal(
                    out.view(np.uint32), golden_batch(model, x[None])[0].view(np.uint32)
                )
            link.bye()
        finally:
            transport.close()
        status, console = _finish(proc)
    assert status == 0 and "TU_BOOT stm32f405" in console


def test_flash_gdb_mps2_program_runs():
    elf = build_selftest("mps2-an386", "fpu")
    with halted_qemu("mps2-an386") as (proc, address, _):
        r = flash_gdb(elf, address)
        assert ".text" in r.sections
        status, console = _finish(proc)
    assert status == 0 and "TU_SELFTEST fpu: ok" in console


@pytest.mark.parametrize("board", ["stm32f405", "mps2-an386"])
def test_verify_fails_on_another_image_and_the_port_is_released(board):
    running, other = build_selftest(board, "hang"), build_selftest(board, "fpu")
    with halted_qemu(board) as (_, address, _):
        flash_gdb(running, address)
        # gdb exited after detaching: the server takes new clients, and the image is still there
        assert verify_gdb(running, address)[:1] == [".text"]
        with pytest.raises(FlashError, match="verify failed"):
            verify_gdb(other, address)


def test_cli_flash_gdb(tmp_path, capsys):
    model = NMFInference(np.ones((4, 2), np.float32), n_layers=2, n_frames=1).to_modelfile()
    save_model(tmp_path / "m.tum", model)
    with halted_qemu("stm32f405") as (_, address, _):
        rc = main(
            ["flash", "--model", str(tmp_path / "m.tum"), "--board", "stm32f405", "--gdb", address]
        )
    out = capsys.readouterr().out
    assert rc == 0 and "verified (.text, .data" in out and "USART1" in out


def test_bad_gdb_addresses_fail_in_one_line():
    elf = build_selftest("stm32f405", "fpu")
    with pytest.raises(FlashError, match="is not HOST:PORT"):
        flash_gdb(elf, "localhost:99999")
    with pytest.raises(FlashError, match="no GDB server answers"):
        flash_gdb(elf, f"127.0.0.1:{free_port()}", timeout_s=30)


def test_pyocd_is_optional(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "pyocd", None)  # as if it were not installed
    with pytest.raises(FlashError, match="pyOCD is not installed") as err:
        flash_pyocd(build_selftest("stm32f405", "fpu"), target="stm32f405rg")
    assert err.value.fix == "pip install pyocd"
    model = NMFInference(np.ones((4, 2), np.float32), n_layers=2, n_frames=1).to_modelfile()
    save_model(tmp_path / "m.tum", model)
    args = ["flash", "--model", str(tmp_path / "m.tum"), "--board", "stm32f405", "--probe", "pyocd"]
    assert main(args) == FlashError.exit_code
    assert "pip install pyocd" in capsys.readouterr().err
