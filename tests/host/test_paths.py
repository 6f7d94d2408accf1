"""Where sources and builds live (tools/paths.py), `tinyunfold boards`, and the missing-extra error.
The installed-wheel side of the same contracts is tests/host/test_wheel.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tinyunfold.cli import main
from tinyunfold.commands.boards import board_row
from tinyunfold.errors import ToolchainError
from tinyunfold.extras import MissingExtraError, extra_error_for, require_extra
from tinyunfold.platform import paths
from tinyunfold.platform.boards import load_board

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _reset_build_root():
    yield
    paths.set_build_root(None)


def test_source_root_is_the_checkout():
    assert paths.source_root() == REPO
    assert paths.require_source_root() == REPO
    for item in paths.SOURCE_ITEMS:
        assert (REPO / item).exists(), item


def test_build_root_is_cwd_build_then_env_then_override(tmp_path, monkeypatch):
    monkeypatch.delenv("TINYUNFOLD_BUILD", raising=False)
    monkeypatch.chdir(tmp_path)
    assert paths.build_root() == tmp_path / "build"
    monkeypatch.setenv("TINYUNFOLD_BUILD", "b2")
    assert paths.build_root() == tmp_path / "b2"
    paths.set_build_root(tmp_path / "b3")
    assert paths.build_root() == tmp_path / "b3"
    paths.set_build_root(None)
    assert paths.build_root() == tmp_path / "b2"


def _fake_tree(bdir: Path) -> None:
    bdir.mkdir(parents=True)
    (bdir / "CMakeCache.txt").write_text("CMAKE_HOME_DIRECTORY:INTERNAL=/somewhere/else\n")


def test_build_dir_flag_routes_the_build_and_a_foreign_tree_is_refused(tmp_path, capsys):
    """`build --build-dir D` configures D/<board>; a tree from other sources gets a clear error."""
    _fake_tree(tmp_path / "D" / "host")
    assert main(["model", "nmf", "--features", "4", "--rank", "2", "--frames", "2",
                 "--layers", "1", "--out", str(tmp_path / "m.tum")]) == 0  # fmt: skip
    code = main(["build", "--model", str(tmp_path / "m.tum"), "--board", "host",
                 "--build-dir", str(tmp_path / "D")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == ToolchainError.exit_code
    assert f"build folder {tmp_path / 'D' / 'host'} was configured from /somewhere/else" in err
    assert "--build-dir" in err and "Traceback" not in err


def test_configure_refuses_a_tree_of_other_sources(tmp_path):
    from tinyunfold.platform.cmake import configure

    _fake_tree(tmp_path / "host")
    paths.set_build_root(tmp_path)
    with pytest.raises(ToolchainError, match="was configured from /somewhere/else"):
        configure(load_board("host"))


def test_boards_lists_every_board_folder(capsys):
    assert main(["boards", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    folders = sorted(p.parent.name for p in (REPO / "boards").glob("*/board.json"))
    assert [r["name"] for r in rows] == folders
    an386 = next(r for r in rows if r["name"] == "mps2-an386")
    assert an386["core"] == "Cortex-M4F (SP FPU)"
    assert an386["runs"] == "QEMU mps2-an386"
    assert (
        an386["flash_bytes"]
        == json.loads((REPO / "boards/mps2-an386/board.json").read_text())["flash_bytes"]
    )
    assert main(["boards"]) == 0
    table = capsys.readouterr().out
    for name in folders:
        assert f"\n{name} " in table
    assert f"boards from {REPO / 'boards'}" in table


def test_board_row_clock_core_and_build_only():
    d = {
        "name": "nucleo-x",
        "toolchain": "arm-none-eabi",
        "arch_flags": ["-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard"],
        "runner": {"kind": "none"},
        "clock_hz": 216000000,
        "flash_bytes": 1 << 20,
        "ram_bytes": 320 << 10,
    }
    r = board_row(d)
    assert (r["core"], r["clock_hz"], r["runs"]) == ("Cortex-M7F (SP FPU)", 216000000, "build-only")
    assert board_row({**d, "core": "Cortex-M7 r1p1"})["core"] == "Cortex-M7 r1p1"
    soft = {**d, "arch_flags": ["-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft"]}
    assert board_row(soft)["core"] == "Cortex-M0PLUS"
    assert board_row({**d, "runner": {"kind": "qemu", "machine": "m"}})["runs"] == "QEMU m"
    assert board_row({**d, "runner": {"kind": "qemu"}, "build_only": True})["runs"] == "build-only"


def test_require_extra_names_the_extra(tmp_path, monkeypatch):
    assert require_extra("plots", "json") is json
    with pytest.raises(MissingExtraError) as e:
        require_extra("train", "tinyunfold_test_absent_module", "training")
    assert str(e.value) == (
        "training needs tinyunfold_test_absent_module, which is not installed; "
        'fix: pip install "tinyunfold[train]"'
    )
    # Installed but broken inside (its own dependency missing): the real error is kept.
    (tmp_path / "tu_broken_pkg.py").write_text("import tinyunfold_test_absent_dep\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="tinyunfold_test_absent_dep"):
        require_extra("device", "tu_broken_pkg")
    sys.modules.pop("tu_broken_pkg", None)


def test_extra_error_for_known_and_unknown_modules():
    err = extra_error_for(ModuleNotFoundError("No module named 'serial'", name="serial"))
    assert err is not None and 'pip install "tinyunfold[device]"' in str(err)
    assert "pyserial" in str(err)
    torch = extra_error_for(ModuleNotFoundError("x", name="torch.nn"))
    assert torch is not None and "tinyunfold[train]" in str(torch)
    assert extra_error_for(ModuleNotFoundError("x", name="numpy")) is None
