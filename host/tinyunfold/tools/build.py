"""Generate a model's C into the build tree and compile it for a board with CMake presets.

Layout: ``build/<board>/`` (under :func:`~tinyunfold.platform.paths.build_root`: ``./build``,
``--build-dir`` or ``$TINYUNFOLD_BUILD``) is one CMake tree per board; each model lands in
``build/<board>/generated/<kind>-<hash12>/`` and gets the targets ``<name>-cmsis`` / ``<name>-ref``
(plus ``-lib`` shared libraries on the host board). CMSIS-DSP is compiled once per tree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tinyunfold import kinds
from tinyunfold.codegen import GeneratedModel, generate
from tinyunfold.errors import TinyUnfoldError, ToolchainError
from tinyunfold.modelfile import ModelFile
from tinyunfold.platform.boards import Board, load_board
from tinyunfold.platform.cmake import build_dir_for, configure, run_tool
from tinyunfold.tools import fit

KERNELS = ("cmsis", "ref", "cmsis-dense", "ref-dense")  # -dense: TU_DENSE reference path
PROGRAMS = ("vectors", "stream", "detector")


@dataclass(frozen=True)
class BuildResult:
    board: Board
    kernels: str
    generated: GeneratedModel
    artifact: Path  # the .elf (boards) or executable (host)
    library: Path | None  # host shared library for ctypes
    build_dir: Path


def build_model(
    model: ModelFile, board_name: str, kernels: str = "cmsis", program: str = "vectors"
) -> BuildResult:
    """Generate + compile ``model`` for ``board_name`` with the ``cmsis`` or ``ref`` kernels.

    ``program`` is ``"vectors"`` (test vectors through semihosting files), ``"stream"`` (the
    serial-link firmware of docs/protocol.md: one INFER per input block) or ``"detector"`` (audio
    in, hits out: ``firmware/app/detector_main.c``; only for a detector model that runs as one,
    else the reason is raised before anything is generated).
    """
    if program not in PROGRAMS:
        raise TinyUnfoldError(f"unknown program {program!r}", f"use one of {PROGRAMS}")
    if kernels not in KERNELS:
        raise TinyUnfoldError(f"unknown kernel set {kernels!r}", f"use one of {KERNELS}")
    board = load_board(board_name)
    if program == "detector":
        kinds.get(model.kind).require("stream")(model)  # raises the reason it cannot
    gen = generate(model)
    fit.check_generated(model, gen.info, board)  # generation time: before anything compiles
    bdir = build_dir_for(board.name)
    gen.write(bdir / "generated" / gen.name)
    configure(board)  # re-globs generated/ so the new model gets its targets
    base = f"{gen.name}-{kernels}"
    target = base if program == "vectors" else f"{base}-{program}"
    targets = [target] + ([f"{base}-lib"] if board.is_host and program == "vectors" else [])
    jobs = str(os.cpu_count() or 2)
    try:
        run_tool(
            ["cmake", "--build", str(bdir), "-j", jobs, "--target", *targets], f"build of {target}"
        )
    except ToolchainError as exc:
        raise fit.link_overflow(getattr(exc, "log", exc.cause), model, board) or exc from None
    artifact = bdir / (target if board.is_host else f"{target}.elf")
    if not board.is_host:
        fit.check_image(artifact, model, board)
    library = bdir / f"lib{base}-lib.so" if board.is_host else None
    return BuildResult(board, kernels, gen, artifact, library, bdir)


def build_selftest(board_name: str, which: str) -> Path:
    """Build a board self-test program (``fault``, ``hang`` or ``fpu``); returns the ELF."""
    board = load_board(board_name)
    if board.is_host:
        raise TinyUnfoldError("self-tests exist for the QEMU boards only")
    bdir = configure(board)
    target = f"selftest-{which}"
    run_tool(["cmake", "--build", str(bdir), "--target", target], f"build of {target}")
    return bdir / f"{target}.elf"
