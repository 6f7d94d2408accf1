"""``tinyunfold dataset ...``: generate synthetic hit datasets and check dataset folders."""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from tinyunfold.datasets.io import DatasetError, load_dataset, write_dataset
from tinyunfold.extras import require_extra

MDOF_HELP = """\
Generate a hit-detection dataset from the n-DOF mass-spring-damper chains of thesis 4.3.5.

Presets:
  dataset1       n=23 chain, engine-order noise on mass 10, hits on masses 1-8 (class m01-m08)
                 and 14-23 (class m14-m23), SNR -40..10 dB, 96 kHz            (~5 s)
  dataset2       n=28 chain, noise on masses 4,10,16,22,27, five classes of probed masses,
                 SNR -40..20 dB, 48 kHz                                       (~3 s)
  dataset2-hard  dataset2 plus engine run-ups/run-downs (+-15 %), broadband flow noise, 3 %
                 chain mismatch between the initialisation sets and the mixtures, hits at random
                 onsets, two-hit mixtures                                    (~15 s)

The folder layout (targets/<class>/*.wav, noise/*.wav, mixtures/*.wav, labels.csv, stems/) and
every modelling choice (SNR definition, impulse, onsets, sample rate) are in docs/datasets.md.
The same seed gives the same files.

Examples:
  tinyunfold dataset mdof --preset dataset1 --out data/d1
  tinyunfold dataset mdof --preset dataset2-hard --out data/d2h --n-extra-test 5 --n-two-hit 100
  tinyunfold dataset mdof --preset dataset2-hard --out data/d2h16 --n-extra-test 5 --n-two-hit 40 --pcm16
  tinyunfold dataset info data/d1
"""


def _floats(text: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(t) for t in text.replace(";", ",").split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated number list") from None
    if not vals:
        raise argparse.ArgumentTypeError("empty list")
    return vals


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dataset",
        help="generate synthetic hit datasets, inspect dataset folders",
        description="Datasets for the hit detectors (layout: docs/datasets.md).",
    )
    ds = p.add_subparsers(dest="dataset_command", metavar="<subcommand>", required=True)

    g = ds.add_parser(
        "mdof",
        help="synthetic mechanical hits from the mass-spring-damper chains (thesis 4.3.5)",
        description=MDOF_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g.add_argument("--preset", required=True, choices=["dataset1", "dataset2", "dataset2-hard"])
    g.add_argument("--out", required=True, help="output folder (must be empty or new)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--sample-rate", type=int, help="output rate in Hz (dataset1 96000, else 48000)")
    g.add_argument("--oversample", type=int, help="internal rate = sample rate x this (8 / 4)")
    g.add_argument(
        "--snr-db",
        type=_floats,
        help="SNR grid in dB, written with =: --snr-db=-40,-30,-20,-10,0,10 (default: the preset grid)",
    )
    g.add_argument("--n-per-snr", type=int, help="mixtures per probed mass and SNR (default 1)")
    g.add_argument(
        "--n-extra-test",
        type=int,
        help="extra split=test mixtures per probed mass and SNR, every SNR (default 0; the "
        "preset's own files stay the same)",
    )
    g.add_argument("--n-nohit-train", type=int, help="no-hit mixtures marked split=train")
    g.add_argument(
        "--n-extra-nohit-train",
        type=int,
        help="extra split=train no-hit mixtures: more recorded background of the monitored "
        "machine (default 0; the preset's own files, the test split included, stay the same)",
    )
    g.add_argument("--n-nohit-test", type=int, help="no-hit mixtures marked split=test")
    g.add_argument("--n-two-hit", type=int, help="two-hit test mixtures (dataset2-hard: 20)")
    g.add_argument(
        "--onset-s",
        type=_floats,
        help="hit onset in s: one value, or lo,hi for uniform random onsets (default 0; hard 0,0.6)",
    )
    g.add_argument(
        "--impulse-s",
        type=float,
        help="0 = ideal impulse (default); > 0 = half-sine force pulse of this duration in s",
    )
    g.add_argument("--duration-s", type=float, help="acquisition length in s (default 1)")
    g.add_argument("--speed-range", type=float, help="engine speed range +-r (hard: 0.15)")
    g.add_argument("--flow-db", help="flow-noise level vs engine noise in dB, or 'off' (hard: -6)")
    g.add_argument("--mismatch", type=float, help="relative chain mismatch of the mixtures (0.03)")
    g.add_argument("--overwrite", action="store_true", help="replace the WAV files in --out")
    g.add_argument(
        "--pcm16",
        action="store_true",
        help="write 16-bit PCM WAVs at one full scale (what a recorder or the board's ADC gives; "
        "host evaluation then sees the device's samples)",
    )
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.set_defaults(func=_run_mdof)

    i = ds.add_parser(
        "info",
        help="validate a dataset folder and print what it holds",
        description="Load a dataset folder with all checks (the errors name the file at fault) "
        "and print classes, counts per split/class/SNR and signal lengths.",
    )
    i.add_argument("path", help="dataset folder")
    i.set_defaults(func=_run_info)

    ck = ds.add_parser(
        "check",
        help="list every layout problem of a dataset folder at once (exit 1 if any)",
        description="Scan a dataset folder (docs/datasets.md) and print one line per problem: "
        "unreadable or foreign WAV files, empty class folders, every bad labels.csv row, "
        "mixtures without a row. Also notes what training needs (split=train rows, no-hit "
        "training mixtures, target stems).",
    )
    ck.add_argument("path", help="dataset folder")
    ck.set_defaults(func=_run_check)

    pl = ds.add_parser(
        "plot",
        help="spectrograms of the noise, one target per class and example mixtures (PNG)",
        description="Draw dB spectrograms (the tinyunfold front-end, Hann window) of the first "
        "noise file, the first target of each class and up to --mixtures hit mixtures of the "
        "first class sorted by SNR, plus one no-hit mixture.",
    )
    pl.add_argument("path", help="dataset folder")
    pl.add_argument("--out", required=True, help="PNG file to write")
    pl.add_argument("--n-fft", type=int, default=1024, help="FFT size (default 1024)")
    pl.add_argument("--hop", type=int, default=256, help="hop in samples (default 256)")
    pl.add_argument("--mixtures", type=int, default=6, help="hit mixtures to show (default 6)")
    pl.set_defaults(func=_run_plot)

    m = ds.add_parser(
        "modes",
        help="print the chain's damped modal frequencies next to the thesis table",
        description="Modal frequencies and damping ratios of a preset's chain versus thesis "
        "Table 1 (dataset1) / Table 2 (dataset2).",
    )
    m.add_argument("--preset", required=True, choices=["dataset1", "dataset2"])
    m.set_defaults(func=_run_modes)


def _run_mdof(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from tinyunfold.datasets.mdof import check_config, generate, preset_config

    onset = None
    if args.onset_s is not None:
        if len(args.onset_s) > 2:
            raise DatasetError("--onset-s takes one value or lo,hi", "e.g. --onset-s 0,0.6")
        onset = (args.onset_s[0], args.onset_s[-1])
    flow_off = str(args.flow_db).lower() in ("off", "none")
    flow_db = None
    if args.flow_db is not None and not flow_off:
        try:
            flow_db = float(args.flow_db)
        except ValueError:
            raise DatasetError(
                f"--flow-db {args.flow_db!r}", "give a level in dB or 'off'"
            ) from None
    cfg = preset_config(
        args.preset,
        seed=args.seed,
        sample_rate=args.sample_rate,
        oversample=args.oversample,
        snr_db=args.snr_db,
        n_per_snr=args.n_per_snr,
        n_extra_test=args.n_extra_test,
        n_extra_nohit_train=args.n_extra_nohit_train,
        n_nohit_train=args.n_nohit_train,
        n_nohit_test=args.n_nohit_test,
        n_two_hit=args.n_two_hit,
        onset_s=onset,
        impulse_s=args.impulse_s,
        duration_s=args.duration_s,
        speed_range=args.speed_range,
        flow_db=flow_db,
        mismatch=args.mismatch,
    )
    if flow_off:
        cfg = replace(cfg, flow_db=None)
    check_config(cfg)
    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise DatasetError(f"{out} exists and is not empty", "choose another --out or --overwrite")
    bar = tqdm(desc=f"mdof {cfg.preset}", unit="sig", disable=True if args.no_progress else None)

    def total(n: int) -> None:
        bar.total = n
        bar.refresh()

    try:
        ds = generate(cfg, progress=bar.update, total_cb=total)
    finally:
        bar.close()
    write_dataset(out, ds, overwrite=args.overwrite, pcm16=args.pcm16)
    n_hit = sum(m.has_hit for m in ds.mixtures)
    print(
        f"wrote {out}: {len(ds.classes)} classes, {sum(len(v) for v in ds.targets.values())} "
        f"targets, {len(ds.noise)} noise, {len(ds.mixtures)} mixtures ({n_hit} with hits), "
        f"{ds.sample_rate} Hz"
    )
    return 0


def _run_check(args: argparse.Namespace) -> int:
    from tinyunfold.datasets.io import check_dataset

    problems = check_dataset(args.path)
    for p in problems:
        print(f"problem: {p}")
    if problems:
        print(f"{args.path}: {len(problems)} problem(s)")
        return 1
    ds = load_dataset(args.path, load_stems=False)
    train = ds.split("train")
    notes = []
    if not train:
        notes.append("no split=train rows: usable as a test folder only (evaluate --model)")
    elif not any(not m.has_hit for m in train):
        notes.append("no no-hit training mixture: thresholds cannot be fitted")
    nostem = [m.name for m in train if m.has_hit and m.target_stem_file is None]
    if nostem:
        notes.append(f"{len(nostem)} training hit mixtures lack a target_stem (e.g. {nostem[0]})")
    for n in notes:
        print(f"note: {n}")
    print(f"{args.path}: OK ({len(ds.mixtures)} mixtures, {len(ds.classes)} classes)")
    return 0


def _run_info(args: argparse.Namespace) -> int:
    ds = load_dataset(args.path)
    print(f"{args.path}: {ds.sample_rate} Hz, classes: {', '.join(ds.classes)}")
    for c in ds.classes:
        lens = [len(x) / ds.sample_rate for x in ds.targets[c]]
        print(f"  targets/{c}: {len(lens)} files, {min(lens):.3f}-{max(lens):.3f} s")
    nl = [len(x) / ds.sample_rate for x in ds.noise]
    print(f"  noise: {len(nl)} files, {min(nl):.3f}-{max(nl):.3f} s")
    print(f"  mixtures: {len(ds.mixtures)}")
    for split in ("train", "test", ""):
        ms = ds.split(split)
        if not ms:
            continue
        per = Counter("+".join(m.classes) if m.classes else "none" for m in ms)
        label = split or "(no split)"
        print(f"    {label}: {len(ms)} - " + ", ".join(f"{k}: {v}" for k, v in sorted(per.items())))
    snrs = sorted({m.snr_db for m in ds.mixtures if m.snr_db is not None})
    if snrs:
        print(
            f"  SNRs (dB): {', '.join(f'{s:g}' for s in snrs[:20])}{' ...' if len(snrs) > 20 else ''}"
        )
    hits = [m for m in ds.mixtures if m.has_hit]
    n_stem = sum(m.target_stem is not None for m in hits)
    n_extra = sum(m.target_stem is not None for m in ds.mixtures if not m.has_hit)
    line = f"  target stems: {n_stem} of {len(hits)} hit mixtures"
    if n_extra:
        line += f" (+ {n_extra} no-hit mixtures with a silent stem)"
    print(line)
    return 0


def _run_modes(args: argparse.Namespace) -> int:
    from tinyunfold.datasets.mdof import CHAINS, THESIS_TABLE1, THESIS_TABLE2

    chain = CHAINS[args.preset]
    table = THESIS_TABLE1 if args.preset == "dataset1" else THESIS_TABLE2
    f, xi = chain.modes()
    print(f"{args.preset}: n={chain.n}; model (last mass grounded) vs thesis table")
    print(f"{'mode':>4} {'f model Hz':>11} {'xi model':>9} | {'f thesis':>9} {'xi thesis':>9}")
    for i, (fm, xm) in enumerate(zip(f, xi, strict=True)):
        ft, xt = table[i]
        print(f"{i + 1:>4} {fm:11.1f} {xm:9.2e} | {ft:9.0f} {xt:9.1e}")
    nearest = [float(np.min(np.abs(f - ft))) for ft, _ in table]
    print("relative distance of each thesis frequency to the nearest model mode (%):")
    print(
        " ".join(f"{100 * d / max(ft, 1):.2f}" for d, (ft, _) in zip(nearest, table, strict=True))
    )
    return 0


def _run_plot(args: argparse.Namespace) -> int:
    require_extra("plots", "matplotlib", "plotting")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tinyunfold.features import SpectrogramParams, power_spectrogram

    ds = load_dataset(args.path, load_stems=False)
    p = SpectrogramParams(ds.sample_rate, args.n_fft, args.hop)
    panels: list[tuple[str, np.ndarray]] = [(f"noise/{ds.noise_files[0]}", ds.noise[0])]
    for c in ds.classes:
        panels.append((f"targets/{c}/{ds.target_files[c][0]}", ds.targets[c][0]))
    hits = sorted(
        ds.with_class(ds.classes[0]), key=lambda m: -1e9 if m.snr_db is None else m.snr_db
    )
    if hits:
        idx = np.unique(np.linspace(0, len(hits) - 1, min(args.mixtures, len(hits))).astype(int))
        for i in idx:
            m = hits[int(i)]
            snr = "?" if m.snr_db is None else f"{m.snr_db:g} dB"
            panels.append((f"{m.name} ({'+'.join(m.classes)}, {snr})", m.audio))
    if ds.no_hit():
        panels.append((f"{ds.no_hit()[0].name} (no hit)", ds.no_hit()[0].audio))
    ncol = 3
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.0 * nrow), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    for ax, (title, x) in zip(axes.flat, panels, strict=False):
        if len(x) < p.n_fft:  # short target files: pad to one frame
            x = np.concatenate([x, np.zeros(p.n_fft - len(x))])
        P = power_spectrogram(x, p)
        db = 10 * np.log10(P + 1e-12 * max(float(P.max()), 1e-30))
        extent = (0.0, len(x) / ds.sample_rate, 0.0, ds.sample_rate / 2000)
        ax.imshow(db, origin="lower", aspect="auto", extent=extent, vmin=db.max() - 90)
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("time (s)", fontsize=7)
        ax.set_ylabel("kHz", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    plt.close(fig)
    print(f"wrote {args.out}")
    return 0
