"""Options shared by the ``train <kind>`` commands of dataset-trained kinds."""

from __future__ import annotations

import argparse


def add_training_arguments(p: argparse.ArgumentParser, dataset_required: bool = True) -> None:
    """The options every dataset-trained family shares: --dataset, --config, --out, --set."""
    p.add_argument(
        "--dataset", required=dataset_required, help="dataset folder (see docs/datasets.md)"
    )
    p.add_argument("--config", help="TOML config (see above); defaults when omitted")
    p.add_argument("--out", required=True, help="model file to write (.tum)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one config value, e.g. --set model.n_layers=50 (repeat)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
