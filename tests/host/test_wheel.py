"""The wheel works outside the repository: built, installed into a clean venv, used from a temp folder.

Offline: the wheel is built without build isolation (this venv's setuptools), and its runtime
dependencies are re-packed as wheels from the distributions installed in this venv, then installed
with ``--no-index``. No extra is installed, so the test also sees the one-line "missing extra"
errors. The firmware is compiled from the installed package data and run in QEMU (mps2-an386),
and its output must equal the Python reference bit for bit.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement
from packaging.tags import sys_tags
from packaging.utils import canonicalize_name

from tinyunfold.platform.paths import SOURCE_ITEMS

REPO = Path(__file__).resolve().parents[2]
_SKIP_ANYWHERE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".*_cache")
_SKIP_AT_TOP = {".git", ".venv", "build", "out", "data"}  # checkout-local folders (.gitignore)


def _copy_skip(folder: str, names: list[str]) -> set[str]:
    top = _SKIP_AT_TOP.intersection(names) if Path(folder) == REPO else set()
    return top | set(_SKIP_ANYWHERE(folder, names))


pytestmark = pytest.mark.firmware


def _sh(
    cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _closure(wheel: Path) -> list[md.Distribution]:
    """Installed distributions the wheel's base requirements (no extras) pull in, recursively."""
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        text = z.read(meta).decode()
    todo = [Requirement(v) for k, v in re.findall(r"^(Requires-Dist): (.+)$", text, re.M)]
    seen: dict[str, md.Distribution] = {}
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        dist = md.distribution(req.name)  # PackageNotFoundError: this venv lacks a dependency
        assert req.specifier.contains(dist.version, prereleases=True), (req, dist.version)
        seen[name] = dist
        todo += [Requirement(r) for r in dist.requires or []]
    return list(seen.values())


def _repack(dist: md.Distribution, out: Path) -> Path:
    """Re-pack an installed distribution as a wheel (its files + dist-info, a fresh RECORD)."""
    info = next(f for f in dist.files or [] if f.parent.name.endswith(".dist-info"))
    info_dir = info.parent.as_posix()
    wheel_meta = (dist.read_text("WHEEL") or "").splitlines()
    here = {str(t) for t in sys_tags()}  # a wheel may list several tags: take one this Python runs
    tag = next(t for line in wheel_meta if line.startswith("Tag: ") if (t := line[5:]) in here)
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"])
    path = out / f"{name}-{dist.version}-{tag}.whl"
    record = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for f in dist.files or []:
            arc = f.as_posix()
            if arc.startswith("..") or "__pycache__" in arc or arc.endswith(".pyc"):
                continue  # scripts (pip regenerates them) and byte code
            if arc.startswith(info_dir + "/") and f.name in (
                "RECORD", "INSTALLER", "REQUESTED", "direct_url.json"
            ):  # fmt: skip
                continue
            data = Path(str(dist.locate_file(f))).read_bytes()
            z.writestr(arc, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{arc},sha256={digest.decode()},{len(data)}")
        record.append(f"{info_dir}/RECORD,,")
        z.writestr(f"{info_dir}/RECORD", "\n".join(record) + "\n")
    return path


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Wheel built from a copy of the repository, installed into a clean venv (no extras)."""
    root = tmp_path_factory.mktemp("wheel")
    src, dist, house, venv = root / "src", root / "dist", root / "wheelhouse", root / "venv"
    shutil.copytree(REPO, src, ignore=_copy_skip)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))
    }
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    pip = [sys.executable, "-m", "pip", "--isolated"]
    r = _sh(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(src)],
        root,
        env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    (wheel,) = dist.glob("tinyunfold-*.whl")
    house.mkdir()
    for d in _closure(wheel):
        _repack(d, house)
    base = getattr(sys, "_base_executable", sys.executable)
    r = _sh([base, "-m", "venv", "--without-pip", str(venv)], root, env)
    assert r.returncode == 0, r.stdout + r.stderr
    vpy = venv / "bin" / "python"
    r = _sh([*pip, "--python", str(vpy), "install", "-q", "--no-index", "--find-links",
             str(house), str(wheel)], root, env)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    return {"wheel": wheel, "venv": venv, "root": root}


def _tinyunfold(venv: Path, args: list[str], cwd: Path, timeout: float = 600):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.pop("TINYUNFOLD_BUILD", None)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return _sh([str(venv / "bin" / "tinyunfold"), *args], cwd, env, timeout)


def test_wheel_ships_every_source_file_and_package(installed):
    """Every firmware/board/CMake file and every Python package of the checkout is in the wheel."""
    with zipfile.ZipFile(installed["wheel"]) as z:
        names = set(z.namelist())
    want = []
    for item in SOURCE_ITEMS:
        p = REPO / item
        files = [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file()]
        want += [f for f in files if "__pycache__" not in f.parts]
    missing = [
        str(f.relative_to(REPO))
        for f in want
        if f"tinyunfold/_data/{f.relative_to(REPO).as_posix()}" not in names
    ]
    assert not missing, missing
    for init in (REPO / "host" / "tinyunfold").rglob("__init__.py"):
        rel = init.relative_to(REPO / "host").as_posix()
        assert rel in names, rel
    for tpl in (REPO / "codegen" / "templates").rglob("*.j2"):
        rel = tpl.relative_to(REPO / "codegen").as_posix()
        assert f"tinyunfold/codegen/{rel}" in names, rel
    assert not any(n.startswith("tinyunfold/_data/") and n.endswith(".pyc") for n in names)


def test_installed_wheel_builds_and_runs_bit_exact_outside_the_repo(installed, tmp_path):
    venv = installed["venv"]
    work = tmp_path / "project"
    work.mkdir()
    assert REPO not in work.parents

    r = _tinyunfold(venv, ["boards"], work)
    assert r.returncode == 0, r.stderr
    site = next((venv / "lib").glob("python3*/site-packages"))
    assert "mps2-an386" in r.stdout and "QEMU mps2-an386" in r.stdout
    assert str(site / "tinyunfold" / "_data" / "boards") in r.stdout, r.stdout

    r = _tinyunfold(venv, ["model", "nmf", "--features", "16", "--rank", "4", "--frames", "3",
                           "--layers", "6", "--out", "m.tum"], work)  # fmt: skip
    assert r.returncode == 0, r.stderr
    x = np.random.default_rng(5).random((2, 16, 3)).astype(np.float32) + 0.01
    np.save(work / "x.npy", x)
    r = _tinyunfold(
        venv, ["run", "--model", "m.tum", "--board", "mps2-an386", "--input", "x.npy"], work
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^mps2-an386\s+cmsis\s+BIT-EXACT ", r.stdout, re.M), r.stdout

    # The CMake tree is ./build/<board> of the working folder, configured from the package data.
    cache = (work / "build" / "mps2-an386" / "CMakeCache.txt").read_text()
    home = re.search(r"^CMAKE_HOME_DIRECTORY:INTERNAL=(.*)$", cache, re.M)
    assert home is not None and Path(home.group(1)) == site / "tinyunfold" / "_data"
    assert list((work / "build" / "mps2-an386" / "generated").glob("nmf-*/tu_model.c"))


def test_installed_wheel_names_the_missing_extra(installed, tmp_path):
    """Without extras, `stream` asks for [device], `train dkf` for [train], `sweep` for [sweep]."""
    venv = installed["venv"]
    cases = [
        (["stream", "--model", "m.tum", "--board", "mps2-an386", "--input", "x.npy"], "device"),
        (
            ["train", "dkf", "--system", "s.toml", "--trajectories", "t.npz", "--out", "d.tum"],
            "train",
        ),
        (["sweep", "padnmf", "--dataset", "d", "--space", "s.toml", "--out", "o"], "sweep"),
    ]
    for args, extra in cases:
        r = _tinyunfold(venv, args, tmp_path)
        assert r.returncode == 3, r.stdout + r.stderr
        assert "Traceback" not in r.stderr
        assert f'pip install "tinyunfold[{extra}]"' in r.stderr, r.stderr
