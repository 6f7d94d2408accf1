"""Small matplotlib helpers shared by the commands and pipelines (Agg backend, PNG files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tinyunfold.extras import require_extra


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed); one line when it is missing."""
    require_extra("plots", "matplotlib", "plotting")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(curves: dict[str, list[float]], title: str, path: Path) -> None:
    """One log-scale panel per non-empty curve (name -> values), side by side."""
    plt = pyplot()
    items = [(k, v) for k, v in curves.items() if v]
    fig, axes = plt.subplots(1, len(items), figsize=(4.5 * len(items), 3.5), squeeze=False)
    for ax, (name, values) in zip(axes[0], items, strict=True):
        ax.semilogy(range(len(values)), values, marker=".")
        ax.set_xlabel("step")
        ax.set_ylabel(name)
    axes[0][0].set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
