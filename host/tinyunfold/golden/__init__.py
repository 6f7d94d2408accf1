"""Float32 golden references: numpy code whose every rounding mirrors the C firmware.

Rules (docs/numerics.md): float32 everywhere, reductions as an explicit sequential loop over the
reduction index (vectorised over the other axes), never ``@``/BLAS, no fused multiply-add, no libm.
"""
