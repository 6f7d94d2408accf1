"""Training of the ``padnmf`` and ``deepnmf`` kinds: PAD-NMF (thesis 4.3) and its Deep-NMF baseline (4.2).

Both train through :class:`tinyunfold.models.padnmf.PADNMF` (Algorithm 4.3.2); the kinds differ in
the masks, the loss and the default batch size. A TOML config chooses the front-end, the network
and the detector; every key is optional (the values shown are the defaults)::

    [features]              # SpectrogramParams (tinyunfold.features); sample_rate = the dataset's
    n_fft = 1024
    hop = 4096
    window = "hann"
    # n_bands = 48          # pool into 48 bands (default: the full spectrum)
    # orders_f0 = [300, 600] # notch a machine's orders, f0 in this range (docs/datasets.md)
    [model]
    n_layers = 1000         # K
    n_discriminative = 20   # C (C-1 trained dictionaries)
    context = 7             # T
    target_rank = 8         # r_S per target block (one block per clean target file)
    noise_rank = 7          # r_N
    noise_blocks = "one"    # "one": all noise files in one block (J=1); "each": one block per file
    template_gate_db = 40.0 # DC removal + energy gate on every clean target (0: gate off)
    template_gain = "equal" # "equal": targets rescaled to one mean power; "keep": as recorded
    augment = 0             # synthetic training mixtures added (datasets.prep.augment_mixtures)
    augment_two_hit = 0.2   # fraction of them with two hits of different classes
    augment_no_hit = 0.2    # fraction with background only
    augment_stretch = 0.03  # time-scale range +-3% (resonances of other chains)
    augment_gain_db = 0.0   # each synthetic mixture scaled by a gain in +-this many dB (level)
    augment_noise_stretch = false  # true: the noise/ pieces of synthetic backgrounds are
                            # time-scaled like the hits (+-augment_stretch; noise of another unit)
    augment_warp = 0.0      # each synthetic hit's resonances also moved by a smooth random
                            # amount within +-this fraction, its own per frequency region (the
                            # unit-to-unit spread of a machine type; 0: off)
    augment_snr_margin_db = 0.0  # synthetic hits' SNRs drawn from this many dB below the
                            # weakest labelled SNR up to the loudest (0: the labelled range)
    augment_in_situ_snr_db = false  # a number: the clean hit (target stem) of each single-hit
                            # training mixture labelled at >= this SNR joins its class's
                            # templates for augment and readout_augment (the machine's own hits)
    alpha_h = 0.0
    alpha_s = 1e6           # ignored by deepnmf (loss 4.2.3)
    alpha_d = 0.0           # detection-aware term: alpha_d x sum (1 - 2 y) ln I (0: thesis loss)
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
    threshold_rule = "fpr"  # "fpr": stated false-positive rate (below); "gm" (4.3.5), "max" (4.3.6)
    fpr = 0.05              # target rate of no-hit mixtures with any class reported (rule "fpr")
    margin = 1.0
    top_k = 0               # 0: every class over its threshold; k: at most k hits
    ur_beta = 0.0
    ur_alpha = 0.1          # ignored when ur_factor = "cv" (chosen from 0, 0.01, 0.1, 1)
    ur_p = 0.25
    ur_background = false   # extra always-on latent component in the uncertainty reduction
    ur_nohit_label = 0.01   # label of every class on no-hit training mixtures (authors: ~1e-2)
    ur_prior = "alpha"      # prior weight alpha * I^(p-1) (authors); "alpha_p": alpha * p * ...
    ur_rule = "nohit_max"   # report when I_l > ur_factor x max I_l on no-hit training mixtures;
                            # "fixed": I_l > 0.5
    ur_factor = "cv"        # "cv": ur_alpha and ur_factor by 5-fold CV on the training mixtures
    index_floor = "cv"      # clip of H before the index's log: "cv" = leave-one-out on training
    readout = false         # also fit the linear readout of per-atom log activations (decision
                            # "readout": `tinyunfold model stream M --decision readout`): true =
                            # one-vs-rest logistic per class; "sets" = softmax over label sets
    readout_max_hits = 2    # "sets": the sets hold 0..readout_max_hits classes (1 <= it <= L)
    readout_floor = 1e-6    # clip of each atom's summed activation before its log
    readout_l2 = "cv"       # L2 weight of the readout's logistic fit: "cv" = 5-fold CV (best set-
                            # exact accuracy), "cv-recorded" = the same folds scored on the
                            # recorded training mixtures only (not the synthetic ones), or a number
    readout_cv_score = "accuracy"  # what those CV rules score on the held-out mixtures: "accuracy"
                            # (set-exact) or "log-loss" (mean log-loss of the readout's
                            # probabilities: steadier with few recorded mixtures)
    readout_cv_balance = false  # true: each label set among the judged mixtures weighs the same
                            # in that score (much more recorded background than hits)
    readout_input = "activations"  # what the readout reads: "activations" = ln sum_t H[a, t] per
                            # atom; "spectrum" = ln sum_t X~[b, t] per band of the window X~ (the
                            # network's input, x input_scale; robust to chain mismatch)
    readout_excess = 0      # > 0: the readout also reads each feature's excess over the no-hit
                            # training mixtures in their standard deviations, clipped at this
                            # many (a weak hit over a steady band; docs/padnmf.md); 0 = off
    readout_augment = 0     # further synthetic mixtures, drawn like [model] augment's (its
                            # options, other seeds), that train the readout only: the network's
                            # training stays as long; the readout's variance shrinks
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyunfold.datasets.prep import (
    augment_mixtures,
    built_from_recordings,
    config_front_end,
    init_sets,
    label_sets_of,
    progress_bar,
    spectrogram,
    train_split,
    transform_many,
    with_in_situ_targets,
)
from tinyunfold.errors import TinyUnfoldError, ValueDomainError, check_flag, check_number
from tinyunfold.training.config import DETECTION_KEYS, load_sections

if TYPE_CHECKING:
    from tinyunfold.detection import ReadoutExtra

CONFIG_HELP = __doc__

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
    "alpha_d",
}


# [model] keys that are not PADNMF constructor arguments
NON_ESTIMATOR_KEYS = {
    "noise_blocks",
    "h_mask",
    "template_gate_db",
    "template_gain",
    "augment",
    "augment_two_hit",
    "augment_no_hit",
    "augment_stretch",
    "augment_gain_db",
    "augment_noise_stretch",
    "augment_warp",
    "augment_snr_margin_db",
    "augment_in_situ_snr_db",
}


def _flag(mc: dict[str, Any], key: str) -> bool:
    """A true/false [model] key (default false); anything else is one line."""
    return check_flag(mc.get(key, False), f"[model] {key}", f"{key} = true")


def template_options(model_cfg: dict[str, Any]) -> dict[str, Any]:
    """``init_sets`` keyword arguments of a ``[model]`` section (template conditioning)."""
    gain = model_cfg.get("template_gain", "equal")
    if gain not in ("equal", "keep"):
        raise TinyUnfoldError(
            f"model.template_gain must be 'equal' or 'keep', got {gain!r}",
            'use template_gain = "equal" (default) or "keep"',
        )
    gate = model_cfg.get("template_gate_db", 40.0)
    if not isinstance(gate, int | float) or isinstance(gate, bool) or not gate >= 0:
        raise TinyUnfoldError(
            f"model.template_gate_db must be a number >= 0, got {gate!r}",
            "use e.g. template_gate_db = 40.0 (0 switches the gate off)",
        )
    return {"gate_db": float(gate), "equal_gain": gain == "equal"}


def load_config(path: str | None, overrides: list[str]) -> dict[str, dict[str, Any]]:
    """The padnmf/deepnmf training config (see :mod:`tinyunfold.training.config`)."""
    model_keys = MODEL_KEYS | NON_ESTIMATOR_KEYS
    return load_sections(path, overrides, model_keys, DETECTION_KEYS, "padnmf")


def build_estimator(kind: str, cfg: dict[str, dict[str, Any]]) -> Any:
    from tinyunfold.models.padnmf import PADNMF

    mc = {k: v for k, v in cfg["model"].items() if k not in NON_ESTIMATOR_KEYS}
    return PADNMF(kind=kind, use_h_mask=cfg["model"].get("h_mask"), **mc)


def health_check(est: Any, layout: Any, H: np.ndarray, det: Any, kind: str) -> list[str]:
    """Degenerate atoms / indices / thresholds of a trained detector
    (:func:`tinyunfold.detection.degeneracy_problems`), each warned once as
    ``DegenerateDetectorWarning``; returns the messages (stored in the model as ``health``)."""
    from tinyunfold.detection import DegenerateDetectorWarning, degeneracy_problems

    problems = degeneracy_problems(
        est.W_fixed_,
        layout,
        est.eps,
        H=H,
        index=det.train_index,
        thresholds=det.thresholds,
        mask=est.masks(1)[0],
    )
    for msg in problems:
        warnings.warn(f"{kind}: {msg}", DegenerateDetectorWarning, stacklevel=3)
    return list(problems)


def train_from_dataset(
    ds: Any, kind: str, cfg: dict[str, dict[str, Any]], progress: bool = True
) -> tuple[Any, Any, dict[str, Any]]:
    """Initialise (4.3.2-4.3.4), train (Algorithm 4.3.2) and fit the detector on ``ds``.

    Returns (estimator, detector, extra model params).
    """
    from tinyunfold.detection import (
        check_readout_config,
        fit_detector_from_config,
        readout_augment_value,
        window_totals,
    )

    dc = cfg["detection"]
    check_readout_config(dc)
    n_readout = readout_augment_value(dc.get("readout_augment", 0))
    if n_readout and not dc.get("readout", False):
        raise ValueDomainError(
            f"readout_augment = {n_readout} but the detector has no readout",
            'set [detection] readout = "sets" (or true), or readout_augment = 0',
        )
    feats, scale = config_front_end(ds, cfg["features"])  # mean noise power 1
    est = build_estimator(kind, cfg)
    topts = template_options(cfg["model"])
    targets, noise = init_sets(ds, feats, scale, cfg["model"].get("noise_blocks", "one"), **topts)
    with progress_bar(len(targets) + len(noise), f"init {kind}", progress) as bar:
        est.init_dictionary(
            targets, noise, list(ds.classes), feats.to_dict(), progress=lambda i, n: bar.update(1)
        )
    mc = cfg["model"]
    train, recordings, ds_aug, aug_opts = training_mixtures(ds, mc, topts)
    n_recorded = len(recordings)
    X = [spectrogram(m.audio, feats, scale) for m in train]
    S = [
        spectrogram(m.target_stem, feats, scale) if m.target_stem is not None else np.zeros_like(x)
        for m, x in zip(train, X, strict=True)
    ]
    missing = [m.name for m in train if m.has_hit and m.target_stem is None]
    if missing:
        raise TinyUnfoldError(
            f"{len(missing)} training mixtures with hits have no target stem (e.g. {missing[0]})",
            "give target_stem in labels.csv: the loss (4.3.20) needs the clean target",
        )
    if est.n_discriminative > 1:
        with progress_bar(
            est.n_epochs * -(-len(X) // max(1, min(est.batch_size, len(X)))),
            f"train {kind}",
            progress,
        ) as bar:

            def cb(step: int, total: int, loss: float) -> None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4g}")

            Y = np.zeros((len(train), len(ds.classes)))
            for q, ls in enumerate(label_sets_of(train, ds.classes)):
                Y[q, ls] = 1.0
            est.fit(X, S, progress=cb, labels=Y)
    if est.n_discriminative > 1 and est.dtype == "float64":
        H = est.transform_training_set()  # reuses the cached fixed layers of the training
    else:
        H = transform_many(est, X, "forward (train)", progress)
    extra_ro = None
    if n_readout:
        extra_ro = readout_mixtures(
            est, ds_aug, feats, scale, n_readout, int(mc.get("seed", 0)), aug_opts, dc, progress,
            recordings,
        )  # fmt: skip
    det = fit_detector_from_config(
        H,
        label_sets_of(train, ds.classes),
        est.layout_,
        dc,
        shifted_default=not est.h_mask_on,
        X_train=window_totals(X),  # the input windows X~ summed (readout on the spectrum)
        recorded=np.arange(len(train)) < n_recorded,  # the synthetic mixtures come last
        readout_extra=extra_ro,
        # what each synthetic mixture was cut from: held out with it by the readout's CV
        built_from=built_from_recordings(train, recordings),
    )
    problems = health_check(est, est.layout_, H, det, kind)
    extra = {
        "input_scale": scale,
        "health": problems,
        "config": cfg,
        "noise_blocks": cfg["model"].get("noise_blocks", "one"),
        "template": topts,
        "window_samples": int(len(train[0].audio)),
        "n_frames": int(X[0].shape[1]),
    }
    return est, det, extra


def training_mixtures(
    ds: Any, mc: dict[str, Any], topts: dict[str, Any]
) -> tuple[list[Any], list[Any], Any, dict[str, Any]]:
    """The mixtures a ``[model]`` section trains on: (the recorded ``split=train`` mixtures
    followed by the ``augment`` synthetic ones, the recorded ones alone, the dataset whose
    templates the synthetic hits are drawn from (with the in-situ hits), the
    :func:`augment_mixtures` options), for the network and for ``readout_mixtures`` alike."""
    recordings, _ = train_split(ds)
    aug_opts = augment_options(mc, topts)
    in_situ = in_situ_snr_db(mc)
    ds_aug = ds if in_situ is None else with_in_situ_targets(ds, in_situ)
    train = list(recordings)
    if int(mc.get("augment", 0)) > 0:
        train += augment_mixtures(
            ds_aug, int(mc["augment"]), seed=int(mc.get("seed", 0)), **aug_opts
        )
    return train, list(recordings), ds_aug, aug_opts


def augment_options(mc: dict[str, Any], topts: dict[str, Any]) -> dict[str, Any]:
    """The options of :func:`augment_mixtures` that a config's [model] section sets."""
    return {
        "two_hit": float(mc.get("augment_two_hit", 0.2)),
        "no_hit": float(mc.get("augment_no_hit", 0.2)),
        "stretch": float(mc.get("augment_stretch", 0.03)),
        "gate_db": topts["gate_db"],
        "gain_db": check_number(
            mc.get("augment_gain_db", 0.0),
            "[model] augment_gain_db",
            "a number of dB >= 0",
            "set it to e.g. 12.0 (levels spread over +-12 dB), or 0 (off)",
            lambda v: 0.0 <= v < math.inf,
        ),
        "noise_stretch": _flag(mc, "augment_noise_stretch"),
        "warp": _warp(mc),
        "snr_margin_db": _snr_margin(mc),
    }


def _warp(mc: dict[str, Any]) -> float:
    """``[model] augment_warp``: a fraction in [0, 0.5); anything else is one line."""
    return check_number(
        mc.get("augment_warp", 0.0),
        "[model] augment_warp",
        "a fraction in [0, 0.5)",
        "set it to a few percent such as 0.03, or 0 (off)",
        lambda v: 0.0 <= v < 0.5,
    )


def _snr_margin(mc: dict[str, Any]) -> float:
    """``[model] augment_snr_margin_db``: a finite number of dB >= 0; anything else is one line."""
    return check_number(
        mc.get("augment_snr_margin_db", 0.0),
        "[model] augment_snr_margin_db",
        "a number of dB >= 0",
        "set it to e.g. 12.0 (synthetic hits down to 12 dB below the weakest labelled SNR), "
        "or 0 (the labelled range)",
        lambda v: 0.0 <= v < math.inf,
    )


def in_situ_snr_db(mc: dict[str, Any]) -> float | None:
    """``[model] augment_in_situ_snr_db``: None (absent or false: templates only) or the SNR
    (dB) from which the training mixtures' own hits join the templates
    (:func:`~tinyunfold.datasets.prep.with_in_situ_targets`); anything else is one line."""
    v = mc.get("augment_in_situ_snr_db", False)
    if v is False:
        return None
    return check_number(
        v,
        "[model] augment_in_situ_snr_db",
        "a number of dB or false",
        "set it to an SNR such as 0.0 (the recordings' hits at 0 dB or above) or false",
    )


READOUT_CHUNK = 2000  # synthetic mixtures held as audio at once by readout_mixtures


def readout_mixtures(
    est: Any,
    ds: Any,
    feats: Any,
    scale: float,
    n: int,
    seed: int,
    aug_opts: dict[str, Any],
    dc: dict[str, Any],
    progress: bool = True,
    recordings: Sequence[Any] = (),
) -> ReadoutExtra:
    """The ``readout_augment`` mixtures: ``n`` synthetic mixtures drawn like ``[model] augment``'s
    (``aug_opts``) in chunks of :data:`READOUT_CHUNK` (chunk k from the seed sequence (seed, 1,
    k): never the network's own mixtures), kept as the totals over the window
    (:func:`~tinyunfold.detection.window_totals`, all the readout reads) of the network's input
    windows X̃ (and of its output H when the readout reads the activations), with the indices
    of the ``recordings`` (the recorded training mixtures) each was made from ->
    :class:`ReadoutExtra`. The totals take 1/n of the windows' memory (a full-spectrum readout
    of 18,000 mixtures: 0.3 instead of 3.2 GB)."""
    from tinyunfold.detection import (
        DEFAULT_READOUT_INPUT,
        ReadoutExtra,
        check_readout_input,
        window_totals,
    )

    need_h = check_readout_input(dc.get("readout_input", DEFAULT_READOUT_INPUT)) == "activations"
    X: list[np.ndarray] = []
    H: list[np.ndarray] = []
    labels: list[list[int]] = []
    built: list[list[int]] = []
    with progress_bar(n, "readout mixtures", progress) as bar:
        for k in range(-(-n // READOUT_CHUNK)):
            m = min(READOUT_CHUNK, n - k * READOUT_CHUNK)
            s = int(np.random.SeedSequence([seed, 1, k]).generate_state(1)[0])
            mixtures = augment_mixtures(ds, m, seed=s, **aug_opts)
            Xk = [spectrogram(x.audio, feats, scale) for x in mixtures]
            if need_h:
                H.append(window_totals(transform_many(est, Xk, "forward (readout)", False)))
            X += list(window_totals(Xk))
            labels += label_sets_of(mixtures, ds.classes)
            built += built_from_recordings(mixtures, recordings)
            bar.update(m)
    return ReadoutExtra(
        X=np.stack(X), H=np.concatenate(H) if need_h else None, labels=labels, built_from=built
    )


# ------------------------------------------------------------------------- fine-tuning (--init)
# [model] keys that define the network (its shapes, masks and forward pass): an --init model keeps
# its own, so setting one of them together with --init is an error rather than silently ignored.
NETWORK_KEYS = (
    "n_layers",
    "n_discriminative",
    "context",
    "target_rank",
    "noise_rank",
    "alpha_h",
    "eps",
    "h_mask",
    "noise_blocks",
    "template_gate_db",
    "template_gain",
    "init_iter",
    "augment",
    "augment_two_hit",
    "augment_no_hit",
    "augment_stretch",
    "augment_gain_db",
    "augment_noise_stretch",
    "augment_warp",
    "augment_snr_margin_db",
    "augment_in_situ_snr_db",
)


def finetune(
    est: Any,
    stored: dict[str, Any],
    mixtures: list[np.ndarray],
    targets: list[np.ndarray],
    label_sets: list[list[int]],
    cfg: dict[str, dict[str, Any]],
    progress: bool = True,
) -> tuple[Any, Any, dict[str, Any]]:
    """Algorithm 4.3.2 started from a trained (e.g. imported) network instead of (4.3.2)-(4.3.4).

    ``est`` is the :class:`~tinyunfold.models.padnmf.PADNMF` of the ``--init`` model; it keeps its
    layout, K, C, T, α_H, ε, masks and Ŵ. Its C-1 dictionaries W⁽ᴷ⁻ᶜ⁺¹⁾..W⁽ᴷ⁻¹⁾ are the starting
    point of the multiplicative updates (4.3.9); the training options (epochs, batch size, α_S,
    α_D, seed, device, dtype) come from ``cfg["model"]``. The mixtures are used at the scale they
    are given (the model's ε is relative to it: an imported network was trained at that scale).
    The detector is refitted on the same training mixtures with ``cfg["detection"]``; where the
    config does not say, the time-shifted indices and the uncertainty-reduction β follow the
    ``--init`` model's ``stored`` detection params.

    Parameters
    ----------
    mixtures, targets : Q spectrograms (m', n) each: X̃_q and the clean target S̃_q of (4.3.20)
        (the authors' files hold ε-matrices for no-hit mixtures; zeros work the same).
    label_sets : classes held by each mixture (indices into the model's classes).

    Returns (estimator, detector, extra model params).
    """
    from tinyunfold.detection import (
        check_readout_config,
        fit_detector_from_config,
        readout_augment_value,
        window_totals,
    )
    from tinyunfold.errors import ShapeError

    check_readout_config(cfg["detection"])
    lay = est.layout_
    mc = cfg["model"]
    fixed = [k for k in NETWORK_KEYS if k in mc]
    if fixed or cfg["features"]:
        what = ", ".join([f"model.{k}" for k in fixed] + [f"features.{k}" for k in cfg["features"]])
        raise TinyUnfoldError(
            f"--init keeps the network of the model file, but the config sets {what}",
            "drop those keys (only training options: n_epochs, batch_size, alpha_s, alpha_d, "
            "seed, device, dtype, n_threads, and [detection])",
        )
    if readout_augment_value(cfg["detection"].get("readout_augment", 0)):
        raise ValueDomainError(
            "readout_augment draws mixtures from a dataset's targets/ and noise/, which "
            "--init's spectrogram sets do not have",
            "remove [detection] readout_augment (or train from a dataset: --dataset)",
        )
    if est.n_discriminative < 2:
        raise TinyUnfoldError(
            f"the --init model has C = {est.n_discriminative}: no trained dictionary to fine-tune",
            "use a model with C >= 2 discriminative layers",
        )
    if not mixtures or len(mixtures) != len(targets) or len(mixtures) != len(label_sets):
        raise ShapeError(
            f"{len(mixtures)} mixtures, {len(targets)} targets, {len(label_sets)} labels",
            "give one target and one label per training mixture",
        )
    for q, (x, s) in enumerate(zip(mixtures, targets, strict=True)):
        if x.ndim != 2 or x.shape[0] != lay.n_bins:
            raise ShapeError(
                f"training mixture {q} has shape {x.shape}: {x.shape[0] if x.ndim else 0} "
                f"bands, the --init model has {lay.n_bins}",
                "use spectrograms made with the front-end the model was trained on",
            )
        if s.shape != x.shape:
            raise ShapeError(
                f"training target {q} has shape {s.shape}, its mixture {x.shape}",
                "give the clean target spectrogram of each mixture at the mixture's shape",
            )
    n_frames = {int(x.shape[1]) for x in mixtures}
    n_model = stored.get("n_frames")
    if len(n_frames) > 1 or (isinstance(n_model, int) and n_frames != {n_model}):
        raise ShapeError(
            f"training mixtures have {sorted(n_frames)} frames, the --init model's window "
            f"{n_model}",
            "cut every mixture to the model's window length",
        )
    options = {k: v for k, v in mc.items() if k in MODEL_KEYS}
    est.n_epochs = int(options.get("n_epochs", 3))
    est.batch_size = int(options.get("batch_size", 27))
    est.alpha_s = float(options.get("alpha_s", 1e6))  # (4.3.20); the thesis' piano run: 1e6
    est.alpha_d = float(options.get("alpha_d", 0.0))
    est.seed = int(options.get("seed", 0))
    est.device = str(options.get("device", "cpu"))
    est.dtype = str(options.get("dtype", "float64"))
    est.n_threads = int(options.get("n_threads", 1))
    Y = np.zeros((len(mixtures), lay.n_classes))
    for q, ls in enumerate(label_sets):
        Y[q, ls] = 1.0
    W_start = [W.copy() for W in est.W_disc_]
    with progress_bar(
        est.n_epochs * -(-len(mixtures) // max(1, min(est.batch_size, len(mixtures)))),
        "fine-tune",
        progress,
    ) as bar:

        def cb(step: int, total: int, loss: float) -> None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4g}")

        est.fit(mixtures, targets, progress=cb, labels=Y)
    H = (
        est.transform_training_set()
        if est.dtype == "float64"
        else transform_many(est, mixtures, "forward (train)", progress)
    )
    sd = stored.get("detection") or {}
    dc = dict(cfg["detection"])
    dc.setdefault("shifted", bool(sd.get("shifted", not est.h_mask_on)))
    if sd.get("ur") and "beta" in sd["ur"]:
        dc.setdefault("ur_beta", float(sd["ur"]["beta"]))
    det = fit_detector_from_config(
        H, label_sets, lay, dc, shifted_default=not est.h_mask_on, X_train=window_totals(mixtures)
    )
    problems = health_check(est, lay, H, det, est.kind)
    change = max(
        float(np.abs(W - W0).max() / max(np.abs(W0).max(), 1e-300))
        for W, W0 in zip(est.W_disc_, W_start, strict=True)
    )
    extra: dict[str, Any] = {
        k: stored[k]
        for k in ("input_scale", "window_samples", "noise_blocks", "template")
        if k in stored
    }
    extra.update(
        {
            "health": problems,
            "config": cfg,
            "n_frames": int(next(iter(n_frames))),
            "finetune": {"n_mixtures": len(mixtures), "max_rel_change": change},
        }
    )
    return est, det, extra
