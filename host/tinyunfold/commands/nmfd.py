"""``tinyunfold nmfd ...``: NMFD tools (ARD rank/dictionary estimation, swimmer demo, Table 4)
and ``tinyunfold train dnmfd`` (Deep-NMFD, thesis 4.4)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from tinyunfold.commands.config import add_training_arguments
from tinyunfold.errors import TinyUnfoldError
from tinyunfold.extras import require_extra

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
    register_bench(ns)


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
        "ard_nmfd": dict(
            _ardd_report(nmfd, t_nmfd),
            thesis_J_hat=13,
            initial_J=26,
            initial_rank=6,
            parts_recovered=len(swimmer.recovered_patterns(nmfd.W_, nmfd.relevant_)),
            parts_total=len(swimmer.pattern_templates()),
        ),
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
    d = r["ard_nmfd"]
    print(
        f"ARD-NMFD: J-hat = {d['J_hat']} (thesis 13), initial J = 26; ranks of the survivors "
        f"{d['ranks_hat']}; {d['parts_recovered']} of the {d['parts_total']} swimmer parts "
        "are one whole dictionary"
    )
    print(f"wrote {out}/report.json" + ("" if args.no_plots else " and figures"))
    return 0


# ----------------------------------------------------------------------------- plots
def _plt() -> Any:
    require_extra("plots", "matplotlib", "plotting")
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


# ============================================================================ train dnmfd
DNMFD_CONFIG_HELP = """\
Deep-NMFD hit detector (thesis 4.4): NMFD (beta = 1) unrolled into K layers, the last C with
trained dictionaries (split-gradient updates 4.4.5), one dictionary W(j) per clean target file
(rank target_rank) and noise_dicts dictionaries per noise block (rank noise_rank). Detection
indices: one row H(j) per dictionary, so the index of class l is the geometric mean over the
class's target dictionaries of H(j) at the onset frame (the diagonal indices of PAD-NMF with
rank-1 blocks; `shifted` takes the maximum over onset frames). Thresholds from the no-hit
training mixtures, exactly as for PAD-NMF.

A TOML config (every key optional)::

    [features]              # as `train padnmf` (sample_rate = the dataset's)
    n_fft = 1024
    hop = 4096
    n_bands = 48            # omit for the full spectrum (default)
    [model]
    n_layers = 100          # K (NMFD updates)
    n_discriminative = 10   # C trained layers (the last ones)
    target_rank = 7         # r_j of the target dictionaries (frames of a hit pattern)
    noise_rank = 7          # r_j of the noise dictionaries
    noise_dicts = 1         # dictionaries per noise block
    noise_blocks = "one"    # "one": all noise files in one block; "each": one block per file
    alpha_s = 0.1           # alpha_S of the loss (4.4.4)
    eps = 1e-9
    n_epochs = 5
    batch_size = 8
    lr = 1.0                # exponent of the multiplicative step (1 = eq. 4.4.5)
    guard = 0.01            # ratio ([grad]- + d)/([grad]+ + d), d = guard x mean gradient part
    init_iter = 200         # NMFD iterations of the dictionary initialisation
    seed = 0
    [detection]             # as `train padnmf`
    shifted = false
    threshold_rule = "gm"
    margin = 1.0
    top_k = 1
    ur_beta = 0.0
"""

DNMFD_MODEL_KEYS = {
    "n_layers",
    "n_discriminative",
    "target_rank",
    "noise_rank",
    "noise_dicts",
    "noise_blocks",
    "alpha_s",
    "eps",
    "n_epochs",
    "batch_size",
    "lr",
    "guard",
    "init_iter",
    "seed",
}
DNMFD_DETECTION_KEYS = {
    "shifted",
    "threshold_rule",
    "margin",
    "top_k",
    "ur_beta",
    "ur_alpha",
    "ur_p",
    "ur_background",
}
DNMFD_DEFAULTS: dict[str, Any] = {
    "n_layers": 100,
    "n_discriminative": 10,
    "target_rank": 7,
    "noise_rank": 7,
    "noise_dicts": 1,
    "noise_blocks": "one",
    "alpha_s": 0.1,
    "eps": 1e-9,
    "n_epochs": 5,
    "batch_size": 8,
    "lr": 1.0,
    "guard": 0.01,
    "init_iter": 200,
    "seed": 0,
}


def register_train(fam: argparse._SubParsersAction) -> None:
    p = fam.add_parser(
        "dnmfd",
        help="Deep-NMFD hit detector (thesis 4.4): unrolled NMFD, trained last C layers",
        description=DNMFD_CONFIG_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "examples:\n"
            "  tinyunfold dataset mdof --preset dataset1 --out data/d1\n"
            "  tinyunfold train dnmfd --dataset data/d1 --config cfg.toml --out d1-nmfd.tum\n"
            "  tinyunfold evaluate --model d1-nmfd.tum --dataset data/d1 --out report/\n"
        ),
    )
    add_training_arguments(p)
    p.set_defaults(func=_cmd_train_dnmfd)


def load_dnmfd_config(path: str | None, overrides: list[str]) -> dict[str, dict[str, Any]]:
    """The dnmfd training config (see :mod:`tinyunfold.commands.config`)."""
    from tinyunfold.commands.config import load_sections

    return load_sections(path, overrides, DNMFD_MODEL_KEYS, DNMFD_DETECTION_KEYS, "dnmfd")


class DNMFDDetector:
    """Adapter giving a :class:`~tinyunfold.models.dnmfd.DeepNMFD` the interface of the shared
    detection/evaluation code: ``layout_`` (rank-1 blocks: one row H(j) per dictionary) and
    ``transform(list of (m, n) spectrograms) -> (B, J̄, n)``."""

    def __init__(self, est: Any, layout: Any) -> None:
        self.est = est
        self.layout_ = layout

    def transform(self, specs: list[np.ndarray]) -> np.ndarray:
        X = np.stack([np.asarray(s, dtype=float) for s in specs])
        return self.est.transform(X)


def dnmfd_layout(m: int, block_class: list[int], n_dicts: int, classes: list[str]) -> Any:
    """BlockLayout with one rank-1 block per NMFD dictionary (targets first)."""
    from tinyunfold.models.padnmf import BlockLayout

    return BlockLayout(
        n_bins=m,
        context=1,
        ranks=(1,) * n_dicts,
        block_class=tuple(block_class),
        class_names=tuple(classes),
    )


def dnmfd_init(
    targets: list[tuple[int, np.ndarray]],
    noise: list[Any],
    mc: dict[str, Any],
    progress: bool = False,
) -> tuple[np.ndarray, list[int], list[int]]:
    """Ŵ from the initialisation sets: KL-NMFD per target file (J = 1) and per noise block.

    Returns (Ŵ (J̄, m, R), ranks, block_class of the target dictionaries).
    """
    from tinyunfold.models.nmfd import NMFD

    rt, rn, nd = int(mc["target_rank"]), int(mc["noise_rank"]), int(mc["noise_dicts"])
    R = max(rt, rn)
    dicts: list[np.ndarray] = []
    ranks: list[int] = []
    classes: list[int] = []
    seed = int(mc["seed"])
    blocks: list[tuple[np.ndarray, int, int]] = [(s, 1, rt) for _, s in targets]
    for b in noise:
        spec = np.concatenate(list(b), axis=1) if isinstance(b, list) else b
        blocks.append((spec, nd, rn))
    from tqdm import tqdm

    for i, (spec, J, r) in enumerate(
        tqdm(blocks, desc="init dnmfd", disable=not progress, leave=False)
    ):
        model = NMFD(
            ranks=(r,) * J,
            beta=1.0,
            n_iter=int(mc["init_iter"]),
            eps=float(mc["eps"]),
            random_state=seed + i,
        ).fit(np.asarray(spec, float) + float(mc["eps"]))
        for j in range(J):
            W = np.zeros((spec.shape[0], R))
            W[:, :r] = model.W_[j, :, :r]
            # scale: unit largest column sum (activations absorb the scale)
            dicts.append(W / max(W.sum(axis=0).max(), 1e-300))
            ranks.append(r)
    classes = [c for c, _ in targets]
    return np.stack(dicts), ranks, classes


def train_dnmfd_from_dataset(
    ds: Any, cfg: dict[str, dict[str, Any]], progress: bool = True
) -> tuple[Any, Any, Any, dict[str, Any]]:
    """Initialise, train and fit the detector. Returns (DeepNMFD, adapter, Detector, extra)."""
    from tinyunfold.detection import fit_detector_from_config
    from tinyunfold.evaluation import init_sets, label_sets_of, spectrogram, train_split
    from tinyunfold.features import SpectrogramParams
    from tinyunfold.models.dnmfd import DeepNMFD

    mc = {**DNMFD_DEFAULTS, **cfg["model"]}
    fcfg = {"n_fft": 1024, "hop": 4096, **cfg["features"]}
    feats = SpectrogramParams(sample_rate=int(ds.sample_rate), **fcfg)
    noise0 = np.concatenate([spectrogram(x, feats, 1.0) for x in ds.noise], axis=1)
    scale = 1.0 / max(float(noise0.mean()), 1e-300)  # mean noise power 1, as PAD-NMF
    targets, noise = init_sets(ds, feats, scale, str(mc["noise_blocks"]))
    W_hat, ranks, block_class = dnmfd_init(targets, noise, mc, progress)
    est = DeepNMFD(
        ranks=ranks,
        n_targets=len(block_class),
        n_layers=int(mc["n_layers"]),
        n_discriminative=int(mc["n_discriminative"]),
        alpha_s=float(mc["alpha_s"]),
        eps=float(mc["eps"]),
        n_epochs=int(mc["n_epochs"]),
        batch_size=int(mc["batch_size"]),
        lr=float(mc["lr"]),
        guard=float(mc["guard"]),
        random_state=int(mc["seed"]),
        progress=progress,
    )
    est.set_dictionary(W_hat)
    train, _ = train_split(ds)
    missing = [m.name for m in train if m.has_hit and m.target_stem is None]
    if missing:
        raise TinyUnfoldError(
            f"{len(missing)} training mixtures with hits have no target stem (e.g. {missing[0]})",
            "give target_stem in labels.csv: the loss (4.4.4) needs the clean target",
        )
    X = [spectrogram(m.audio, feats, scale) for m in train]
    if len({x.shape for x in X}) != 1:
        raise TinyUnfoldError(
            "training mixtures have different lengths", "cut every mixture to the same duration"
        )
    S = [
        spectrogram(m.target_stem, feats, scale) if m.target_stem is not None else np.zeros_like(x)
        for m, x in zip(train, X, strict=True)
    ]
    t0 = time.time()
    if est.n_discriminative > 0 and est.n_epochs > 0:
        est.fit(np.stack(X), np.stack(S))
    train_s = time.time() - t0
    layout = dnmfd_layout(W_hat.shape[1], block_class, len(ranks), list(ds.classes))
    adapter = DNMFDDetector(est, layout)
    H = adapter.transform(X)
    dc = cfg["detection"]
    det = fit_detector_from_config(H, label_sets_of(train, ds.classes), layout, dc)
    extra = {
        "input_scale": scale,
        "features": feats.to_dict(),
        "config": cfg,
        "layout": layout.to_params(),
        "train_seconds": round(train_s, 2),
        "window_samples": int(len(train[0].audio)),
        "n_frames": int(X[0].shape[1]),
    }
    return est, adapter, det, extra


def _cmd_train_dnmfd(args: argparse.Namespace) -> int:
    from tinyunfold.datasets import load_dataset
    from tinyunfold.modelfile import save_model

    cfg = load_dnmfd_config(args.config, args.set)
    ds = load_dataset(args.dataset)
    t0 = time.time()
    est, _, det, extra = train_dnmfd_from_dataset(ds, cfg, progress=not args.no_progress)
    out = Path(args.out)
    params = {"detection": det.to_params(), **extra}
    save_model(out, est.to_modelfile(params, det.arrays()))
    (out.parent / (out.name + ".loss.json")).write_text(json.dumps({"loss": est.loss_}))
    if est.loss_:
        plt = _plt()
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.semilogy(range(1, len(est.loss_) + 1), est.loss_, marker=".")
        ax.set_xlabel("epoch")
        ax.set_ylabel("mean loss (4.4.4)")
        ax.set_title(f"train dnmfd: {Path(args.dataset).name}")
        fig.tight_layout()
        fig.savefig(out.parent / (out.name + ".loss.png"), dpi=100)
        plt.close(fig)
    print(f"wrote {out} ({time.time() - t0:.1f} s; thresholds {det.thresholds.tolist()})")
    return 0


def load_dnmfd_detector(model: Any) -> tuple[Any, Any, Any, float]:
    """(adapter, Detector, SpectrogramParams, input scale) of a dnmfd model file."""
    from tinyunfold.detection import Detector
    from tinyunfold.evaluation import model_front_end
    from tinyunfold.models.dnmfd import DeepNMFD
    from tinyunfold.models.padnmf import BlockLayout

    if "layout" not in model.params or "detection" not in model.params:
        raise TinyUnfoldError(
            "this dnmfd model has no detector (layout/thresholds)",
            "train it with `tinyunfold train dnmfd --dataset ...`",
        )
    feats, scale = model_front_end(model.params)
    est = DeepNMFD.from_modelfile(model)
    adapter = DNMFDDetector(est, BlockLayout.from_params(model.params["layout"]))
    det = Detector.from_model(model.params, model.arrays)
    return adapter, det, feats, scale


def fixed_dictionary_baseline(adapter: Any) -> Any:
    """The same Ŵ for all K layers, nothing trained: plain KL-NMFD with a fixed dictionary."""
    from tinyunfold.models.dnmfd import DeepNMFD

    e = adapter.est
    base = DeepNMFD(
        ranks=e.ranks,
        n_targets=e.n_targets,
        n_layers=e.n_layers,
        n_discriminative=0,
        alpha_s=e.alpha_s,
        eps=e.eps,
    )
    base.set_dictionary(e.W_hat_)
    return DNMFDDetector(base, adapter.layout_)


def evaluate_dnmfd(model: Any, args: argparse.Namespace) -> int:
    """``tinyunfold evaluate --model M.tum --dataset D`` for ``dnmfd`` models (EVALUATORS).

    Reports the model and the fixed-dictionary KL-NMFD baseline (same Ŵ, K layers, nothing
    trained; thresholds fitted on the training mixtures the same way), per class and SNR.
    """
    from tinyunfold.datasets import load_dataset
    from tinyunfold.evaluation import evaluate_methods, report

    if not args.dataset:
        raise TinyUnfoldError("evaluating a hit detector needs --dataset")
    ds = load_dataset(args.dataset)
    adapter, det, feats, scale = load_dnmfd_detector(model)
    if feats.sample_rate != ds.sample_rate:
        raise TinyUnfoldError(
            f"model front-end is for {feats.sample_rate} Hz, dataset is {ds.sample_rate} Hz",
            "evaluate on a dataset of the same rate",
        )
    opts = {
        "shifted": det.shifted,
        "rule": det.rule,
        "margin": det.margin,
        "top_k": det.top_k,
        "ur_beta": None,
    }
    methods: dict[str, Any] = {
        "dnmfd": (adapter, det, {}),
        "KL-NMFD fixed W": (fixed_dictionary_baseline(adapter), None, opts),
    }
    results = evaluate_methods(methods, ds, feats, scale, progress=True)
    print(report(results, ds, args.out, plots=not args.no_plots))
    return 0


# ============================================================================ bench
BENCH_HELP = """\
The NMFD experiments of docs/nmfd.md (long; `make bench` runs them through pytest -m slow).

  swimmer  ARD-NMF (Fig. 3.3) and ARD-NMFD (Fig. 3.4) on the swimmer data for several seeds:
           r-hat, J-hat, ranks, how many of the 13 parts come out whole.
  detect   Deep-NMFD vs PAD-NMF vs Deep-NMF vs fixed-dictionary KL-NMF / KL-NMFD on the mdof
           presets (dataset1, dataset2, dataset2-hard): hit accuracy per SNR, false positives,
           training time and forward-pass MFLOPs (eqs. 4.5.1, 4.5.3, 4.5.5).
"""


def register_bench(ns: argparse._SubParsersAction) -> None:
    b = ns.add_parser(
        "bench",
        help="run the NMFD experiments (swimmer ARD, detection comparison)",
        description=BENCH_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    b.add_argument("what", choices=("swimmer", "detect"), help="which experiment")
    b.add_argument("--out", default="bench-nmfd", help="output folder (datasets are cached here)")
    b.add_argument("--seeds", type=int, default=3, help="swimmer: number of seeds (default 3)")
    b.add_argument("--nmfd-iter", type=int, default=500, help="swimmer: ARD-NMFD iterations")
    b.add_argument(
        "--presets",
        default="dataset1,dataset2,dataset2-hard",
        help="detect: comma-separated mdof presets",
    )
    b.add_argument(
        "--methods",
        default="padnmf,deepnmf,dnmfd",
        help="detect: comma-separated trained models (baselines come with them)",
    )
    b.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KIND.SECTION.KEY=VALUE",
        help="detect: override a config value of one kind, e.g. "
        "--set padnmf.model.n_layers=200 (repeat)",
    )
    b.set_defaults(func=_cmd_bench)


def _cmd_bench(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.what == "swimmer":
        rows = bench_swimmer(args.seeds, nmfd_iter=args.nmfd_iter)
        (out / "swimmer.json").write_text(json.dumps(rows, indent=1))
        print(format_swimmer_bench(rows))
        return 0
    res = bench_detect(out, args.presets.split(","), args.methods.split(","), args.set)
    (out / "detect.json").write_text(json.dumps(res, indent=1))
    print(format_detect_bench(res))
    (out / "detect.md").write_text(format_detect_bench(res) + "\n")
    return 0


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


def _forward_mflops(kind: str, est: Any, n_frames: int) -> float:
    """Forward-pass cost of a trained model by the formulas of section 4.5 (MFLOPs)."""
    from tinyunfold import complexity as cx

    if kind == "dnmfd":
        e = est.est if hasattr(est, "est") else est
        return cx.cost_deep_nmfd(list(e.ranks), n_frames, e.W_hat_.shape[1], e.n_layers) / 1e6
    lay = est.layout_
    r, m, T = lay.rank, lay.n_bins, lay.context
    if kind == "padnmf":
        return cx.cost_pad_nmf(r, n_frames, m, T, est.n_layers) / 1e6
    return cx.cost_deep_nmf(r, n_frames, m, T, est.n_layers, est.n_discriminative) / 1e6


def bench_detect(
    out: Path, presets: list[str], methods: list[str], overrides: list[str]
) -> dict[str, Any]:
    """Train each method on each preset, evaluate it with its baselines on the test mixtures."""
    from tinyunfold.commands.padnmf import load_config
    from tinyunfold.datasets import load_dataset
    from tinyunfold.evaluation import evaluate_methods, train_from_dataset
    from tinyunfold.models import baselines

    results: dict[str, Any] = {}
    for preset in presets:
        root = out / preset
        if not (root / "labels.csv").is_file():
            from tinyunfold.cli import main as cli_main

            rc = cli_main(
                ["dataset", "mdof", "--preset", preset, "--out", str(root), "--no-progress"]
            )
            if rc != 0:
                raise TinyUnfoldError(f"could not generate the {preset} dataset")
        ds = load_dataset(root)
        res_p: dict[str, Any] = {}
        for kind in methods:
            sets = [s.split(".", 1)[1] for s in overrides if s.startswith(kind + ".")]
            t0 = time.time()
            if kind == "dnmfd":
                cfg = load_dnmfd_config(None, sets)
                est, adapter, det, extra = train_dnmfd_from_dataset(ds, cfg, progress=False)
                model_est: Any = adapter
                base = {"KL-NMFD fixed W": fixed_dictionary_baseline(adapter)}
            else:
                cfg = load_config(None, sets)
                model_est, det, extra = train_from_dataset(ds, kind, cfg, progress=False)
                base = {f"KL-NMF fixed W ({kind} init)": baselines.fixed_dictionary(model_est)}
            train_s = time.time() - t0
            from tinyunfold.features import SpectrogramParams

            feats = SpectrogramParams.from_dict(
                extra["features"] if "features" in extra else model_est.features_
            )
            scale = float(extra["input_scale"])
            opts = {
                "shifted": det.shifted,
                "rule": det.rule,
                "margin": det.margin,
                "top_k": det.top_k,
                "ur_beta": None,
            }
            meths: dict[str, Any] = {kind: (model_est, det, {})}
            meths.update({k: (v, None, opts) for k, v in base.items()})
            ev = evaluate_methods(meths, ds, feats, scale, progress=False)
            n_frames = int(extra.get("n_frames", 0))
            for name, r in ev.items():
                sc = r["scores"]["threshold"]
                res_p[name] = {
                    "rate": sc["rate"],
                    "hit_accuracy": sc["hit_accuracy"],
                    "false_positive_rate": sc["false_positive_rate"],
                    "two_hit": sc["two_hit"],
                    "train_seconds": round(train_s, 1) if name == kind else 0.0,
                    "forward_mflops": _forward_mflops(kind, model_est, n_frames),
                }
            # the thesis' other threshold rule (piano, 4.3.6): τ = max over the no-hit training
            # mixtures, from the training indices stored in the detector (not tuned on test data)
            from dataclasses import replace

            from tinyunfold.detection import fit_thresholds
            from tinyunfold.evaluation import score_mixtures, train_split

            nohit = np.array([len(t) == 0 for t in det.train_labels])
            if nohit.any():
                det_max = replace(
                    det,
                    rule="max",
                    ur=None,
                    thresholds=fit_thresholds(det.train_index[nohit], "max"),
                )
                test = train_split(ds)[1]
                scm = score_mixtures(ev[kind]["index"], test, ds.classes, det_max)["threshold"]
                res_p[f"{kind} (tau = max)"] = {
                    "rate": scm["rate"],
                    "hit_accuracy": scm["hit_accuracy"],
                    "false_positive_rate": scm["false_positive_rate"],
                    "two_hit": scm["two_hit"],
                    "train_seconds": 0.0,
                    "forward_mflops": res_p[kind]["forward_mflops"],
                }
            print(f"[{preset}] {kind}: trained in {train_s:.1f} s", flush=True)
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
