"""Slow experiments (make bench): the thesis Dataset1 configuration on the pooled front-end.

Numbers and the full-spectrum runs are in docs/padnmf.md. The report (text, JSON, Fig. 4.11-style
plot, timing) is also copied to build/bench/padnmf_dataset1_bands48/ so `make bench` leaves it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tinyunfold.cli import main

D1_BANDS48 = """
[features]
n_fft = 1024
hop = 8192
window = "hann"
n_bands = 48
[model]
n_layers = 1000
n_discriminative = 20
context = 7
target_rank = 8
noise_rank = 7
alpha_h = 0.0
alpha_s = 1e6
eps = 1e-16
n_epochs = 3
batch_size = 27
init_iter = 200
seed = 0
[detection]
threshold_rule = "gm"
"""


@pytest.mark.slow
def test_dataset1_thesis_configuration_pooled(tmp_path: Path) -> None:
    data = tmp_path / "d1"
    assert (
        main(["dataset", "mdof", "--preset", "dataset1", "--out", str(data), "--no-progress"]) == 0
    )
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(D1_BANDS48)
    out = tmp_path / "bench"
    assert (
        main(
            [
                "padnmf-bench",
                "--dataset",
                str(data),
                "--config",
                str(cfg),
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    rep = json.loads((out / "report.json").read_text())
    methods = rep["methods"]
    assert set(methods) == {"padnmf", "deepnmf", "KL-NMF fixed W, T context", "KL-NMF fixed W, T=1"}
    names = {tuple(m["mixtures"]) for m in methods.values()}
    assert len(names) == 1  # every method is scored on the same test mixtures
    pad = methods["padnmf"]["scores"]["threshold"]
    # the two macro-components are told apart in most single-hit test mixtures
    assert pad["hit_accuracy"] > 0.8
    timing = json.loads((out / "timing.json").read_text())
    assert {"train_padnmf_s", "train_deepnmf_s", "speed"} <= set(timing)
    assert (out / "indices_vs_snr.png").stat().st_size > 0
    keep = Path(__file__).resolve().parents[2] / "build" / "bench" / "padnmf_dataset1_bands48"
    keep.mkdir(parents=True, exist_ok=True)
    for f in ("report.txt", "report.json", "indices_vs_snr.png", "timing.json", "config.json"):
        shutil.copy(out / f, keep / f)
