"""Built-in synthetic data for the demo: spectra of a few 'hit' sources plus background."""

from __future__ import annotations

import numpy as np


def synthetic_nmf_problem(
    n_features: int = 64, rank: int = 6, n_frames: int = 8, n_blocks: int = 3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dictionary of resonance-like spectra and mixtures of them.

    Returns
    -------
    W : (F, R) float32, each atom a few Lorentzian resonance peaks, columns summing to 1.
    H : (blocks, R, N) float32, true sparse activations (decaying hits at random onsets).
    X : (blocks, F, N) float32, W H plus a small positive background.
    """
    rng = np.random.default_rng(seed)
    f = np.arange(n_features)[:, None]
    W = np.zeros((n_features, rank))
    for r in range(rank):
        for _ in range(3):
            c = rng.uniform(0, n_features)
            w = rng.uniform(0.8, 3.0)
            W[:, r] += rng.uniform(0.3, 1.0) / (1.0 + ((f[:, 0] - c) / w) ** 2)
    W /= W.sum(axis=0, keepdims=True)
    H = np.zeros((n_blocks, rank, n_frames))
    for b in range(n_blocks):
        for r in rng.choice(rank, size=max(1, rank // 3), replace=False):
            onset = rng.integers(0, n_frames)
            H[b, r, onset:] = rng.uniform(5, 20) * np.exp(-0.7 * np.arange(n_frames - onset))
    X = np.einsum("fr,brn->bfn", W, H) + 0.01 * rng.random((n_blocks, n_features, n_frames))
    return W.astype(np.float32), H.astype(np.float32), X.astype(np.float32)
