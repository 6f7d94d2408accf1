"""Where things live: repository root, build tree, cache."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]


def cache_dir() -> Path:
    """Cache outside git for third-party sources (``$TINYUNFOLD_CACHE`` or ``~/.cache/tinyunfold``)."""
    env = os.environ.get("TINYUNFOLD_CACHE")
    root = Path(env) if env else Path.home() / ".cache" / "tinyunfold"
    root.mkdir(parents=True, exist_ok=True)
    return root


def build_root() -> Path:
    return Path(os.environ.get("TINYUNFOLD_BUILD", REPO_ROOT / "build"))
