"""The runners: faults and hangs end a QEMU run with a clear error, never a silent pass.

These tests fail when the runner ignores a non-zero exit status or the HardFault code (checked
by mutating ``tools/sim.py``: dropping either branch of ``check_exit`` fails them).
"""

import dataclasses
import re

import numpy as np
import pytest

from tinyunfold.cli import main
from tinyunfold.errors import EXIT_FAULT, FirmwareFaultError, SimulationError
from tinyunfold.kinds import save_model
from tinyunfold.models.nmf import NMFInference
from tinyunfold.platform.boards import load_board
from tinyunfold.tools import build as build_mod
from tinyunfold.tools.build import build_model, build_selftest
from tinyunfold.tools.link import open_board
from tinyunfold.tools.sim import EXIT_HARDFAULT, run_elf, run_vectors

FAULT_LINE = re.compile(r"TU_FAULT exc=[0-9a-f]{8} pc=[0-9a-f]{8} cfsr=[0-9a-f]{8}")

QEMU = ["mps2-an386", "mps2-an500", "stm32f405"]


@pytest.mark.parametrize("board", QEMU)
def test_fpu_enabled_and_ieee(board):
    status, console = run_elf(load_board(board), build_selftest(board, "fpu"), timeout_s=20)
    assert status == 0 and "fpu: ok" in console


@pytest.mark.parametrize("board", QEMU)
def test_hardfault_exits_nonzero_with_report(board):
    status, console = run_elf(load_board(board), build_selftest(board, "fault"), timeout_s=20)
    assert status == EXIT_HARDFAULT
    assert "TU_FAULT" in console


def test_hang_is_killed_by_the_time_limit():
    board = load_board("mps2-an386")
    with pytest.raises(SimulationError, match="did not finish within 2 s"):
        run_elf(board, build_selftest("mps2-an386", "hang"), timeout_s=2)


def test_wrong_input_size_is_reported(rng):
    """The firmware exits 2 (TU_EXIT_BAD_INPUT): the runner reports that status, not a missing
    result line (a runner that ignored the status would say 'no TU_RESULT line')."""
    m = NMFInference(rng.random((6, 2)).astype(np.float32), n_layers=2, n_frames=3).to_modelfile()
    b = build_model(m, "mps2-an386")
    with pytest.raises(SimulationError, match="exited with status 2") as ei:
        run_vectors(b.board, b.artifact, np.ones((1, 17), np.float32), 6)
    assert "not a multiple" in ei.value.cause and ei.value.exit_code == 4


@pytest.mark.parametrize("board", QEMU)
def test_runner_reports_the_hardfault_line(board):
    """run_vectors on a faulting ELF: FirmwareFaultError (exit status 6) holding the firmware's
    own TU_FAULT line; a runner that treated status 100 as any other would raise a plain
    SimulationError (exit 4) and fail this test."""
    elf = build_selftest(board, "fault")
    with pytest.raises(FirmwareFaultError) as ei:
        run_vectors(load_board(board), elf, np.ones((1, 4), np.float32), 4, timeout_s=20)
    assert FAULT_LINE.search(ei.value.cause), ei.value.cause
    assert "HardFault" in ei.value.cause and ei.value.exit_code == EXIT_FAULT == 6


def test_fault_on_the_serial_link_is_the_firmware_fault():
    """A board that faults while the link is open: the broken link is reported as the firmware's
    fault (its TU_FAULT line), not as a serial/pyserial error."""
    board = load_board("mps2-an386")
    elf = build_selftest("mps2-an386", "fault")
    with pytest.raises(FirmwareFaultError) as ei, open_board(board, elf, timeout_s=30):
        pass
    assert FAULT_LINE.search(ei.value.cause), ei.value.cause


def test_cli_stream_fault_exits_6_with_one_line(tmp_path, rng, capsys, monkeypatch):
    """`tinyunfold stream` whose board runs a faulting firmware (the fault self-test flashed in
    place of the model's streaming ELF) prints one line with the TU_FAULT report and exits 6."""
    m, x = tmp_path / "m.tum", tmp_path / "x.npy"
    save_model(
        m,
        NMFInference(rng.random((6, 2)).astype(np.float32), n_layers=2, n_frames=3).to_modelfile(),
    )
    np.save(x, rng.random((2, 6, 3)).astype(np.float32))
    import tinyunfold.tools.deploy  # noqa: F401  (imported unpatched: it binds build_model)

    real_build = build_mod.build_model

    def flash_the_fault(*args, **kw):
        res = real_build(*args, **kw)
        return dataclasses.replace(res, artifact=build_selftest(res.board.name, "fault"))

    monkeypatch.setattr(build_mod, "build_model", flash_the_fault)
    assert _cli("stream --model {m} --board mps2-an386 --input {x}", m=m, x=x) == 6
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and FAULT_LINE.search(err[0]) and "; fix: " in err[0], err


def _cli(cmd: str, **paths) -> int:
    """Run the CLI on a command line whose {name} fields are filled with ``paths``."""
    return main(cmd.format(**{k: str(v) for k, v in paths.items()}).split())


def test_cli_build_and_run(tmp_path, rng, capsys):
    W = rng.random((10, 3)).astype(np.float32)
    m, x, h = tmp_path / "m.tum", tmp_path / "x.npy", tmp_path / "h.npy"
    save_model(m, NMFInference(W, n_layers=5, n_frames=2).to_modelfile())
    np.save(x, rng.random((2, 10, 2)).astype(np.float32))
    assert _cli("build --model {m} --board mps2-an500", m=m) == 0
    assert "flash" in capsys.readouterr().out
    assert _cli("run --model {m} --board mps2-an386 --input {x} --output {h}", m=m, x=x, h=h) == 0
    out = capsys.readouterr().out
    assert "BIT-EXACT" in out and "instructions" in out
    assert np.load(h).shape == (2, 6)


def test_cli_errors_are_clear(tmp_path, rng, capsys):
    m, x = tmp_path / "m.tum", tmp_path / "x.npy"
    assert _cli("run --model {m} --board mps2-an386 --input {x}", m=m, x=x) == 2
    assert "does not exist" in capsys.readouterr().err
    W = rng.random((10, 3)).astype(np.float32)
    save_model(m, NMFInference(W, n_layers=5, n_frames=2).to_modelfile())
    np.save(x, rng.random((4, 3)).astype(np.float32))
    assert _cli("run --model {m} --board mps2-an386 --input {x}", m=m, x=x) == 2
    assert "shape" in capsys.readouterr().err
    assert _cli("build --model {m} --board nope", m=m) == 2
    assert "unknown board" in capsys.readouterr().err
