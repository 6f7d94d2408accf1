"""KalmanNet baseline (thesis sect. 6.3), one-component parameterisation.

Prediction x̂(k|k-1) = f(x̂(k-1)) (6.3.2) with the same predictor as the DKF, correction
x̂(k) = x̂(k|k-1) + K_G^(k) (y(k) - C x̂(k|k-1)) (6.3.3), where the gain is produced at every step
by a GRU embedded between two fully connected layers, hidden size c_h (n² + m²). Inputs: the
output prediction error Δy(k) = e_y(k) and the state correction Δx(k-1) = x̂(k-1) - x̂(k-1|k-2)
(Fig. 6.1), each L2-normalised. Trained by backpropagation through time on full state
trajectories with the loss (6.3.4) L = 1/(2K) Σ_k ‖x̂(k) - x(k)‖², Adam.

Unlike the DKF, the gain is computed online, so no horizon K is fixed (the DKF needs a rule after
its last layer, see :mod:`tinyunfold.models.dkf`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyunfold.errors import ModelFileError, ShapeError, ValueDomainError
from tinyunfold.modelfile import ModelFile, require_array, require_params
from tinyunfold.models.dkf import TorchPredictor
from tinyunfold.models.systems import System

KIND = "kalmannet"


def weight_shapes(n: int, m: int, h: int) -> dict[str, tuple[int, ...]]:
    """Shapes of the learned arrays (torch ``state_dict`` names) for n states, m outputs, hidden h.

    fc_in: (n + m) -> h, GRU cell (3 gates r, z, n stacked), fc_out: h -> n m.
    """
    return {
        "fc_in.weight": (h, n + m),
        "fc_in.bias": (h,),
        "gru.weight_ih": (3 * h, h),
        "gru.weight_hh": (3 * h, h),
        "gru.bias_ih": (3 * h,),
        "gru.bias_hh": (3 * h,),
        "fc_out.weight": (n * m, h),
        "fc_out.bias": (n * m,),
    }


class KalmanNet:
    """GRU-gain Kalman filter (6.3).

    Parameters
    ----------
    system : predictor f and observation matrix C (noise statistics are not used).
    hidden_mult : c_h in the GRU hidden size c_h (n² + m²).
    epochs, lr, batch_size : Adam training on full state trajectories.
    seed : weight initialisation and batch order.
    """

    def __init__(
        self,
        system: System,
        hidden_mult: int = 2,
        epochs: int = 100,
        lr: float = 1e-3,
        batch_size: int = 10,
        seed: int = 0,
    ) -> None:
        self.system = system
        self.hidden_mult = hidden_mult
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.seed = seed

    def _build(self) -> None:
        import torch

        torch.manual_seed(self.seed)
        n, m = self.system.n, self.system.m
        h = self.hidden_mult * (n * n + m * m)
        d_in = n + m
        self.net_ = torch.nn.ModuleDict(
            {
                "fc_in": torch.nn.Linear(d_in, h),
                "gru": torch.nn.GRUCell(h, h),
                "fc_out": torch.nn.Linear(h, n * m),
            }
        ).double()
        fc_out = self.net_["fc_out"]
        assert isinstance(fc_out, torch.nn.Linear)
        with torch.no_grad():  # start near a zero gain (pure prediction)
            fc_out.weight.mul_(0.1)
            fc_out.bias.zero_()
        self.hidden_ = h
        self.n_params_ = int(sum(p.numel() for p in self.net_.parameters()))

    def _run(self, y: Any, x0: Any) -> Any:
        import torch
        import torch.nn.functional as F

        s = self.system
        n, m = s.n, s.m
        pred = TorchPredictor(s)
        prep = pred.prepare(torch.zeros(len(s.learn), dtype=torch.float64))
        C = torch.tensor(s.C)
        B, T, _ = y.shape
        hstate = torch.zeros(B, self.hidden_, dtype=torch.float64)
        x = x0
        dx = torch.zeros(B, n, dtype=torch.float64)
        xs = [x0]
        for k in range(T):
            xp = pred(x, prep)  # eq. (6.3.2)
            e = y[:, k] - xp @ C.T
            feat = torch.cat([F.normalize(e, dim=-1, eps=1e-12), F.normalize(dx, dim=-1, eps=1e-12)],
                             -1)  # fmt: skip
            hstate = self.net_["gru"](torch.relu(self.net_["fc_in"](feat)), hstate)
            G = self.net_["fc_out"](hstate).reshape(B, n, m)
            corr = torch.einsum("bij,bj->bi", G, e)
            x = xp + corr  # eq. (6.3.3)
            dx = corr
            xs.append(x)
        return torch.stack(xs, 1)

    def fit(self, data: dict[str, np.ndarray]) -> KalmanNet:
        """data: ``y`` (N, K, m), ``x`` (N, K+1, n) full states, ``x0_hat`` (N, n)."""
        import torch

        if "x" not in data:
            raise ShapeError("KalmanNet trains on full state trajectories: the data needs 'x'")
        self._build()
        y = torch.tensor(np.asarray(data["y"], dtype=np.float64))
        x = torch.tensor(np.asarray(data["x"], dtype=np.float64))
        x0 = torch.tensor(np.asarray(data["x0_hat"], dtype=np.float64))
        N, K = y.shape[0], y.shape[1]
        opt = torch.optim.Adam(self.net_.parameters(), lr=self.lr, betas=(0.9, 0.999))
        rng = np.random.default_rng(self.seed)
        self.loss_: list[float] = []
        for _ in range(self.epochs):
            order = rng.permutation(N)
            tot = 0.0
            for b0 in range(0, N, self.batch_size):
                idx = torch.as_tensor(order[b0 : b0 + self.batch_size])
                opt.zero_grad()
                est = self._run(y[idx], x0[idx])
                loss = ((est[:, 1:] - x[idx, 1:]) ** 2).sum(-1).sum(-1).mean() / (2 * K)  # (6.3.4)
                loss.backward()
                opt.step()
                tot += float(loss.detach()) * len(idx)
            self.loss_.append(tot / N)
        return self

    # ------------------------------------------------------------------ model file
    def to_modelfile(self) -> ModelFile:
        """``kalmannet`` model file: float64 weights by ``state_dict`` name, the system as JSON.

        No pickle: every tensor is stored as a plain array and loaded back by name and shape.
        """
        s = self.system
        arrays = {k: v.detach().numpy().astype(np.float64).copy()
                  for k, v in self.net_.state_dict().items()}  # fmt: skip
        return ModelFile(
            kind=KIND,
            params={
                "n_states": s.n,
                "n_outputs": s.m,
                "hidden": int(self.hidden_),
                "hidden_mult": int(self.hidden_mult),
                "n_params": int(self.n_params_),
                "epochs": int(self.epochs),
                "lr": float(self.lr),
                "batch_size": int(self.batch_size),
                "seed": int(self.seed),
                "system": s.to_dict(),
                "final_loss": float(self.loss_[-1]) if getattr(self, "loss_", None) else None,
            },
            arrays=arrays,
        )

    @classmethod
    def from_modelfile(cls, model: ModelFile) -> KalmanNet:
        """Rebuild a trained KalmanNet from :meth:`to_modelfile` output (validated first)."""
        import torch

        validate_modelfile(model)
        pr = model.params
        obj = cls(System.from_dict(pr["system"]), hidden_mult=int(pr["hidden_mult"]),
                  epochs=int(pr["epochs"]), lr=float(pr["lr"]), batch_size=int(pr["batch_size"]),
                  seed=int(pr["seed"]))  # fmt: skip
        obj._build()
        state = {k: torch.tensor(np.asarray(model.array(k), dtype=np.float64))
                 for k in weight_shapes(obj.system.n, obj.system.m, obj.hidden_)}  # fmt: skip
        obj.net_.load_state_dict(state)
        obj.loss_ = [] if pr.get("final_loss") is None else [float(pr["final_loss"])]
        return obj

    def transform(self, y: np.ndarray, x0: np.ndarray) -> np.ndarray:
        """Filter y (N, T, m) from x0 (N, n) -> x̂ (N, T+1, n)."""
        import torch

        with torch.no_grad():
            out = self._run(torch.tensor(np.asarray(y, dtype=np.float64)),
                            torch.tensor(np.asarray(x0, dtype=np.float64)))  # fmt: skip
        return out.numpy()


def validate_modelfile(model: ModelFile) -> None:
    """Validator of the ``kalmannet`` kind (to be registered by the kind registry, not here)."""
    if model.kind != KIND:
        raise ModelFileError(f"expected a {KIND} model, got kind {model.kind!r}")
    require_params(model, "n_states", "n_outputs", "hidden", "hidden_mult", "system")
    pr = model.params
    n, m, h, c = pr["n_states"], pr["n_outputs"], pr["hidden"], pr["hidden_mult"]
    for name, v in (("n_states", n), ("n_outputs", m), ("hidden", h), ("hidden_mult", c)):
        if not (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
            raise ValueDomainError(f"{KIND}: {name} must be an integer >= 1, got {v!r}")
    if h != c * (n * n + m * m):
        raise ModelFileError(
            f"{KIND}: hidden = {h} but hidden_mult (n² + m²) = {c * (n * n + m * m)} (6.3)"
        )
    try:
        system = System.from_dict(pr["system"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{KIND}: malformed system description ({exc})") from None
    if (system.n, system.m) != (n, m):
        raise ModelFileError(
            f"{KIND}: the system has n={system.n}, m={system.m}, the params say n={n}, m={m}"
        )
    shapes = weight_shapes(n, m, h)
    extra = sorted(set(model.arrays) - set(shapes))
    if extra:
        raise ModelFileError(f"{KIND}: unexpected arrays {', '.join(extra)}")
    for name, shape in shapes.items():
        arr = require_array(model, name, shape=shape)
        if arr.dtype != np.float64:
            raise ValueDomainError(f"{KIND}: {name} must be float64, got {arr.dtype}")
