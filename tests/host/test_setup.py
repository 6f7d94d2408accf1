import io
import subprocess
import sys
import tarfile

import pytest

from tinyunfold.errors import FetchError, ToolchainError
from tinyunfold.platform import cmsis
from tinyunfold.platform.toolchain import require


def test_missing_archive_and_bad_sha(tmp_path):
    with pytest.raises(FetchError, match="missing"):
        cmsis.verify_archive(tmp_path / "none.tar.gz")
    bad = tmp_path / "x.tar.gz"
    bad.write_bytes(b"not the archive")
    with pytest.raises(FetchError, match="sha256"):
        cmsis.verify_archive(bad)


def test_archive_without_sources_is_refused(tmp_path, monkeypatch):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        data = b"hello"
        info = tarfile.TarInfo("pkg/README.md")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    arch = tmp_path / "fake.tar.gz"
    arch.write_bytes(buf.getvalue())
    monkeypatch.setattr(cmsis, "CMSIS_SHA256", cmsis.sha256_file(arch))
    with pytest.raises(FetchError, match="no Include/arm_math.h"):
        cmsis.extract(arch, tmp_path / "out")


def test_pinned_sources_are_present_and_verified():
    root = cmsis.ensure_cmsis()
    assert (root / "Include" / "arm_math.h").is_file()
    assert (root / ".tinyunfold-verified").read_text().strip() == cmsis.CMSIS_SHA256
    assert cmsis.ensure_cmsis() == root  # idempotent


def test_missing_tool_names_the_package(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ToolchainError, match="gcc-arm-none-eabi") as exc:
        require("arm-none-eabi-gcc")
    assert "make bootstrap" in str(exc.value)


def test_help_teaches():
    out = subprocess.run(
        [sys.executable, "-m", "tinyunfold", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0
    for word in ("build", "run", "demo", "bit for bit"):
        assert word in out.stdout
