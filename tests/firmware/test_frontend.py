"""The feature front-end on the boards: window, arm_rfft_fast_f32, power, band sums — bit-exact
with the golden reference, which reaches the rfft through the host build of the same CMSIS-DSP."""

import numpy as np
import pytest

from tinyunfold.codegen import generate
from tinyunfold.errors import ModelFileError
from tinyunfold.features import SpectrogramParams
from tinyunfold.models.frontend import frontend_model
from tinyunfold.tools.deploy import check_model


@pytest.mark.parametrize("board", ["mps2-an386", "mps2-an500", "stm32f405", "host"])
def test_front_end_firmware_bits(board, front_end, frames_of):
    res = check_model(frontend_model(front_end), board, frames_of(front_end, 1))
    assert np.array_equal(res.outputs.view(np.uint32), res.reference.view(np.uint32))


def test_log_features_are_refused_by_codegen():
    p = SpectrogramParams(sample_rate=8000, n_fft=256, hop=128, log=True)
    with pytest.raises(ModelFileError, match="log compression"):
        generate(frontend_model(p))
