"""The one-off scripts of examples/diagnostics/ imported as modules by their tests (a script may
import its neighbours, so the folder is on sys.path while it loads)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

DIAGNOSTICS = Path(__file__).resolve().parents[1] / "examples" / "diagnostics"


def script(name: str) -> Path:
    """examples/diagnostics/<name>.py"""
    return DIAGNOSTICS / f"{name}.py"


def load(name: str) -> ModuleType:
    """examples/diagnostics/<name>.py as a module."""
    sys.path.insert(0, str(DIAGNOSTICS))
    try:
        spec = importlib.util.spec_from_file_location(name, script(name))
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(DIAGNOSTICS))
    return mod


def run(name: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``python examples/diagnostics/<name>.py args...`` with its output captured."""
    return subprocess.run(
        [sys.executable, str(script(name)), *args], capture_output=True, text=True, timeout=timeout
    )
