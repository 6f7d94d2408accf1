"""``tinyunfold train <family>``: one sub-command per trainable model family.

A family module listed in ``TRAIN_MODULES`` exposes ``register_train(subparsers)`` adding its
``train <family>`` parser (with ``func`` set)."""

from __future__ import annotations

import argparse
import importlib

TRAIN_MODULES: list[str] = [
    "tinyunfold.commands.dkf",
    "tinyunfold.commands.padnmf",
    "tinyunfold.commands.nmfd",
]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model family (see `tinyunfold train --help`)")
    fam = p.add_subparsers(dest="family", metavar="<family>", required=True)
    for name in TRAIN_MODULES:
        importlib.import_module(name).register_train(fam)
