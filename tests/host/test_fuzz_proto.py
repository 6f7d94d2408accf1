"""A few seconds of the libFuzzer harness of the C frame parser (fuzz/, `make fuzz` runs it for
minutes) with ASan + UBSan, and proof that it finds a planted bug. Fails, never skips, without
clang: `make test` installs clang and libclang-rt-14-dev."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HARNESS = REPO / "fuzz/tu_proto_parser_fuzz.c"
FLAGS = ["-g", "-O1", "-std=c11", "-ffp-contract=off", "-fno-sanitize-recover=all"]
FLAGS += ["-fsanitize=fuzzer,address,undefined"]


def build_fuzzer(out: Path, mutation: tuple[str, str, str] | None = None) -> Path:
    clang = shutil.which("clang") or shutil.which("clang-14")
    assert clang, (
        "clang is not installed (the fuzz harness needs it): run `make bootstrap` or "
        "apt-get install --no-install-recommends clang libclang-rt-14-dev"
    )
    srcs = []
    for s in sorted((REPO / "firmware/src").glob("tu_proto_*.c")):
        if mutation and s.name == mutation[0]:
            text = s.read_text()
            assert mutation[1] in text, f"mutation target not found in {s.name}"
            s = out.parent / s.name
            s.write_text(text.replace(mutation[1], mutation[2]))
        srcs.append(str(s))
    inc = [f"-I{REPO / 'firmware/include'}", f"-I{REPO / 'firmware/src'}"]
    proc = subprocess.run(
        [clang, *FLAGS, *inc, str(HARNESS), *srcs, "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, (
        f"building the fuzzer failed (is libclang-rt-14-dev installed?):\n{proc.stderr[-3000:]}"
    )
    return out


def run_fuzzer(
    exe: Path, work: Path, seconds: int, *extra: str
) -> subprocess.CompletedProcess[str]:
    corpus = work / "corpus"
    shutil.copytree(REPO / "fuzz/corpus", corpus)
    return subprocess.run(
        [str(exe), f"-max_total_time={seconds}", f"-artifact_prefix={work}/", *extra, str(corpus)],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        cwd=work,
    )


def test_fuzz_frame_parser_5s(tmp_path):
    exe = build_fuzzer(tmp_path / "fuzz")
    proc = run_fuzzer(exe, tmp_path, 5)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Done" in proc.stderr and "runs in" in proc.stderr


def test_fuzzer_finds_a_planted_overflow(tmp_path):
    """The parser without its receive-buffer bound: ASan reports the heap overflow."""
    exe = build_fuzzer(tmp_path / "fuzz", ("tu_proto_parser_step.c", "max = P->capacity;", ""))
    proc = run_fuzzer(exe, tmp_path, 60)
    assert proc.returncode != 0
    assert "heap-buffer-overflow" in proc.stderr


def test_fuzzer_finds_a_rescan_that_does_not_restore(tmp_path):
    """The re-scan without restoring the bytes a rejected candidate overwrote: the harness's
    comparison with the reference decoder (the host Decoder's rule) reports it."""
    exe = build_fuzzer(
        tmp_path / "fuzz",
        ("tu_proto_parser_step.c", "P->payload[t - 5U] = own_byte(P, q);", "(void)q;"),
    )
    proc = run_fuzzer(exe, tmp_path, 60, "-seed=1")
    assert proc.returncode != 0
    assert "deadly signal" in proc.stderr  # __builtin_trap() of a failed CHECK
