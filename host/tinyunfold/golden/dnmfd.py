"""Float32 golden reference of the Deep-NMFD forward pass on the device (thesis 4.4).

Mirrors ``tu_nmfd_layers_f32`` (firmware/src) and the generated ``tu_model_forward`` of
``codegen/templates/dnmfd``: the input block is the spectrogram window X (m x n); H⁽⁰⁾ = 1
(J x n); K layers, K − C with Ŵ, then one per trained dictionary W⁽ᵏ⁾ (``models.dnmfd.forward``).
Each layer is the inner map (4.4.3) with the shifted-ones denominator D (data independent, the
curly term of eq. 4.5.6; the firmware computes it at start-up from the stored dictionaries,
``tu_nmfd_denominator_f32``, in the order of :func:`ones_denominator_f32`) and the ε-projection
(3.2.38), in the C's order:

    V[f, t] = Σ_(j, r), r < r_j, r <= t  W_j[f, r] H[j, t - r]     (j, then r ascending, from 0)
    Q       = X ⊘ (V + ε)
    B_jr[t'] = Σ_f W_j[f, r] Q[f, t']                               (f ascending, t' >= r only)
    N[j, t] = Σ_r, t + r < n  B_jr[t + r]                           (r ascending, from 0)
    H[j, t] = max(ε, H[j, t] (N[j, t] / max(D[j, t], ε)))

The dictionaries are stored compactly: atom (j, r) for r < r_j only, as m contiguous floats. The
products skipped (columns r >= r_j, shifts t - r < 0) are structural zeros: by the argument of
docs/numerics.md the bits equal those of the dense sums in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyunfold.errors import ModelFileError, ShapeError
from tinyunfold.golden.linalg import F32, as_f32, max_f32
from tinyunfold.modelfile import ModelFile
from tinyunfold.models.dnmfd import DeepNMFD, layer_dictionaries
from tinyunfold.models.nmf import check_input


@dataclass(frozen=True)
class DNMFDConstants:
    """What the generator bakes into the firmware."""

    n_bins: int  # m
    n_frames: int  # n
    ranks: tuple[int, ...]  # r_j
    atoms: tuple[np.ndarray, ...]  # per distinct dictionary: (Σ r_j, m) float32, atom (j, r) rows
    denominators: tuple[np.ndarray, ...]  # per distinct dictionary: (J, n) max(D, ε), float32
    counts: tuple[int, ...]  # layers run with each distinct dictionary, in order
    eps: np.float32
    warm_stride: int = 0  # no warm start: the Deep-NMFD firmware has no tu_model_forward_warm

    @property
    def n_dicts(self) -> int:
        return len(self.ranks)


def compact_atoms(W: np.ndarray, ranks: tuple[int, ...]) -> np.ndarray:
    """W (J, m, R) -> (Σ r_j, m): row (j, r) is W[j][:, r], j then r ascending."""
    return as_f32(np.concatenate([np.asarray(W[j])[:, :r].T for j, r in enumerate(ranks)]))


def ones_denominator_f32(atoms: np.ndarray, ranks: tuple[int, ...], n: int, eps: np.float32):
    """max(D, ε), D[j, t] = Σ_(r < r_j, t + r < n) Σ_f W_j[f, r] (the shifted-ones sums of 4.4.3).

    The order of ``tu_nmfd_denominator_f32`` (run once at start-up, docs/numerics.md): each column
    sum s_jr sequential over f ascending from 0, then D[j, t] = 0 + s_j0 + s_j1 + ... (r
    ascending, the terms with t + r < n), then max(D, ε); float32 (J, n).
    """
    csum = np.zeros(atoms.shape[0], dtype=F32)
    for f in range(atoms.shape[1]):
        csum += atoms[:, f]
    D = np.zeros((len(ranks), n), dtype=F32)
    row = 0
    for j, rj in enumerate(ranks):
        for r in range(rj):
            D[j, : max(n - r, 0)] += csum[row + r]
        row += rj
    return max_f32(D, eps)


def constants(model: ModelFile) -> DNMFDConstants:
    if "n_frames" not in model.params:
        raise ModelFileError(
            "dnmfd model has no n_frames: the device needs a fixed window length",
            "train it with `tinyunfold train dnmfd` (it records the window length)",
        )
    est = DeepNMFD.from_modelfile(model)
    n = int(model.params["n_frames"])
    ranks = tuple(int(r) for r in est.ranks)
    eps = F32(est.eps)
    W_hat = model.array("W_hat")
    W_layers = model.array("W_layers")
    sched: list[tuple[np.ndarray, int]] = []
    for W in layer_dictionaries(W_hat, W_layers, est.n_layers):
        if sched and sched[-1][0] is W:
            sched[-1] = (W, sched[-1][1] + 1)
        else:
            sched.append((W, 1))
    atoms = tuple(compact_atoms(W, ranks) for W, _ in sched)
    return DNMFDConstants(
        n_bins=int(W_hat.shape[1]),
        n_frames=n,
        ranks=ranks,
        atoms=atoms,
        denominators=tuple(ones_denominator_f32(a, ranks, n, eps) for a in atoms),
        counts=tuple(c for _, c in sched),
        eps=eps,
    )


def nmfd_layers_f32(
    atoms: np.ndarray,
    ranks: tuple[int, ...],
    denom: np.ndarray,
    eps: np.float32,
    X: np.ndarray,
    H: np.ndarray,
    n_layers: int,
) -> np.ndarray:
    """``tu_nmfd_layers_f32``: ``n_layers`` layers (4.4.3) with one dictionary; returns the new H.

    atoms: (Σ r_j, m), denom: (J, n) = max(D, ε), X: (m, n), H: (J, n); all float32.
    """
    m, n = X.shape
    idx = [(j, r) for j, rj in enumerate(ranks) for r in range(rj)]
    for _ in range(n_layers):
        V = np.zeros((m, n), dtype=F32)
        for a, (j, r) in enumerate(idx):  # W*H: atoms in (j, r) order, shifts t >= r only
            if r < n:
                V[:, r:] += atoms[a][:, None] * H[j][None, : n - r]
        Q = X / (V + eps)
        B = np.zeros((len(idx), n), dtype=F32)
        for f in range(m):  # B_jr[t'] = Σ_f W_j[f, r] Q[f, t'], f ascending
            B += atoms[:, f : f + 1] * Q[f : f + 1, :]
        N = np.zeros_like(H)
        for a, (j, r) in enumerate(idx):  # N[j, t] = Σ_r B_jr[t + r], r ascending
            if r < n:
                N[j, : n - r] += B[a, r:]
        H = max_f32(H * (N / denom), eps)  # (4.4.3) with the ratio first, as update_h
    return H


def dnmfd_forward_f32(c: DNMFDConstants, X: np.ndarray) -> np.ndarray:
    """Bit-exact float32 forward pass: spectrogram window (m, n) -> H⁽ᴷ⁾ (J, n)."""
    X = as_f32(check_input(X, c.n_bins, "spectrogram window"))
    if X.shape[1] != c.n_frames:
        raise ShapeError(
            f"window has {X.shape[1]} frames, the model was built for {c.n_frames}",
            "cut windows of the training length",
        )
    H = np.ones((c.n_dicts, c.n_frames), dtype=F32)
    for A, D, count in zip(c.atoms, c.denominators, c.counts, strict=True):
        H = nmfd_layers_f32(A, c.ranks, D, c.eps, X, H, count)
    return H
