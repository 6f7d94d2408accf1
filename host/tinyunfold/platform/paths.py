"""Where things live: the firmware sources, the build tree, the cache.

The firmware sources (``firmware/``, ``boards/``, ``cmake/``, ``CMakeLists.txt``,
``CMakePresets.json``) are the repository itself in a source checkout or an editable install
(``make``), and the package data folder ``tinyunfold/_data/`` in an installed wheel (copied there by
``setup.py`` at wheel-build time). :func:`source_root` answers both; nothing else may guess.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from tinyunfold.errors import TinyUnfoldError

#: What a source root holds; the wheel copies exactly these (setup.py reads this tuple's twin).
SOURCE_ITEMS = ("firmware", "boards", "cmake", "CMakeLists.txt", "CMakePresets.json")

_build_override: Path | None = None


def _checkout_root() -> Path | None:
    """The repository root when this module runs from ``<root>/host/tinyunfold/platform/paths.py``."""
    here = Path(__file__).resolve()
    root = here.parents[3]
    if (root / "host" / "tinyunfold" / "platform" / "paths.py").resolve() != here:
        return None
    return root if (root / "CMakeLists.txt").is_file() else None


def source_root() -> Path:
    """Folder holding ``CMakeLists.txt``, ``firmware/``, ``boards/`` and ``cmake/``.

    The repository root in a source checkout or an editable install; the installed package data
    folder ``tinyunfold/_data`` otherwise (read through :mod:`importlib.resources`). Never raises:
    :func:`require_source_root` says what is missing.
    """
    root = _checkout_root()
    if root is not None:
        return root
    data = resources.files("tinyunfold").joinpath("_data")
    return Path(str(data))


def require_source_root() -> Path:
    """:func:`source_root`, or a clear error when this installation lacks the firmware sources."""
    root = source_root()
    missing = [item for item in SOURCE_ITEMS[:4] if not (root / item).exists()]
    if missing:
        raise TinyUnfoldError(
            f"this tinyunfold installation has no firmware sources ({', '.join(missing)} "
            f"missing under {root})",
            "reinstall from a wheel or the repository: pip install --force-reinstall tinyunfold",
        )
    return root


# Kept for code written against the old constant; it is source_root() evaluated once at import.
REPO_ROOT = source_root()


def cache_dir() -> Path:
    """Cache outside git for third-party sources (``$TINYUNFOLD_CACHE`` or ``~/.cache/tinyunfold``)."""
    env = os.environ.get("TINYUNFOLD_CACHE")
    root = Path(env) if env else Path.home() / ".cache" / "tinyunfold"
    root.mkdir(parents=True, exist_ok=True)
    return root


def set_build_root(path: str | os.PathLike[str] | None) -> None:
    """Use ``path`` as the build tree for the rest of this process (``--build-dir``); ``None`` resets."""
    global _build_override
    _build_override = None if path is None else Path(path).expanduser().absolute()


def build_root() -> Path:
    """The build tree: ``--build-dir`` if given, else ``$TINYUNFOLD_BUILD``, else ``./build``.

    Relative to the current working directory, never to the installed package, so an installed
    tinyunfold builds into the user's project folder.
    """
    if _build_override is not None:
        return _build_override
    env = os.environ.get("TINYUNFOLD_BUILD")
    return Path(env).expanduser().absolute() if env else Path.cwd() / "build"
