"""Fetch the pinned CMSIS-DSP C sources (the ``cmsisdsp==1.10.3`` sdist from PyPI).

The sdist carries the official Include/, PrivateInclude/ and Source/ trees. It is downloaded with
pip, its sha256 verified, and extracted into the cache (never into git). CMSIS-Core is not in it:
``firmware/cmsis_shim/cmsis_compiler.h`` is our own replacement.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from tinyunfold.errors import FetchError
from tinyunfold.platform.paths import cache_dir

CMSIS_PACKAGE = "cmsisdsp"
CMSIS_VERSION = "1.10.3"
CMSIS_SHA256 = "307d32298faa7c58db912851027fce35f886fec7eb1a27c4b309ce1a97f47519"
SDIST_NAME = f"{CMSIS_PACKAGE}-{CMSIS_VERSION}.tar.gz"
_NEEDED = ("Include/arm_math.h", "PrivateInclude", "Source/MatrixFunctions/arm_mat_mult_f32.c")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_archive(path: Path, expected: str | None = None) -> None:
    """Raise :class:`FetchError` unless ``path`` exists and has the pinned sha256."""
    expected = expected or CMSIS_SHA256
    if not path.is_file():
        raise FetchError(
            f"CMSIS-DSP archive {path} is missing", "run `make cmsis` with network access"
        )
    got = sha256_file(path)
    if got != expected:
        raise FetchError(
            f"CMSIS-DSP archive {path} has sha256 {got}, expected {expected} (corrupt or wrong file)",
            f"delete {path} and run `make cmsis` again",
        )


def download_sdist(dest_dir: Path) -> Path:
    """``pip download`` the pinned sdist into ``dest_dir``; returns the archive path."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--no-build-isolation",
        "-q",
        "-d",
        str(dest_dir),
        f"{CMSIS_PACKAGE}=={CMSIS_VERSION}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    archive = dest_dir / SDIST_NAME
    if proc.returncode != 0 or not archive.is_file():
        raise FetchError(
            f"pip could not download {CMSIS_PACKAGE}=={CMSIS_VERSION}: "
            f"{(proc.stderr or proc.stdout).strip()[-800:]}",
            "check network access to PyPI; pip needs setuptools, wheel and numpy installed",
        )
    return archive


def extract(archive: Path, dest: Path) -> Path:
    """Extract the C sources of the sdist into ``dest``; returns the source root."""
    verify_archive(archive)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".cmsis-"))
    try:
        with tarfile.open(archive, "r:gz") as tf:
            tf.extractall(tmp, filter="data")
        roots = [p.parent.parent for p in tmp.rglob("Include/arm_math.h")]
        if not roots:
            raise FetchError(f"{archive} holds no Include/arm_math.h: not the CMSIS-DSP sdist")
        root = min(roots, key=lambda p: len(p.parts))
        for rel in _NEEDED:
            if not (root / rel).exists():
                raise FetchError(f"{archive} lacks {rel}")
        if dest.exists():
            shutil.rmtree(dest)
        shutil.move(str(root), dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def cmsis_root(base: Path | None = None) -> Path:
    return (base or cache_dir()) / f"CMSIS-DSP-{CMSIS_VERSION}"


def ensure_cmsis(base: Path | None = None) -> Path:
    """Return the CMSIS-DSP source root, fetching + verifying it first if needed (idempotent)."""
    base = base or cache_dir()
    root = cmsis_root(base)
    stamp = root / ".tinyunfold-verified"
    if stamp.is_file() and stamp.read_text().strip() == CMSIS_SHA256:
        return root
    archive = base / SDIST_NAME
    if not archive.is_file() or sha256_file(archive) != CMSIS_SHA256:
        archive.unlink(missing_ok=True)
        archive = download_sdist(base)
    extract(archive, root)
    stamp.write_text(CMSIS_SHA256 + "\n")
    return root
