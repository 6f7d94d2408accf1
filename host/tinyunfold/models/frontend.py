"""The ``spectrogram`` model kind: the feature front-end alone, deployable on the boards.

Its params hold ``features`` (``SpectrogramParams.to_dict()``); window and band edges are derived.
One firmware forward pass maps ``n_fft`` samples (one frame) to the F band powers.
"""

from __future__ import annotations

import numpy as np

from tinyunfold.errors import ModelFileError, ShapeError
from tinyunfold.features import FeatureParamsError, SpectrogramParams, n_frames
from tinyunfold.modelfile import ModelFile, require_params

KIND = "spectrogram"


def frontend_model(p: SpectrogramParams) -> ModelFile:
    return ModelFile(kind=KIND, params={"features": p.to_dict()}, arrays={})


def params_of(model: ModelFile) -> SpectrogramParams:
    return SpectrogramParams.from_dict(dict(model.params["features"]))


def validate_model(model: ModelFile) -> None:
    require_params(model, "features")
    try:
        params_of(model)
    except FeatureParamsError as err:
        raise ModelFileError(f"spectrogram: bad feature parameters: {err.cause}", err.fix) from None
    except TypeError as err:
        raise ModelFileError(f"spectrogram: bad feature parameters: {err}") from None


def frames_of(audio: np.ndarray, p: SpectrogramParams) -> np.ndarray:
    """Cut mono audio into the front-end's frames: (n_frames, n_fft) float32, hop ``p.hop``.

    Frame j starts at sample j * hop, as in :func:`tinyunfold.features.power_spectrogram`.
    """
    audio = np.asarray(audio, dtype=np.float32)
    n = n_frames(len(audio), p)
    if audio.ndim != 1 or n == 0:
        raise ShapeError(
            f"audio of shape {audio.shape} holds no {p.n_fft}-sample frame",
            "pass mono audio at least one frame long",
        )
    return np.ascontiguousarray(
        np.lib.stride_tricks.sliding_window_view(audio, p.n_fft)[:: p.hop][:n]
    )
