"""The `make bench` entries (pipelines/bench.py) on small models: the fields of the report, the
formula ratios, and the extrapolation from two short runs against a measured full run."""

import json

import numpy as np

from tinyunfold.pipelines import bench

FIELDS = {
    "model", "board", "kernels", "instructions", "cycles_estimate", "flash_bytes", "ram_bytes",
    "formula", "formula_flops", "formula_bytes", "instr_ratio", "flash_ratio",
    "realtime_factor_168mhz", "bit_exact", "kept_macs",
}  # fmt: skip


def test_entries_of_a_padnmf_and_a_dnmfd_model(padnmf_model, dnmfd_model, tmp_path):
    pm, rng = padnmf_model("padnmf", True, 7, K=12, C=3)
    dm, _ = dnmfd_model(7, K=8, C=2)
    models = [
        bench.BenchModel("padnmf", pm, (rng.random((5, 4)) * 10).astype(np.float32)),
        bench.BenchModel(
            "dnmfd",
            dm,
            (rng.random((6, 5)) * 10).astype(np.float32),
            formula_fn=bench._dnmfd_formula,
            short_fn=bench._dnmfd_short,
            work_fn=bench._dnmfd_work,
            has_dense_path=False,
        ),
    ]
    entries = bench.run(tmp_path, models, ["mps2-an386"], ["cmsis", "cmsis-dense"], log=print)
    rep = json.loads((tmp_path / "report.json").read_text())["entries"]
    assert rep == entries and len(entries) == 3  # no -dense entry for Deep-NMFD
    for e in entries:
        assert FIELDS <= set(e) and e["bit_exact"] and e["instructions_method"] == "measured"
        assert e["instr_ratio"] == round(e["instructions"] / e["formula_flops"], 4)
        assert e["flash_ratio"] == round(e["flash_bytes"] / e["formula_bytes"], 4)
        # every layer costs the same: two short runs (C = 1) predict the full one up to the calls
        # of the C separate dictionaries (0.5% on these tiny models, < 0.01% on the bench's)
        assert abs(e["instructions_extrapolated"] / e["instructions"] - 1) < 1e-2
        assert e["cycles_estimate"] > e["instructions"]
        assert e["realtime_factor_168mhz"] is None  # no front-end: no window duration
    masked, dense = entries[0], entries[1]
    assert masked["kept_macs"] < masked["dense_macs"]
    assert masked["instructions"] < dense["instructions"]
    assert "| padnmf | mps2-an386 | cmsis |" in (tmp_path / "report.md").read_text()
    d = entries[2]  # Deep-NMFD: only the dictionaries (and the ranks) are constants in flash,
    # max(D, ε) is computed at start-up, so the constants stay within eq. 4.5.6
    assert d["model_const_ratio"] == round(d["model_const_bytes"] / d["formula_bytes"], 4)
    ranks, m = [2, 3, 1], 6
    assert d["model_const_bytes"] == 4 * (2 + 1) * m * sum(ranks) + 2 * len(ranks)
    assert d["model_const_bytes"] <= d["formula_bytes"] < d["flash_bytes"]
