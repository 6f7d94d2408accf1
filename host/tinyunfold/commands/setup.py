"""``tinyunfold setup``: fetch pinned third-party sources, check the toolchain."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("setup", help="fetch pinned CMSIS-DSP sources / check the toolchain")
    ssub = p.add_subparsers(dest="what", metavar="<what>", required=True)
    c = ssub.add_parser("cmsis", help="download + sha256-verify + extract cmsisdsp==1.10.3 sources")
    c.set_defaults(func=_cmsis)
    d = ssub.add_parser("doctor", help="report which required tools are present")
    d.set_defaults(func=_doctor)


def _cmsis(args: argparse.Namespace) -> int:
    from tinyunfold.platform.cmsis import ensure_cmsis

    root = ensure_cmsis()
    print(f"CMSIS-DSP sources: {root}")
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from tinyunfold.platform.toolchain import doctor

    return doctor()
