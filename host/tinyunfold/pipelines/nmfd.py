"""NMFD pipelines: ARD-NMFD on a dataset, the swimmer experiments (thesis 3.2.2, 3.3.2), their
figures, and the detection benchmark of docs/nmfd.md (every detector kind against its baselines).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from tinyunfold.errors import TinyUnfoldError
from tinyunfold.pipelines.plots import pyplot


def dataset_matrix(ds: Any, params: Any, source: str) -> np.ndarray:
    """Spectrograms of the chosen recordings of a dataset, concatenated along time."""
    from tinyunfold.features import power_spectrogram

    sigs: list[np.ndarray] = []
    if source in ("targets", "all"):
        for cls in ds.classes:
            sigs.extend(ds.targets.get(cls, []))
    if source in ("noise", "all"):
        sigs.extend(ds.noise)
    if source == "mixtures":
        sigs.extend(m.audio for m in ds.mixtures)
    if not sigs:
        raise TinyUnfoldError(f"the dataset has no {source} recordings", "choose another --source")
    return np.concatenate([power_spectrogram(x, params) for x in sigs], axis=1)


def ardd_report(model: Any, seconds: float) -> dict[str, Any]:
    rel = (model.mu_ - model.bound_) / model.bound_
    return {
        "J_hat": int(model.n_dicts_),
        "ranks_hat": [int(r) for r in model.ranks_[model.relevant_]],
        "relevant": [bool(v) for v in model.relevant_],
        "mu_rel_to_bound": [float(v) for v in rel],
        "b": float(model.b_),
        "bound": [float(v) for v in model.bound_],
        "n_iter": int(model.n_iter),
        "seconds": round(seconds, 2),
        "final_objective": float(model.loss_[-1]) if model.loss_ else None,
    }


def run_swimmer(
    intensity: float = 20.0,
    seed: int = 0,
    nmf_iter: int = 1000,
    nmfd_iter: int = 500,
    progress: bool = True,
) -> tuple[dict[str, Any], Any, Any]:
    """Both swimmer experiments; returns (report, ARD-NMF model, ARD-NMFD model)."""
    from tinyunfold.datasets import swimmer
    from tinyunfold.models.ard import ARDNMF, ARDNMFD

    Xv = swimmer.swimmer_vectorised(intensity=intensity, seed=seed)
    t0 = time.time()
    nmf = ARDNMF(
        rank=32,
        beta=1,
        prior="l1",
        a=10,
        tau=1e-6,
        n_iter=nmf_iter,
        random_state=seed,
        progress=progress,
    ).fit(Xv)
    t_nmf = time.time() - t0
    Xc = swimmer.swimmer_concatenated(intensity=intensity, seed=seed)
    t0 = time.time()
    nmfd = ARDNMFD(
        n_dicts=26,
        max_rank=6,
        beta=1,
        prior="l1",
        a=5e4,
        tau=1e-3,
        n_iter=nmfd_iter,
        random_state=seed,
        progress=progress,
    ).fit(Xc)
    t_nmfd = time.time() - t0
    rel = (nmf.lambda_ - nmf.bound_) / nmf.bound_
    report = {
        "data": {
            "intensity": intensity,
            "seed": seed,
            "vectorised": list(Xv.shape),
            "concatenated": list(Xc.shape),
        },
        "ard_nmf": {
            "r_hat": int(nmf.rank_),
            "thesis_r_hat": 16,
            "initial_rank": 32,
            "lambda_rel_to_bound": sorted((float(v) for v in rel), reverse=True),
            "n_iter": nmf_iter,
            "seconds": round(t_nmf, 2),
        },
        "ard_nmfd": dict(
            ardd_report(nmfd, t_nmfd),
            thesis_J_hat=13,
            initial_J=26,
            initial_rank=6,
            parts_recovered=len(swimmer.recovered_patterns(nmfd.W_, nmfd.relevant_)),
            parts_total=len(swimmer.pattern_templates()),
        ),
    }
    return report, nmf, nmfd


# ----------------------------------------------------------------------------- plots
def plot_ardnmf(model: Any, path: Path, image_shape: tuple[int, int]) -> None:
    """Fig. 3.3: λ_s along iterations with the bound B, and the surviving atoms as images."""
    plt = pyplot()
    keep = np.nonzero(model.relevant_)[0]
    ncol = max(len(keep), 1)
    fig = plt.figure(figsize=(max(8, ncol * 0.7), 6))
    ax = fig.add_subplot(2, 1, 1)
    ax.semilogy(model.lambda_history_)
    ax.axhline(model.bound_, color="r", ls="--", label="B = b/c")
    ax.set_xlabel("iteration")
    ax.set_ylabel("λ_s")
    ax.set_title(f"ARD-NMF: r-hat = {model.rank_} of {model.rank}")
    ax.legend()
    for i, s in enumerate(keep):
        a = fig.add_subplot(2, ncol, ncol + i + 1)
        a.imshow(model.W_[:, s].reshape(image_shape), cmap="gray_r")
        a.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_ardd(model: Any, path: Path, image_shape: tuple[int, int] | None) -> None:
    """Fig. 3.4/3.5: μ_λ(j) along iterations with B(j), surviving W(j) and their λ(j)."""
    plt = pyplot()
    keep = np.nonzero(model.relevant_)[0]
    ncol = max(len(keep), 1)
    fig = plt.figure(figsize=(max(8, ncol * 0.9), 8))
    ax = fig.add_subplot(3, 1, 1)
    ax.semilogy(model.mu_history_)
    for B in np.unique(np.round(model.bound_, 12)):
        ax.axhline(B, color="r", ls="--")
    ax.set_xlabel("iteration")
    ax.set_ylabel("μ_λ(j)")
    ax.set_title(f"ARD-NMFD: J-hat = {model.n_dicts_} of {len(model.mu_)} (dashed: B(j))")
    vmax = model.W_.max()
    for i, j in enumerate(keep):
        a = fig.add_subplot(3, ncol, ncol + i + 1)
        a.imshow(model.W_[j], cmap="gray_r", aspect="auto", vmin=0, vmax=vmax)
        a.set_title(f"{j}", fontsize=8)
        a.axis("off")
        b = fig.add_subplot(3, ncol, 2 * ncol + i + 1)
        b.bar(np.arange(model.lambda_.shape[1]), model.lambda_[j] / model.bound_[j] - 1)
        b.set_xticks([])
        if i == 0:
            b.set_ylabel("λ(j)/B(j) − 1", fontsize=7)
        b.tick_params(labelsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def bench_swimmer(n_seeds: int, nmf_iter: int = 1000, nmfd_iter: int = 500) -> list[dict[str, Any]]:
    rows = []
    for seed in range(n_seeds):
        rep, _, _ = run_swimmer(seed=seed, nmf_iter=nmf_iter, nmfd_iter=nmfd_iter, progress=False)
        rows.append(
            {
                "seed": seed,
                "r_hat": rep["ard_nmf"]["r_hat"],
                "J_hat": rep["ard_nmfd"]["J_hat"],
                "ranks_hat": rep["ard_nmfd"]["ranks_hat"],
                "parts_recovered": rep["ard_nmfd"]["parts_recovered"],
                "seconds_nmf": rep["ard_nmf"]["seconds"],
                "seconds_nmfd": rep["ard_nmfd"]["seconds"],
            }
        )
    return rows


def format_swimmer_bench(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| seed | ARD-NMF r-hat (thesis 16) | ARD-NMFD J-hat (thesis 13) | ranks r_j-hat | "
        "whole parts of 13 | s NMF / NMFD |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['seed']} | {r['r_hat']} | {r['J_hat']} | "
            f"{' '.join(map(str, sorted(r['ranks_hat'])))} | {r['parts_recovered']} | "
            f"{r['seconds_nmf']:.0f} / {r['seconds_nmfd']:.0f} |"
        )
    return "\n".join(lines)


def bench_detect(
    out: Path, presets: list[str], methods: list[str], overrides: list[str]
) -> dict[str, Any]:
    """Train each detector kind on each preset, evaluate it with its baselines on the test set.

    ``overrides`` are ``KIND.SECTION.KEY=VALUE`` config values of one kind.
    """
    from dataclasses import replace

    from tinyunfold import kinds
    from tinyunfold.datasets import load_dataset, write_dataset
    from tinyunfold.datasets.mdof import check_config, generate, preset_config
    from tinyunfold.datasets.prep import model_front_end, train_split
    from tinyunfold.detection import fit_thresholds
    from tinyunfold.pipelines.evaluation import evaluate_methods, score_mixtures

    results: dict[str, Any] = {}
    for preset in presets:
        root = out / preset
        if not (root / "labels.csv").is_file():
            cfg_ds = preset_config(preset)
            check_config(cfg_ds)
            write_dataset(root, generate(cfg_ds), overwrite=True)
        ds = load_dataset(root)
        res_p: dict[str, Any] = {}
        for name in methods:
            kind = kinds.get(name)
            training = kind.require("training")
            sets = [s.split(".", 1)[1] for s in overrides if s.startswith(name + ".")]
            t0 = time.time()
            trained = training.fit(ds, training.load_config(None, sets), False)
            train_s = time.time() - t0
            model = trained.modelfile()
            parts = kind.require("detection")(model)
            det = trained.detector
            feats, scale = model_front_end(model.params)
            meths: dict[str, Any] = {name: (trained.transformer, det, {})}
            meths.update(
                {f"{k} ({name} init)": v for k, v in parts.baselines(ds, feats, scale).items()}
            )
            ev = evaluate_methods(meths, ds, feats, scale, progress=False)
            n_frames = int(trained.extra.get("n_frames", 0))
            flops = kind.require("forward_flops")(trained.transformer, n_frames) / 1e6
            for mname, r in ev.items():
                sc = r["scores"]["threshold"]
                res_p[mname] = {
                    "rate": sc["rate"],
                    "hit_accuracy": sc["hit_accuracy"],
                    "false_positive_rate": sc["false_positive_rate"],
                    "two_hit": sc["two_hit"],
                    "train_seconds": round(train_s, 1) if mname == name else 0.0,
                    "forward_mflops": flops,
                }
            # the thesis' other threshold rule (piano, 4.3.6): τ = max over the no-hit training
            # mixtures, from the training indices stored in the detector (not tuned on test data)
            nohit = np.array([len(t) == 0 for t in det.train_labels])
            if nohit.any():
                det_max = replace(
                    det,
                    rule="max",
                    ur=None,
                    thresholds=fit_thresholds(det.train_index[nohit], "max"),
                )
                test = train_split(ds)[1]
                scm = score_mixtures(ev[name]["index"], test, ds.classes, det_max)["threshold"]
                res_p[f"{name} (tau = max)"] = {
                    "rate": scm["rate"],
                    "hit_accuracy": scm["hit_accuracy"],
                    "false_positive_rate": scm["false_positive_rate"],
                    "two_hit": scm["two_hit"],
                    "train_seconds": 0.0,
                    "forward_mflops": flops,
                }
            print(f"[{preset}] {name}: trained in {train_s:.1f} s", flush=True)
        results[preset] = res_p
    return results


def format_detect_bench(results: dict[str, Any]) -> str:
    lines = []
    for preset, res in results.items():
        snrs = sorted(
            {s for r in res.values() for c in r["rate"].values() for s in c},
            key=lambda s: float(s) if s != "n/a" else 1e9,
        )
        lines.append(
            f"\n**{preset}** — hit accuracy (correct class) per SNR, false positives "
            "on no-hit test mixtures, training time, forward MFLOPs (4.5.x)\n"
        )
        lines.append(
            "| method | "
            + " | ".join(f"{s} dB" for s in snrs)
            + " | all hits | FP | 2-hit top-2 | train s | MFLOP |"
        )
        lines.append("|---" * (len(snrs) + 6) + "|")
        for name, r in res.items():
            cells = []
            for s in snrs:
                vals = [c[s] for c in r["rate"].values() if s in c]
                cells.append(f"{100 * float(np.mean(vals)):.0f}%" if vals else "-")
            fp = r["false_positive_rate"]
            ha = r["hit_accuracy"]
            th = r["two_hit"]
            two = "-" if not th else f"{100 * th['top2_known_count']:.0f}%"
            lines.append(
                f"| {name} | "
                + " | ".join(cells)
                + f" | {'-' if ha is None else f'{100 * ha:.1f}%'}"
                + f" | {'-' if fp is None else f'{100 * fp:.0f}%'}"
                + f" | {two}"
                + f" | {r['train_seconds']:.0f} | {r['forward_mflops']:.2f} |"
            )
    return "\n".join(lines)
