"""The runners: faults and hangs end a QEMU run with a clear error, never a silent pass."""

import numpy as np
import pytest

from tinyunfold.cli import main
from tinyunfold.errors import SimulationError
from tinyunfold.modelfile import save_model
from tinyunfold.models.nmf import NMFInference
from tinyunfold.tools.boards import load_board
from tinyunfold.tools.build import build_model, build_selftest
from tinyunfold.tools.sim import EXIT_HARDFAULT, run_elf, run_vectors

QEMU = ["mps2-an386", "mps2-an500"]


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


def test_cli_build_and_run(tmp_path, rng, capsys):
    W = rng.random((10, 3)).astype(np.float32)
    save_model(tmp_path / "m.tum", NMFInference(W, n_layers=5, n_frames=2).to_modelfile())
    np.save(tmp_path / "x.npy", rng.random((2, 10, 2)).astype(np.float32))
    assert main(["build", "--model", str(tmp_path / "m.tum"), "--board", "mps2-an500"]) == 0
    assert "flash" in capsys.readouterr().out
    rc = main(
        [
            "run",
            "--model",
            str(tmp_path / "m.tum"),
            "--board",
            "mps2-an386",
            "--input",
            str(tmp_path / "x.npy"),
            "--output",
            str(tmp_path / "h.npy"),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0 and "BIT-EXACT" in out and "instructions" in out
    assert np.load(tmp_path / "h.npy").shape == (2, 6)


def test_cli_errors_are_clear(tmp_path, rng, capsys):
    assert (
        main(
            [
                "run",
                "--model",
                str(tmp_path / "none.tum"),
                "--board",
                "mps2-an386",
                "--input",
                "x.npy",
            ]
        )
        == 2
    )
    assert "does not exist" in capsys.readouterr().err
    W = rng.random((10, 3)).astype(np.float32)
    save_model(tmp_path / "m.tum", NMFInference(W, n_layers=5, n_frames=2).to_modelfile())
    np.save(tmp_path / "x.npy", rng.random((4, 3)).astype(np.float32))
    assert (
        main(
            [
                "run",
                "--model",
                str(tmp_path / "m.tum"),
                "--board",
                "mps2-an386",
                "--input",
                str(tmp_path / "x.npy"),
            ]
        )
        == 2
    )
    assert "shape" in capsys.readouterr().err
    assert main(["build", "--model", str(tmp_path / "m.tum"), "--board", "nope"]) == 2
    assert "unknown board" in capsys.readouterr().err
