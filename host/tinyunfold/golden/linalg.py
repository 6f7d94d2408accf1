"""Float32 kernels mirroring CMSIS-DSP's scalar accumulation order bit for bit."""

from __future__ import annotations

import numpy as np

F32 = np.float32


def as_f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=F32)


def mat_mult_f32(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``arm_mat_mult_f32``: C[i, j] = ((0 + A[i,0]B[0,j]) + A[i,1]B[1,j]) + ...

    CMSIS' scalar kernel starts from 0.0f and adds each rounded product in index order, so a
    loop over the reduction index with the other two axes vectorised gives identical bits.
    A: (M, K), B: (K, N) -> (M, N).
    """
    A = as_f32(A)
    B = as_f32(B)
    if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[0]:
        raise ValueError(f"mat_mult_f32: incompatible shapes {A.shape} x {B.shape}")
    acc = np.zeros((A.shape[0], B.shape[1]), dtype=F32)
    for k in range(A.shape[1]):
        prod = A[:, k : k + 1] * B[k : k + 1, :]  # rounded product (no FMA: -ffp-contract=off)
        acc += prod
    return acc


def column_sums_f32(A: np.ndarray) -> np.ndarray:
    """Sequential float32 sum over rows: s[j] = ((0 + A[0,j]) + A[1,j]) + ... ; A: (M, N) -> (N,)."""
    A = as_f32(A)
    acc = np.zeros(A.shape[1], dtype=F32)
    for i in range(A.shape[0]):
        acc += A[i]
    return acc


def max_f32(a: np.ndarray, floor: np.float32) -> np.ndarray:
    """C's ``(a > floor) ? a : floor`` (a NaN maps to ``floor``, unlike ``np.maximum``)."""
    return np.where(a > floor, a, floor).astype(F32)
