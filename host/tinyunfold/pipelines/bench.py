"""``make bench``: instructions, cycle estimates, flash and RAM of PAD-NMF models against the
thesis' cost formulas (4.5.3, 4.5.4), one entry per model x board x kernel set.

Models: Table 4's three scenarios with both masks (random dictionaries on M^W), a trained
Dataset1-preset detector (a ``.tum`` given by path), and the authors' published piano network
(imported from the ``.mat`` files, M^W only). Kernel sets: ``cmsis`` / ``ref`` (mask-aware,
:mod:`tinyunfold.golden.padnmf` "compact path") and ``cmsis-dense`` / ``ref-dense`` (the dense
reference path). Every run is checked bit for bit against the golden reference.

How each number is obtained (also in ``report.json`` per entry):

* ``instructions``: QEMU ``-icount`` of one forward pass of the real model
  (``instructions_method = "measured"``) or, when that would take too long (dense K = 1000),
  ``c(2) + (K - 2) (c(3) - c(2))`` from two runs of the same dictionaries with C = 1 and K = 2, 3
  (``"extrapolated"``: every layer runs the same code on the same sizes; the measured masked
  entries check this to < 0.1%).
* ``cycles_estimate``: :func:`tinyunfold.tools.cycles.estimate` on the same two short models,
  extrapolated the same way, plus the flash wait states of the dictionary words the kernels read
  (one word per kept multiply-add for the mask-aware kernels, 2 F r n per layer for the dense).
* ``flash_bytes``/``ram_bytes``: the ELF of the real model (text + data, data + bss).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyunfold import complexity
from tinyunfold.golden import padnmf as golden
from tinyunfold.modelfile import ModelFile
from tinyunfold.models.padnmf import PADNMF, BlockLayout, w_mask
from tinyunfold.platform.boards import load_board
from tinyunfold.tools import cycles
from tinyunfold.tools.build import build_model
from tinyunfold.tools.deploy import check_model
from tinyunfold.tools.report import memory_usage

CLOCK_HZ = 168_000_000
MEASURE_LIMIT = 2.0e9  # instructions above which a forward pass is extrapolated


@dataclass
class BenchModel:
    """One model of the report and how the thesis counts it (PAD-NMF unless the hooks say
    otherwise: Deep-NMFD models come from :func:`dnmfd_scenario_model`)."""

    name: str
    model: ModelFile
    window: np.ndarray  # (m', n) one input window
    seconds_per_window: float | None = None  # audio a streaming detector consumes per window
    formula_fn: Callable[[ModelFile], dict[str, Any]] | None = None
    short_fn: Callable[[ModelFile, int], ModelFile] | None = None
    # (kept multiply-adds per forward pass, dense ones, flash words read by kernel set)
    work_fn: Callable[[ModelFile, str], tuple[int, int, int]] | None = None
    has_dense_path: bool = True  # the -dense kernel sets build another path (PAD-NMF only)

    @property
    def est(self) -> PADNMF:
        return PADNMF.from_modelfile(self.model)

    def short(self, K: int) -> ModelFile:
        return (self.short_fn or _short)(self.model, K)

    def work(self, kernels: str) -> tuple[int, int, int]:
        return (self.work_fn or _padnmf_work)(self.model, kernels)

    def formula(self) -> dict[str, Any]:
        if self.formula_fn is not None:
            return self.formula_fn(self.model)
        e = self.est
        lay = e.layout_
        n = int(self.model.params["n_frames"])
        K, C = e.n_layers, e.n_discriminative
        return {
            "formula": "PAD-NMF 4.5.3 / 4.5.4",
            "formula_params": {
                "m": lay.n_bins,
                "T": lay.context,
                "r": lay.rank,
                "n": n,
                "K": K,
                "C": C,
            },  # fmt: skip
            "formula_flops": complexity.cost_pad_nmf(lay.rank, n, lay.n_bins, lay.context, K),
            "formula_bytes": complexity.BYTES_PER_FLOAT
            * complexity.memory_pad_nmf(lay.rank, lay.n_bins, lay.context, C),
        }


def scenario_model(index: int, seed: int = 0) -> BenchModel:
    """Table 4 scenario ``index`` (0-2) as a masked PAD-NMF: r_j = T, n = 2T, random W on M^W."""
    sc = complexity.SCENARIOS[index]
    lay = BlockLayout(
        n_bins=sc.m,
        context=sc.T,
        ranks=tuple(sc.ranks),
        block_class=tuple(range(sc.I)),
        class_names=tuple(f"c{i}" for i in range(sc.I)),
    )
    rng = np.random.default_rng(seed)
    MW = w_mask(lay)
    Ws = [(rng.random(MW.shape) + 1e-3) * MW for _ in range(sc.C)]
    params = {
        "n_layers": sc.K, "n_discriminative": sc.C, "alpha_h": 0.0, "alpha_s": 0.0, "eps": 1e-16,
        "h_mask": True, "w_mask": True, "h0": "ones", "layout": lay.to_params(), "features": None,
        "n_frames": sc.n,
    }  # fmt: skip
    model = ModelFile("padnmf", params, {"W_fixed": Ws[0], "W_disc": np.stack(Ws[1:])})
    window = (rng.random((sc.m, sc.n)) * 10).astype(np.float32)
    return BenchModel(f"Table 4 scenario {index + 1} ({sc.name})", model, window)


def piano_model(folder: Path) -> BenchModel | None:
    """The authors' published piano network (K = 1000, C = 3, M^W only), or None if absent."""
    from tinyunfold.pipelines.importers import import_padnmf_mat, read_mat_mixtures

    files = [folder / f for f in ("NetParameters_ARM.mat", "NetWeights_ARM.mat")]
    if not all(f.is_file() for f in files):
        return None
    est = import_padnmf_mat(files[0], files[1], ["C4", "E4", "G4"])
    window = read_mat_mixtures(folder / "TrainingSetPiano_ARM.mat", "TrainingSet")[0]
    model = est.to_modelfile({"n_frames": int(window.shape[1])})
    return BenchModel("published piano network (M^W only)", model, window.astype(np.float32))


def trained_model(path: Path, name: str, window: np.ndarray | None = None) -> BenchModel:
    """A trained detector ``.tum`` (e.g. Dataset1 preset); the window defaults to noise."""
    from tinyunfold.kinds import load_model

    model = load_model(path)
    c = golden.constants(model)
    if window is None:
        window = (np.random.default_rng(1).random((c.n_bins, c.n_frames)) * 1e-2).astype(np.float32)
    hop = (model.params.get("features") or {}).get("hop")
    sr = (model.params.get("features") or {}).get("sample_rate")
    spw = float(hop) * c.n_frames / float(sr) if hop and sr else None
    return BenchModel(name, model, window, spw)


def _short(model: ModelFile, K: int) -> ModelFile:
    """The same fixed dictionary with C = 1 and K layers (K - 1 fixed layers): a forward pass
    only (a trained detector's fitted detector arrays are not carried over)."""
    p = {**model.params, "n_layers": K, "n_discriminative": 1}
    p.pop("detection", None)
    W = model.arrays["W_fixed"]
    arrays = {"W_fixed": W, "W_disc": np.zeros((0,) + W.shape)}
    return ModelFile(model.kind, p, arrays)


def _padnmf_work(model: ModelFile, kernels: str) -> tuple[int, int, int]:
    """Kept and dense multiply-adds of a PAD-NMF forward pass, and the dictionary words the
    kernels read from flash (one per multiply-add they perform)."""
    c = golden.constants(model)
    s = golden.support(c.dictionaries, c.mask, c.n_frames)
    layers = sum(c.counts)
    kept = s.kept_macs() * layers
    dense = 2 * c.n_features * c.rank * c.n_frames * layers
    return kept, dense, dense if "dense" in kernels else kept


def dnmfd_scenario_model(index: int, seed: int = 0) -> BenchModel:
    """Table 4 scenario ``index`` (0-2) as a Deep-NMFD: J̄ = I + J dictionaries with r_j = T,
    n = 2T, m, K, C of the scenario, random dictionaries."""
    from tinyunfold.models.dnmfd import DeepNMFD

    sc = complexity.SCENARIOS[index]
    rng = np.random.default_rng(seed)
    J = sc.I + sc.J
    est = DeepNMFD(ranks=sc.ranks, n_targets=sc.I, n_layers=sc.K, n_discriminative=sc.C, eps=1e-16)
    est.set_dictionary(rng.random((J, sc.m, sc.T)) + 1e-3)
    est.W_layers_ = est.W_layers_ * rng.uniform(0.5, 1.5, est.W_layers_.shape)
    model = est.to_modelfile({"n_frames": sc.n})
    window = (rng.random((sc.m, sc.n)) * 10).astype(np.float32)
    return BenchModel(
        f"Deep-NMFD Table 4 scenario {index + 1} ({sc.name})",
        model,
        window,
        formula_fn=_dnmfd_formula,
        short_fn=_dnmfd_short,
        work_fn=_dnmfd_work,
        has_dense_path=False,
    )


def _dnmfd_formula(model: ModelFile) -> dict[str, Any]:
    ranks = [int(r) for r in model.array("ranks")]
    m = int(model.array("W_hat").shape[1])
    n, K, C = (
        int(model.params["n_frames"]),
        model.params["n_layers"],
        model.params["n_discriminative"],
    )
    return {
        "formula": "Deep-NMFD 4.5.5 / 4.5.6",
        "formula_params": {"m": m, "ranks": ranks, "n": n, "K": K, "C": C},
        "formula_flops": complexity.cost_deep_nmfd(ranks, n, m, K),
        "formula_bytes": complexity.BYTES_PER_FLOAT * complexity.memory_deep_nmfd(ranks, m, C),
        "formula_adjoint_flops": complexity.cost_deep_nmfd_adjoint(ranks, n, m, K),
    }


def _dnmfd_short(model: ModelFile, K: int) -> ModelFile:
    W = model.arrays["W_hat"]
    p = {**model.params, "n_layers": K, "n_discriminative": 0}
    return ModelFile(model.kind, p, {**model.arrays, "W_layers": np.zeros((0,) + W.shape, W.dtype)})


def _dnmfd_work(model: ModelFile, kernels: str) -> tuple[int, int, int]:
    ranks = [int(r) for r in model.array("ranks")]
    m, R = int(model.array("W_hat").shape[1]), max(ranks)
    n, K = int(model.params["n_frames"]), int(model.params["n_layers"])
    kept = 2 * m * sum(max(n - r, 0) for rj in ranks for r in range(rj)) * K
    dense = 2 * m * len(ranks) * R * n * K
    return kept, dense, kept


def entry(
    bm: BenchModel, board: str, kernels: str, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Measure one model x board x kernel set (see the module docstring)."""
    t0 = time.time()
    b = load_board(board)
    K = int(bm.model.params["n_layers"])
    f = bm.formula()
    full = build_model(bm.model, board, kernels)
    mem = memory_usage(full.artifact)
    # two short models: per-layer instructions and cycles
    counts, cyc = [], []
    short_exact = True
    for k in (2, 3):
        m = bm.short(k)
        res = check_model(m, board, bm.window, kernels)
        short_exact &= res.bit_exact
        counts.append(res.count)
        est = cycles.estimate(
            b, res.build.artifact, np.ascontiguousarray(bm.window, "<f4").tobytes()
        )
        cyc.append(est)
    per_layer = counts[1] - counts[0]
    extrapolated = counts[0] + (K - 2) * per_layer
    expected = extrapolated
    if expected <= MEASURE_LIMIT:
        res = check_model(bm.model, board, bm.window, kernels, timeout_s=1200)
        instructions, method, exact = res.count, "measured", res.bit_exact
    else:
        instructions, method, exact = extrapolated, "extrapolated", short_exact
    core = cyc[0].cycles + (K - 2) * (cyc[1].cycles - cyc[0].cycles)
    tab = cycles.table_for(b)
    kept, dense, words = bm.work(kernels)
    wait = words * tab.flash_wait_states / tab.flash_words_per_line
    e: dict[str, Any] = {
        "model": bm.name,
        "board": board,
        "kernels": kernels,
        "bit_exact": bool(exact),
        "instructions": int(instructions),
        "instructions_method": method,
        "instructions_extrapolated": int(extrapolated),
        "instructions_per_layer": int(per_layer),
        "cycles_estimate": round(core + wait),
        "cycles_core": round(core),
        "cycles_flash_wait": round(wait),
        "cycle_table": {"core": tab.core, "part": tab.part, "clock_hz": tab.clock_hz},
        "cycles_per_instruction": round((core + wait) / instructions, 3),
        "flash_bytes": mem.flash,
        "ram_bytes": mem.ram,
        "model_const_bytes": int(full.generated.info["flash_const_bytes"]),
        **f,
        "instr_ratio": round(instructions / f["formula_flops"], 4),
        "flash_ratio": round(mem.flash / f["formula_bytes"], 4),  # the whole ELF's flash
        # the model's constants alone (what the thesis' memory formula counts) vs the formula
        "model_const_ratio": round(
            int(full.generated.info["flash_const_bytes"]) / f["formula_bytes"], 4
        ),
        "kept_macs": int(kept),
        "dense_macs": int(dense),
        "instructions_per_kept_mac": round(instructions / kept, 3),
        "seconds_168mhz_by_instructions": round(instructions / CLOCK_HZ, 4),
        "seconds_at_clock_by_cycles": round((core + wait) / tab.clock_hz, 4),
        # streaming detectors: seconds of audio per second of CPU at 168 MHz (instructions as
        # cycles); None for models without a front-end (no window duration).
        "realtime_factor_168mhz": (
            round(bm.seconds_per_window * CLOCK_HZ / instructions, 3)
            if bm.seconds_per_window
            else None
        ),
        "wall_s": round(time.time() - t0, 1),
    }
    log(
        f"{bm.name:45s} {board:11s} {kernels:12s} {'BIT-EXACT' if exact else 'MISMATCH'} "
        f"instr {instructions:,} ({method}) ratio {e['instr_ratio']:.3f}; cycles ~{e['cycles_estimate']:,}; "
        f"flash {mem.flash:,} B ratio {e['flash_ratio']:.3f}; {e['wall_s']} s"
    )
    return e


def markdown(entries: list[dict[str, Any]]) -> str:
    """The report's markdown twin (docs/architecture.md "PAD-NMF against the thesis' formulas")."""
    lines = [
        "| model | board | kernels | instructions | cycles (est.) | formula | formula flops "
        "| instr ratio | instr / kept MAC | flash B | formula B | flash ratio | constants ratio "
        "| RAM B | bit-exact |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        star = "" if e["instructions_method"] == "measured" else " *"
        lines.append(
            f"| {e['model']} | {e['board']} | {e['kernels']} | {e['instructions']:,}{star} | "
            f"{e['cycles_estimate']:,} | {e['formula']} | {e['formula_flops']:,} | "
            f"{e['instr_ratio']:.3f} | "
            f"{e['instructions_per_kept_mac']:.2f} | {e['flash_bytes']:,} | "
            f"{e['formula_bytes']:,} | {e['flash_ratio']:.3f} | {e['model_const_ratio']:.3f} | "
            f"{e['ram_bytes']:,} | "
            f"{e['bit_exact']} |"
        )
    lines.append("")
    lines.append(
        "\\* extrapolated from K = 2, 3 (C = 1) runs of the same dictionary, see the JSON."
    )
    return "\n".join(lines) + "\n"


def run(
    out: Path,
    models: list[BenchModel],
    boards: list[str],
    kernels: list[str],
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Measure every model x board x kernel set; write ``report.json`` (``{"entries": [...]}``)
    and ``report.md`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for bm in models:
        for board in boards:
            for k in kernels:
                if k.endswith("-dense") and not bm.has_dense_path:
                    continue  # the same code as the kernel set without -dense
                entries.append(entry(bm, board, k, log))
                (out / "report.json").write_text(json.dumps({"entries": entries}, indent=1))
    (out / "report.md").write_text(markdown(entries))
    return entries


# ------------------------------------------------------------------ streaming detectors
CLOCKS_MHZ = {"mps2-an386": 168, "mps2-an500": 216, "stm32f405": 168}


def streaming_detector_rows(out: Path) -> list[dict[str, Any]]:
    """Per streaming detector kind of the registry (tiny synthetic preset) and QEMU board: the detector
    firmware streaming a two-hit WAV; instructions per frame, per window and per second of audio,
    and the real-time factor: seconds of audio per second of CPU at the board's clock (168 MHz
    M4F, 216 MHz M7) with instructions as cycles (a lower bound on cycles: > 1 is faster than
    real time). Every row is also checked bit for bit against ``detect``."""
    from tinyunfold import kinds
    from tinyunfold.kinds import save_model
    from tinyunfold.pipelines import detector_demo
    from tinyunfold.pipelines.detect import read_pcm, stream_config
    from tinyunfold.tools.detector import run_detector

    ds = detector_demo.make_dataset(out / "dataset")
    wavs = detector_demo.make_wavs(out / "wav")
    streaming = [
        k.name for k in kinds.of_task("detector") if k.stream is not None and k.training is not None
    ]
    rows = []
    for kind in streaming:
        model = detector_demo.train(ds, kind)
        save_model(out / f"{kind}.tum", model)
        cfg = stream_config(model)
        pcm = read_pcm(wavs["two"], cfg)
        for board in ("mps2-an386", "mps2-an500"):
            mhz = CLOCKS_MHZ[board]
            r = run_detector(model, board, pcm)
            rep = r.report()
            t = r.totals or {}
            seconds = len(pcm) / cfg.sample_rate
            per_s = rep["instructions_total"] / seconds
            rows.append(
                {
                    "model": f"{kind} detector (tiny synthetic preset)",
                    "board": board,
                    "kernels": "cmsis",
                    "clock_mhz": mhz,
                    "bit_exact": r.bit_exact,
                    "frames": t.get("frames"),
                    "windows": t.get("windows"),
                    "instructions_per_frame": rep["instructions_per_frame"],
                    "instructions_per_window": rep["instructions_per_window"],
                    "instructions_per_audio_second": round(per_s),
                    "realtime_factor": mhz * 1e6 / per_s,
                    "realtime_factor_168mhz": 168e6 / per_s,
                    "stack_bytes": rep["stats"]["stack_hwm"],
                    "audio_s": seconds,
                }
            )
    return rows


def trained_streaming_rows(
    model_path: Path,
    dataset: Path,
    n_mixtures: int = 2,
    boards: tuple[str, ...] = ("mps2-an386",),
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """A trained detector (e.g. Dataset1 preset, K = C = 20, UR decision) streaming ``n_mixtures``
    test mixtures of its dataset, one after the other, through the detector firmware
    (:func:`tinyunfold.pipelines.stream_eval.board_realtime`: events bit for bit against
    ``detect``; recordings scaled by 2^-k into int16, ``input_scale`` x 4^k). Real-time factor at
    168 MHz with instructions as cycles, and by the cycle estimate: the cycles per instruction of
    one forward pass (:func:`entry`, tools/cycles.py) applied to every instruction of the stream."""
    from tinyunfold.kinds import load_model
    from tinyunfold.pipelines import stream_eval

    model = load_model(model_path)
    k, streams = stream_eval.dataset_streams(dataset)
    step = max(1, len(streams) // n_mixtures)  # spread over classes and SNRs
    pcm = stream_eval.concatenated(streams[::step], n_mixtures)
    deployed = stream_eval.with_headroom(model, k)
    rows = []
    for board in boards:
        fwd = entry(trained_model(model_path, model_path.name), board, "cmsis", log)
        cpi = round(fwd["cycles_estimate"] / fwd["instructions"], 3)
        r = stream_eval.board_realtime(deployed, pcm, board, cycles_per_instruction=cpi)
        mhz = CLOCKS_MHZ[board]
        per_s = r["instructions_per_audio_second"]
        rows.append(
            {
                "model": f"trained detector {model_path.name} ({n_mixtures} test mixtures)",
                "clock_mhz": mhz,
                "realtime_factor": mhz * 1e6 / per_s,
                "headroom_shift": k,
                "forward_instructions": fwd["instructions"],
                "forward_cycles_estimate": fwd["cycles_estimate"],
                **r,
            }
        )
        log(
            f"{model_path.name} streaming on {board}: "
            f"{'BIT-EXACT' if r['bit_exact'] else 'MISMATCH'}, {per_s:,} instructions per s of "
            f"audio, {r['realtime_factor_168mhz']:.1f}x real time at 168 MHz "
            f"({r['realtime_factor_168mhz_by_cycles']:.1f}x by the cycle estimate)"
        )
    return rows


def streaming_markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| detector | board | MHz | bit-exact | instr./frame | instr./window | instr./s audio "
        "| real-time factor (audio s per CPU s) | by cycle estimate | stack B |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for d in rows:
        cyc = d.get("realtime_factor_168mhz_by_cycles")
        cyc_s = "-" if cyc is None else f"{cyc * d['clock_mhz'] / 168:.1f}"
        lines.append(
            f"| {d['model']} | {d['board']} | {d['clock_mhz']} | {d['bit_exact']} | "
            f"{d['instructions_per_frame']:,} | {d['instructions_per_window']:,} | "
            f"{d['instructions_per_audio_second']:,} | {d['realtime_factor']:.1f} | {cyc_s} | "
            f"{d['stack_bytes']} |"
        )
    return "\n".join(lines) + "\n"
