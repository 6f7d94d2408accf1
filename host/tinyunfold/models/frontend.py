"""The ``spectrogram`` model kind: the feature front-end alone, deployable on the boards.

Its params hold ``features`` (``SpectrogramParams.to_dict()``); window and band edges are derived.
One firmware forward pass maps ``n_fft`` samples (one frame) to the F band powers.
"""

from __future__ import annotations

from tinyunfold.errors import ModelFileError
from tinyunfold.features import FeatureParamsError, SpectrogramParams
from tinyunfold.modelfile import ModelFile, register_kind, require_params

KIND = "spectrogram"


def frontend_model(p: SpectrogramParams) -> ModelFile:
    return ModelFile(kind=KIND, params={"features": p.to_dict()}, arrays={})


def params_of(model: ModelFile) -> SpectrogramParams:
    return SpectrogramParams.from_dict(dict(model.params["features"]))


@register_kind(KIND)
def _validate(model: ModelFile) -> None:
    require_params(model, "features")
    try:
        params_of(model)
    except (FeatureParamsError, TypeError) as err:
        raise ModelFileError(f"spectrogram: bad feature parameters: {err}") from None
