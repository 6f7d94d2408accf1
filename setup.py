"""Wheel-build hook: copy the firmware sources into the package as ``tinyunfold/_data/``.

Everything else lives in pyproject.toml. An installed tinyunfold compiles firmware from
``tinyunfold/_data`` (``tinyunfold.platform.paths.source_root``); an editable install (``make``) reads
the repository itself, so the copy is skipped there. Files are copied, never linked.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
# Keep equal to tinyunfold.platform.paths.SOURCE_ITEMS (tests/host/test_wheel.py checks the wheel).
SOURCE_ITEMS = ("firmware", "boards", "cmake", "CMakeLists.txt", "CMakePresets.json")
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".*", "*~", "*.orig", "*.rej")


class BuildPyWithFirmware(build_py):
    """``build_py`` plus the firmware tree under ``<build_lib>/tinyunfold/_data``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        dest = Path(self.build_lib) / "tinyunfold" / "_data"
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        for item in SOURCE_ITEMS:
            src = HERE / item
            if src.is_dir():
                shutil.copytree(src, dest / item, symlinks=False, ignore=SKIP)
            elif src.is_file():
                shutil.copyfile(src, dest / item)
            elif item != "CMakePresets.json":
                raise FileNotFoundError(f"{src} is missing: cannot build a tinyunfold wheel")


def packages() -> list[str]:
    """Every package of host/tinyunfold, and codegen as tinyunfold.codegen (see package-dir)."""
    found = find_packages(where=str(HERE / "host"), include=["tinyunfold", "tinyunfold.*"])
    codegen = ["tinyunfold.codegen"] + [
        f"tinyunfold.codegen.{p}" for p in find_packages(where=str(HERE / "codegen"))
    ]
    return sorted(found + codegen)


setup(packages=packages(), cmdclass={"build_py": BuildPyWithFirmware})
