"""The ``tinyunfold`` command line. Each command group lives in ``tinyunfold.commands.<name>``
and exposes ``register(subparsers)``; add a module there and list it in ``COMMAND_MODULES``."""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence

from tinyunfold import __version__
from tinyunfold.errors import EXIT_CODES, TinyUnfoldError

COMMAND_MODULES = [
    "tinyunfold.commands.model",
    "tinyunfold.commands.firmware",
    "tinyunfold.commands.boards",
    "tinyunfold.commands.setup",
    "tinyunfold.commands.train",
    "tinyunfold.commands.evaluate",
    "tinyunfold.commands.dataset",
    "tinyunfold.commands.importers",
    "tinyunfold.commands.detect",
    "tinyunfold.commands.padnmf",
    "tinyunfold.commands.dkf",
    "tinyunfold.commands.nmfd",
    "tinyunfold.commands.sweep",
]

DESCRIPTION = """\
tinyunfold puts deep-unfolded models (NMF, PAD-NMF, Deep-NMFD, Deep Kalman Filter) on Cortex-M.

Typical session:
  tinyunfold model nmf --features 32 --rank 8 --frames 4 --layers 50 --out m.tum
  tinyunfold build --model m.tum --board mps2-an386      # generate C, compile firmware
  tinyunfold run   --model m.tum --board mps2-an386 --input x.npy   # run in QEMU, check bits
  tinyunfold demo                                          # the whole chain on both boards

Every firmware output is compared bit for bit with the float32 Python reference.
Run `tinyunfold <command> --help` for each command's options.
"""


EPILOG = "exit status (docs/errors.md):\n" + "\n".join(
    f"  {code:<4d} {meaning}" for code, meaning in EXIT_CODES.items()
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinyunfold",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tinyunfold {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    line: str | None = None,
) -> str:
    """Warnings of the package as one line each ("tinyunfold: warning: ..."), no source line."""
    return f"tinyunfold: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    warnings.formatwarning = _one_line_warning
    try:
        return int(args.func(args) or 0)
    except TinyUnfoldError as err:
        print(f"tinyunfold: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
