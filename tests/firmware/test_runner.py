"""The runners: faults and hangs end a QEMU run with a clear error, never a silent pass."""

import numpy as np
import pytest

from tinyunfold.cli import main
from tinyunfold.errors import SimulationError
from tinyunfold.kinds import save_model
from tinyunfold.models.nmf import NMFInference
from tinyunfold.platform.boards import load_board
from tinyunfold.tools.build import build_model, build_selftest
from tinyunfold.tools.sim import EXIT_HARDFAULT, run_elf, run_vectors

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
    m = NMFInference(rng.random((6, 2)).astype(np.float32), n_layers=2, n_frames=3).to_modelfile()
    b = build_model(m, "mps2-an386")
    with pytest.raises(SimulationError, match="not a multiple"):
        run_vectors(b.board, b.artifact, np.ones((1, 17), np.float32), 6)


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
