"""Training of the ``dnmfd`` kind: Deep-NMFD hit detector (thesis 4.4) from a dataset."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from tinyunfold.datasets.prep import (
    config_front_end,
    init_sets,
    label_sets_of,
    spectrogram,
    train_split,
)
from tinyunfold.errors import TinyUnfoldError
from tinyunfold.models.dnmfd import DNMFDDetector, dnmfd_layout
from tinyunfold.training.config import DETECTION_KEYS, load_sections

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
    threshold_rule = "fpr"  # "fpr": stated false-positive rate (below); "gm" (4.3.5), "max" (4.3.6)
    fpr = 0.05              # target rate of no-hit mixtures with any class reported (rule "fpr")
    margin = 1.0
    top_k = 0               # 0: every class over its threshold; k: at most k hits
    ur_beta = 0.0
"""

# The tiny synthetic detector (pipelines/detector_demo: 8 kHz, 128-point frames every 128 samples,
# 16 bands, 16-frame windows) as a Deep-NMFD: K = 12, C = 2, r_j = 3 (targets) / 2 (noise);
# trains in seconds.
DNMFD_DEMO_CONFIG = """
[features]
n_fft = 128
hop = 128
window = "hann"
n_bands = 16
[model]
n_layers = 12
n_discriminative = 2
target_rank = 3
noise_rank = 2
alpha_s = 0.1
eps = 1e-12
n_epochs = 2
batch_size = 4
init_iter = 30
[detection]
threshold_rule = "max"
margin = 1.5
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


def load_dnmfd_config(path: str | None, overrides: list[str]) -> dict[str, dict[str, Any]]:
    """The dnmfd training config (see :mod:`tinyunfold.training.config`)."""
    return load_sections(path, overrides, DNMFD_MODEL_KEYS, DETECTION_KEYS, "dnmfd")


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
        tqdm(blocks, desc="init dnmfd", disable=None if progress else True, leave=False)
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
    from tinyunfold.detection import (
        check_readout_config,
        fit_detector_from_config,
        window_totals,
    )
    from tinyunfold.models.dnmfd import DeepNMFD

    check_readout_config(cfg["detection"])

    mc = {**DNMFD_DEFAULTS, **cfg["model"]}
    feats, scale = config_front_end(ds, cfg["features"])  # mean noise power 1, as PAD-NMF
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
    det = fit_detector_from_config(
        H, label_sets_of(train, ds.classes), layout, dc, X_train=window_totals(X)
    )
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
