"""``tinyunfold train padnmf|deepnmf``: PAD-NMF (thesis 4.3) and its Deep-NMF baseline (4.2).

Both train through :class:`tinyunfold.models.padnmf.PADNMF` (Algorithm 4.3.2); the kinds differ in
the masks, the loss and the default batch size. A TOML config chooses the front-end, the network
and the detector; every key is optional (the values shown are the defaults)::

    [features]              # SpectrogramParams (tinyunfold.features); sample_rate = the dataset's
    n_fft = 1024
    hop = 4096
    window = "hann"
    # n_bands = 48          # pool into 48 bands (default: the full spectrum)
    [model]
    n_layers = 1000         # K
    n_discriminative = 20   # C (C-1 trained dictionaries)
    context = 7             # T
    target_rank = 8         # r_S per target block (one block per clean target file)
    noise_rank = 7          # r_N
    noise_blocks = "one"    # "one": all noise files in one block (J=1); "each": one block per file
    alpha_h = 0.0
    alpha_s = 1e6           # ignored by deepnmf (loss 4.2.3)
    eps = 1e-16
    h_mask = true           # padnmf default; false when hits may start anywhere in the window
    n_epochs = 3
    batch_size = 27         # deepnmf default 1 (pure stochastic, as Hershey et al.)
    init_iter = 200
    seed = 0
    device = "cpu"          # "cuda" when torch sees a GPU
    dtype = "float64"       # training precision
    n_threads = 1           # torch CPU threads (1 is fastest on a loaded 2-core machine)
    [detection]
    shifted = false         # max over off-diagonals (hits anywhere in the window)
    threshold_rule = "gm"   # "gm" (thesis 4.3.5) or "max" (4.3.6) over no-hit training mixtures
    margin = 1.0
    top_k = 1
    ur_beta = 0.0
    ur_alpha = 0.1
    ur_p = 0.25
    ur_background = false   # extra always-on latent component in the uncertainty reduction
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from tinyunfold.commands.config import add_training_arguments
from tinyunfold.extras import require_extra

EPILOG = """\
examples:
  tinyunfold dataset mdof --preset dataset1 --out data/d1
  tinyunfold train padnmf --dataset data/d1 --config cfg.toml --out d1.tum
  tinyunfold train deepnmf --dataset data/d1 --config cfg.toml --out d1_deep.tum
  tinyunfold evaluate --model d1.tum --dataset data/d1 --out report/
  tinyunfold detect --model d1.tum mixture.wav --json

Training uses the mixtures with split=train in labels.csv (an error if none is marked) and
their target stems (the loss needs the clean target S); the thresholds are fitted on the no-hit
training mixtures only. The loss curve is written next to the model (<out>.loss.png/.json).
"""

MODEL_KEYS = {
    "n_layers",
    "n_discriminative",
    "context",
    "target_rank",
    "noise_rank",
    "alpha_h",
    "alpha_s",
    "eps",
    "n_epochs",
    "batch_size",
    "init_iter",
    "seed",
    "device",
    "dtype",
    "n_threads",
}
DETECTION_KEYS = {
    "shifted",
    "threshold_rule",
    "margin",
    "top_k",
    "ur_beta",
    "ur_alpha",
    "ur_p",
    "ur_background",
}


def register_train(fam: argparse._SubParsersAction) -> None:
    for kind, title in (
        ("padnmf", "physics-aware Deep-NMF hit detector (thesis 4.3)"),
        ("deepnmf", "Deep-NMF baseline (thesis 4.2): no masks, Wiener loss"),
    ):
        p = fam.add_parser(
            kind,
            help=title,
            description=__doc__,
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_training_arguments(p)
        p.set_defaults(func=_train, kind=kind)


def load_config(path: str | None, overrides: list[str]) -> dict[str, dict[str, Any]]:
    """The padnmf/deepnmf training config (see :mod:`tinyunfold.commands.config`)."""
    from tinyunfold.commands.config import load_sections

    model_keys = MODEL_KEYS | {"noise_blocks", "h_mask"}
    return load_sections(path, overrides, model_keys, DETECTION_KEYS, "padnmf")


def _train(args: argparse.Namespace) -> int:
    require_extra("train", "torch", "training")
    require_extra("plots", "matplotlib", "the training-loss plot")
    from tinyunfold.datasets import load_dataset
    from tinyunfold.evaluation import train_from_dataset

    cfg = load_config(args.config, args.set)
    ds = load_dataset(args.dataset)
    t0 = time.time()
    est, det, extra = train_from_dataset(ds, args.kind, cfg, progress=not args.no_progress)
    from tinyunfold.modelfile import save_model

    out = Path(args.out)
    save_model(out, est.to_modelfile({"detection": det.to_params(), **extra}, det.arrays()))
    hist = est.loss_history_
    ep = getattr(est, "epoch_loss_", [])
    (out.parent / (out.name + ".loss.json")).write_text(
        json.dumps({"loss": hist, "epoch_loss": ep})
    )
    if hist:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
        ax.semilogy(range(1, len(hist) + 1), hist, marker=".")
        ax.set_xlabel("mini-batch")
        ax.set_ylabel("mini-batch loss")
        ax.set_title(f"train {args.kind}: {Path(args.dataset).name}")
        ax2.semilogy(range(len(ep)), ep, marker="o")
        ax2.set_xlabel("epoch (0 = before training)")
        ax2.set_ylabel("loss (4.3.21), training set")
        fig.tight_layout()
        fig.savefig(out.parent / (out.name + ".loss.png"), dpi=100)
        plt.close(fig)
    print(f"wrote {out} ({time.time() - t0:.1f} s; thresholds {det.thresholds.tolist()})")
    return 0


BENCH_EPILOG = """\
examples (numbers in docs/padnmf.md):
  tinyunfold dataset mdof --preset dataset1 --out data/d1
  tinyunfold padnmf-bench --dataset data/d1 --config configs/padnmf_dataset1.toml --out bench/d1
  tinyunfold padnmf-bench --dataset data/d1 --config cfg.toml --set features.n_bands=48 --out b48
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "padnmf-bench",
        help="train PAD-NMF and Deep-NMF on a dataset, compare with KL-NMF baselines",
        description="Train every kind with one config, evaluate them and the fixed-dictionary "
        "KL-NMF baselines (with and without the T-frame context) on the test mixtures, time the "
        "training against a straightforward autograd implementation, and write report.txt, "
        "report.json, indices_vs_snr.png, timing.json and the models into --out.",
        epilog=BENCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dataset", required=True, help="dataset folder")
    p.add_argument("--config", help="TOML config (see `tinyunfold train padnmf --help`)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one config value (repeat)",
    )
    p.add_argument("--kinds", default="padnmf,deepnmf", help="comma-separated kinds to train")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--no-speed", action="store_true", help="skip the autograd timing")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_bench)


def _bench(args: argparse.Namespace) -> int:
    require_extra("train", "torch", "the PAD-NMF bench")
    from tinyunfold.evaluation import bench

    cfg = load_config(args.config, args.set)
    res = bench(
        args.dataset,
        cfg,
        args.out,
        [k for k in args.kinds.split(",") if k],
        progress=not args.no_progress,
        speed=not args.no_speed,
    )
    print(res["text"])
    print(json.dumps(res["timing"], indent=1))
    return 0
