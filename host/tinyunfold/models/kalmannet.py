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

from tinyunfold.errors import ShapeError
from tinyunfold.models.dkf import TorchPredictor
from tinyunfold.models.systems import System


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

    def transform(self, y: np.ndarray, x0: np.ndarray) -> np.ndarray:
        """Filter y (N, T, m) from x0 (N, n) -> x̂ (N, T+1, n)."""
        import torch

        with torch.no_grad():
            out = self._run(torch.tensor(np.asarray(y, dtype=np.float64)),
                            torch.tensor(np.asarray(x0, dtype=np.float64)))  # fmt: skip
        return out.numpy()
