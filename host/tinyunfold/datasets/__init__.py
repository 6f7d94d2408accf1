"""Datasets: the folder format (:mod:`tinyunfold.datasets.io`) and generators
(:mod:`tinyunfold.datasets.mdof`, the n-DOF mass-spring-damper chains of thesis 4.3.5).

Layout and conventions: docs/datasets.md.
"""

from tinyunfold.datasets.io import (
    Dataset,
    DatasetError,
    Mixture,
    load_dataset,
    read_wav,
    write_dataset,
    write_wav,
)

__all__ = [
    "Dataset",
    "DatasetError",
    "Mixture",
    "load_dataset",
    "read_wav",
    "write_dataset",
    "write_wav",
]
