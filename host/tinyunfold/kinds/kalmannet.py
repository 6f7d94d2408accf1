"""Kind ``kalmannet``: KalmanNet (thesis 6.3), a GRU that outputs the Kalman gain; the baseline
the Deep Kalman Filter is compared with (docs/dkf.md)."""

from __future__ import annotations

import numpy as np

from tinyunfold.kinds.base import Filtering, Kind
from tinyunfold.modelfile import ModelFile
from tinyunfold.models import kalmannet as model_kalmannet


def _filtering(model: ModelFile) -> Filtering:
    net = model_kalmannet.KalmanNet.from_modelfile(model)

    def estimate(y: np.ndarray, x0: np.ndarray) -> tuple[np.ndarray, None]:
        return net.transform(y, x0), None

    return Filtering(net.system, None, estimate)


KIND = Kind(
    name=model_kalmannet.KIND,
    family="state-space",
    task="filter",
    summary="KalmanNet (thesis 6.3): a GRU computes the gain from innovation features",
    validate=model_kalmannet.validate_modelfile,
    estimator=model_kalmannet.KalmanNet.from_modelfile,
    not_deployable="a GRU with hidden size c (n^2 + m^2) per step; the DKF is the deployable filter",
    filtering=_filtering,
)
