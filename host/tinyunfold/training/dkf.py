"""Training of the ``dkf`` kind (thesis 6.4) from simulated or measured trajectories."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from tinyunfold.models.dkf import DeepKalmanFilter
from tinyunfold.models.systems import load_system, load_trajectories

MIN_UPDATES = 300  # default training budget in Adam updates (the Riccati gains need ~200-300)


def train_dkf(
    system_path: str, trajectories: str, opts: dict[str, Any]
) -> tuple[DeepKalmanFilter, float]:
    """Fit a :class:`DeepKalmanFilter` with the options of ``tinyunfold train dkf``.

    ``opts`` holds the command's options by name (layers, backprop, lambda_k, ...). Returns the
    fitted filter and the training time in seconds.
    """
    import torch

    args: Any = SimpleNamespace(**opts)
    torch.set_num_threads(1)  # n x m matrices: a thread pool only adds overhead
    system = load_system(system_path)
    data = load_trajectories(trajectories, system)
    gain_param = args.gains
    if gain_param == "auto":
        gain_param = "riccati" if system.is_linear and not (
            args.whiteness_control or args.sindy_cycles) else "free"  # fmt: skip
    epochs = args.epochs
    if epochs is None:  # a budget in updates, so few trajectories still train to convergence
        per_epoch = -(-data["y"].shape[0] // max(args.batch_size, 1))
        epochs = max(30, -(-MIN_UPDATES // per_epoch))
    t0 = time.perf_counter()
    dkf = DeepKalmanFilter(
        system,
        n_layers=args.layers,
        backprop=args.backprop,
        lambda_k=args.lambda_k,
        lambda_d=(10.0 if gain_param == "free" else 0.0)
        if args.lambda_d is None
        else args.lambda_d,
        lambda_c=args.lambda_c,
        gain_init=args.gain_init,
        r_weight=args.r_weight,
        p_weight=args.p_weight,
        lr=args.lr,
        lr_ratio=args.lr_ratio,
        epochs=epochs,
        batch_size=args.batch_size,
        whiteness_control=args.whiteness_control,
        whiteness_patience=args.whiteness_patience,
        sindy_cycles=args.sindy_cycles,
        beyond=args.beyond,
        loss=args.loss,
        gain_param=gain_param,
        seed=args.seed,
        verbose=True,
    ).fit(data)
    return dkf, time.perf_counter() - t0


def train_kalmannet(
    system_path: str,
    trajectories: str,
    hidden_mult: int = 2,
    epochs: int = 100,
    lr: float = 1e-3,
    batch_size: int = 10,
    seed: int = 0,
) -> tuple[Any, float]:
    """Fit KalmanNet (thesis 6.3) on full-state trajectories; returns (model, seconds)."""
    import torch

    from tinyunfold.errors import ValueDomainError
    from tinyunfold.models.kalmannet import KalmanNet

    if lr <= 0 or epochs < 1 or batch_size < 1 or hidden_mult < 1:
        raise ValueDomainError(
            f"need lr > 0 and epochs, batch size, hidden multiplier >= 1 (got {lr}, {epochs}, "
            f"{batch_size}, {hidden_mult})",
            "e.g. --lr 1e-3 --epochs 100 --batch-size 10",
        )
    torch.set_num_threads(1)
    system = load_system(system_path)
    data = load_trajectories(trajectories, system)
    t0 = time.perf_counter()
    net = KalmanNet(system, hidden_mult, epochs, lr, batch_size, seed).fit(data)
    return net, time.perf_counter() - t0
