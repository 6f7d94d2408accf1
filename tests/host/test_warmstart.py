"""The streaming protocol of pipelines/warmstart.py: cold boundary windows are the mixtures' own
forward passes; warm windows follow PADNMF.transform_stream."""

import numpy as np

from tinyunfold.models.padnmf import PADNMF
from tinyunfold.pipelines.warmstart import stream_windows


def test_cold_boundary_windows_are_the_plain_forward_pass(padnmf_model):
    model, rng = padnmf_model("padnmf", True, 5, n=6)
    est = PADNMF.from_modelfile(model)
    specs = [rng.random((5, 6)) * 10 for _ in range(3)]
    cold = stream_windows(est, specs, 2, warm=False)
    np.testing.assert_allclose(cold, est.transform(specs), rtol=1e-12)
    warm = stream_windows(est, specs, 2, warm=True)
    np.testing.assert_array_equal(warm[0], cold[0])  # nothing before the first window
    assert not np.allclose(warm[1:], cold[1:], rtol=1e-9)


def test_warm_windows_follow_transform_stream(padnmf_model):
    model, rng = padnmf_model("deepnmf", False, 6, n=4)
    est = PADNMF.from_modelfile(model)
    est.warm_stride = 4  # stride = n: consecutive windows, every boundary window is analysed
    specs = [rng.random((5, 4)) * 10 for _ in range(3)]
    np.testing.assert_allclose(
        stream_windows(est, specs, 4, warm=True), est.transform_stream(specs), rtol=1e-12
    )


def test_accuracy_vs_layers_scores_each_decision_rule(detector_set):
    """One row per K x start x decision; the threshold rows are those of a threshold-only run."""
    from tinyunfold.pipelines.warmstart import accuracy_vs_layers

    models, _ = detector_set
    ds = models["padnmf"].parent / "ds"
    both = accuracy_vs_layers(models["padnmf"], ds, [3], 4, log=lambda s: None,
                              methods=("threshold", "ur"))  # fmt: skip
    assert [(r["start"], r["decision"]) for r in both] == [
        ("cold", "threshold"), ("cold", "ur"), ("warm", "threshold"), ("warm", "ur")
    ]  # fmt: skip
    one = accuracy_vs_layers(models["padnmf"], ds, [3], 4, log=lambda s: None)
    assert one == [r for r in both if r["decision"] == "threshold"]
    assert all(r["test_mixtures"] == 6 for r in both)
