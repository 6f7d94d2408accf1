"""``tinyunfold nmfd ...``: NMFD tools (ARD rank/dictionary estimation, swimmer demo, Table 4)
and ``tinyunfold train dnmfd`` (Deep-NMFD, thesis 4.4)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from tinyunfold.errors import TinyUnfoldError

NMFD_HELP = """\
NMFD (nonnegative matrix factor deconvolution, thesis 3.3) tools.

  tinyunfold nmfd ard --dataset data/d1 --max-dicts 16 --max-rank 8
      ARD-NMFD: estimates the number of dictionaries J and their ranks r_j from the dataset's
      spectrograms (targets + noise by default), writes a report and plots.
  tinyunfold nmfd swimmer --out swimmer-ard
      The swimmer experiments of 3.2.2 (ARD-NMF, rank 16) and 3.3.2 (ARD-NMFD, J-hat = 13).
  tinyunfold nmfd complexity
      Table 4 (cost in MFLOPS and memory in MB of PAD-NMF vs Deep-NMFD, eqs. 4.5.1-4.5.6).
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "nmfd",
        help="NMFD tools: ARD estimation of J and r_j, swimmer demo, complexity table",
        description=NMFD_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ns = p.add_subparsers(dest="what", metavar="<what>", required=True)

    a = ns.add_parser(
        "ard",
        help="estimate the number of dictionaries J and ranks r_j of a dataset (ARD-NMFD)",
        description=(
            "Runs l1/l2 ARD-NMFD (thesis 3.3.2) on the concatenated spectrograms of a dataset. "
            "Dictionaries whose mean relevance mu_lambda(j) stays at the bound B(j) (3.3.17) are "
            "pruned; J-hat (3.3.18) counts the others; r_j-hat counts the non-zero columns of "
            "each surviving dictionary. KL-ARD reads the data as Poisson counts, so the result "
            "depends on the data scale: --mean-level sets the mean of X (default 10)."
        ),
    )
    a.add_argument("--dataset", required=True, help="dataset folder (see `tinyunfold dataset`)")
    a.add_argument("--max-dicts", type=int, default=16, help="upper bound J (default 16)")
    a.add_argument("--max-rank", type=int, default=8, help="upper bound r_j for all j (default 8)")
    a.add_argument(
        "--source",
        choices=("targets", "noise", "all", "mixtures"),
        default="all",
        help="which recordings to factorise: clean targets, noise, both (default), or mixtures",
    )
    _feature_args(a)
    _ard_args(a, a_default=5e4, tau_default=1e-3, iters=500)
    a.add_argument("--mean-level", type=float, default=10.0, help="scale X to this mean")
    a.add_argument("--out", default="nmfd-ard", help="output folder (report.json + plots)")
    a.set_defaults(func=_cmd_ard)

    s = ns.add_parser(
        "swimmer",
        help="ARD-NMF (rank 16, Fig. 3.3) and ARD-NMFD (J-hat = 13, Fig. 3.4) on swimmer data",
        description=(
            "Builds the swimmer data (256 images 20x11, torso + 4 limbs x 4 positions, Poisson "
            "noise) and runs l1-ARD-NMF on the vectorised images (r=32, a=10, tau=1e-6) and "
            "l1-ARD-NMFD on the concatenated images (J=26, r_j=6, a=5e4, tau=1e-3), beta=1, as "
            "in sections 3.2.2 and 3.3.2. Writes report.json and figures to --out."
        ),
    )
    s.add_argument("--out", default="swimmer-ard", help="output folder")
    s.add_argument("--intensity", type=float, default=20.0, help="Poisson intensity of a pixel")
    s.add_argument("--seed", type=int, default=0, help="noise and initialisation seed")
    s.add_argument("--nmf-iter", type=int, default=1000, help="ARD-NMF iterations (default 1000)")
    s.add_argument("--nmfd-iter", type=int, default=500, help="ARD-NMFD iterations (default 500)")
    s.add_argument("--no-plots", action="store_true", help="skip the figures")
    s.set_defaults(func=_cmd_swimmer)

    c = ns.add_parser(
        "complexity",
        help="print Table 4 (PAD-NMF vs Deep-NMFD cost and memory)",
        description=(
            "Evaluates eqs. 4.5.3-4.5.6 on the three scenarios of section 4.5. --variant printed "
            "uses the scenarios as the text states them; --variant thesis uses the choices that "
            "reproduce the printed table (see docs/nmfd.md)."
        ),
    )
    c.add_argument("--variant", choices=("printed", "thesis"), default="thesis")
    c.add_argument("--json", action="store_true", help="print JSON instead of a table")
    c.set_defaults(func=_cmd_complexity)


def _feature_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n-fft", type=int, default=512, help="STFT frame/FFT size (default 512)")
    p.add_argument("--hop", type=int, default=256, help="STFT hop in samples (default 256)")
    p.add_argument("--n-bands", type=int, default=32, help="pool into this many bands (0: none)")
    p.add_argument("--f-max", type=float, default=None, help="highest kept frequency in Hz")


def _ard_args(p: argparse.ArgumentParser, a_default: float, tau_default: float, iters: int) -> None:
    p.add_argument("--prior", choices=("l1", "l2"), default="l1", help="l1 (Exponential) or l2")
    p.add_argument("--beta", type=float, default=1.0, help="beta of the divergence (default 1)")
    p.add_argument(
        "--a", type=float, default=a_default, help=f"inverse-Gamma shape a ({a_default:g})"
    )
    p.add_argument("--b", type=float, default=None, help="scale b (default: rule 3.3.21)")
    p.add_argument(
        "--tau", type=float, default=tau_default, help=f"threshold tau ({tau_default:g})"
    )
    p.add_argument("--iter", type=int, default=iters, help=f"iterations (default {iters})")
    p.add_argument("--seed", type=int, default=0, help="initialisation seed")
    p.add_argument("--no-plots", action="store_true", help="skip the figures")


def spectrogram_params(args: argparse.Namespace, sample_rate: int) -> Any:
    from tinyunfold.features import SpectrogramParams

    return SpectrogramParams(
        sample_rate=int(sample_rate),
        n_fft=int(args.n_fft),
        hop=int(args.hop),
        n_bands=int(args.n_bands) if args.n_bands else None,
        f_max=args.f_max,
    )


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


# ----------------------------------------------------------------------------- ard
def _cmd_ard(args: argparse.Namespace) -> int:
    from tinyunfold.datasets import load_dataset
    from tinyunfold.models.ard import ARDNMFD

    ds = load_dataset(args.dataset, load_stems=False)
    params = spectrogram_params(args, ds.sample_rate)
    X = dataset_matrix(ds, params, args.source)
    X = X * (args.mean_level / max(float(X.mean()), 1e-300))
    print(f"X: {X.shape[0]} features x {X.shape[1]} frames ({args.source}), mean {X.mean():.3g}")
    t0 = time.time()
    model = ARDNMFD(
        n_dicts=args.max_dicts,
        max_rank=args.max_rank,
        beta=args.beta,
        prior=args.prior,
        a=args.a,
        b=args.b,
        tau=args.tau,
        n_iter=args.iter,
        random_state=args.seed,
        progress=True,
    ).fit(X)
    report = _ardd_report(model, time.time() - t0)
    report.update(dataset=str(args.dataset), source=args.source, features=params.to_dict())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1))
    if not args.no_plots:
        plot_ardd(model, out / "ard_nmfd.png", image_shape=None)
    print(
        f"J-hat = {report['J_hat']} of {args.max_dicts}; ranks of the survivors: "
        f"{report['ranks_hat']}"
    )
    print(
        f"wrote {out / 'report.json'}" + ("" if args.no_plots else f" and {out / 'ard_nmfd.png'}")
    )
    return 0


def _ardd_report(model: Any, seconds: float) -> dict[str, Any]:
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


# ----------------------------------------------------------------------------- swimmer
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
        "ard_nmfd": dict(_ardd_report(nmfd, t_nmfd), thesis_J_hat=13, initial_J=26, initial_rank=6),
    }
    return report, nmf, nmfd


def _cmd_swimmer(args: argparse.Namespace) -> int:
    report, nmf, nmfd = run_swimmer(args.intensity, args.seed, args.nmf_iter, args.nmfd_iter)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1))
    if not args.no_plots:
        from tinyunfold.datasets.swimmer import HEIGHT, WIDTH

        plot_ardnmf(nmf, out / "ard_nmf.png", (HEIGHT, WIDTH))
        plot_ardd(nmfd, out / "ard_nmfd.png", image_shape=None)
    r = report
    print(f"ARD-NMF : r-hat = {r['ard_nmf']['r_hat']} (thesis 16), initial r = 32")
    print(
        f"ARD-NMFD: J-hat = {r['ard_nmfd']['J_hat']} (thesis 13), initial J = 26; "
        f"ranks of the survivors {r['ard_nmfd']['ranks_hat']}"
    )
    print(f"wrote {out}/report.json" + ("" if args.no_plots else " and figures"))
    return 0


# ----------------------------------------------------------------------------- plots
def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_ardnmf(model: Any, path: Path, image_shape: tuple[int, int]) -> None:
    """Fig. 3.3: λ_s along iterations with the bound B, and the surviving atoms as images."""
    plt = _plt()
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
    plt = _plt()
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


# ----------------------------------------------------------------------------- complexity
def _cmd_complexity(args: argparse.Namespace) -> int:
    from tinyunfold.complexity import format_table4, table4

    rows = table4(args.variant)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(f"Table 4 ({args.variant} variant)")
        print(format_table4(rows))
    return 0
