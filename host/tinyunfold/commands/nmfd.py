"""``tinyunfold nmfd ...``: NMFD tools (ARD rank/dictionary estimation, swimmer demo, Table 4)
and their benchmarks; Deep-NMFD trains with ``tinyunfold train dnmfd`` (commands/train.py)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from tinyunfold.pipelines.nmfd import (
    ardd_report,
    bench_detect,
    bench_swimmer,
    dataset_matrix,
    format_detect_bench,
    format_swimmer_bench,
    plot_ardd,
    plot_ardnmf,
    run_swimmer,
)

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
    report = ardd_report(model, time.time() - t0)
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


# ----------------------------------------------------------------------------- swimmer
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
