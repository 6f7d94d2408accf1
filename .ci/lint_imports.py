#!/usr/bin/env python3
"""Check the import layers of tinyunfold (pyproject.toml [tool.importlinter]) with import-linter.

The package is split over two folders (host/tinyunfold and codegen/ = tinyunfold.codegen), which
import-linter cannot follow, so it is assembled in a scratch folder first. Usage:

    lint_imports.py [--source ROOT]     # ROOT: a checkout (default: this one); exit 1 on a violation
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--source", default=str(Path(__file__).resolve().parents[1]))
    root = Path(ap.parse_args().source).resolve()
    with tempfile.TemporaryDirectory(prefix="tu-layers-") as tmp:
        pkg = Path(tmp) / "tinyunfold"
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(root / "host" / "tinyunfold", pkg, ignore=ignore)
        shutil.copytree(root / "codegen", pkg / "codegen", ignore=ignore)
        env = {**os.environ, "PYTHONPATH": tmp}
        lint = Path(sys.executable).with_name("lint-imports")
        cmd = [str(lint), str(root / "pyproject.toml"), "--no-cache"]
        return subprocess.run(cmd, cwd=tmp, env=env).returncode


if __name__ == "__main__":
    raise SystemExit(main())
