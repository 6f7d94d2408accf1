"""Forward-pass cost and memory of Deep-NMF, PAD-NMF and Deep-NMFD (thesis section 4.5).

``cost_*`` return the number of basic floating-point operations of one forward pass (eq. 4.5.1,
4.5.3, 4.5.5); ``memory_*`` return the number of stored float scalars (eq. 4.5.2, 4.5.4, 4.5.6):
the network parameters plus, in curly brackets in the thesis, the precomputed denominators
(``include_denominators``).

Table 4 of the thesis (MFLOPS and MB for three scenarios) is reproduced by :func:`table4`. The
formulas as printed do not give every printed number; :data:`TABLE4_THESIS` holds the printed
table and ``table4(variant="thesis")`` the parameter choices that reproduce it to the printed
two decimals (see docs/nmfd.md):

* scenario 1 uses m = 180 (the text says m = 2|J_S| = 176);
* the PAD-NMF cost column equals eq. (4.5.1) (Hankel products only in the K − C
  non-discriminative layers), not eq. (4.5.3);
* "MB" is MiB of float32 scalars (4 bytes, 2^20);
* scenario 3's memory columns correspond to C = 2 (the text says C = 10; its cost columns do use
  C = 10).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

BYTES_PER_FLOAT = 4
MB = 2**20  # the thesis' "MB" matches MiB


def cost_deep_nmf(r: int, n: int, m: int, T: int, K: int, C: int) -> int:
    """Eq. (4.5.1): ``r n [(K − C)(4mT + 1) + C(4m + 1)]``."""
    return r * n * ((K - C) * (4 * m * T + 1) + C * (4 * m + 1))


def memory_deep_nmf(r: int, m: int, T: int, C: int, include_denominators: bool = True) -> int:
    """Eq. (4.5.2): ``mTr + Cmr + {(C + 1) r}``."""
    return m * T * r + C * m * r + ((C + 1) * r if include_denominators else 0)


def cost_pad_nmf(r: int, n: int, m: int, T: int, K: int) -> int:
    """Eq. (4.5.3): ``r n K (4mT + 1)``."""
    return r * n * K * (4 * m * T + 1)


def memory_pad_nmf(r: int, m: int, T: int, C: int, include_denominators: bool = True) -> int:
    """Eq. (4.5.4): ``(C + 1) m T r + {(C + 1) r}``."""
    return (C + 1) * m * T * r + ((C + 1) * r if include_denominators else 0)


def cost_deep_nmfd(ranks: Sequence[int], n: int, m: int, K: int) -> int:
    """Eq. (4.5.5): ``K [J̄ n (m + J̄ − 1) + (J̄ + 1) m ((2n + 1) Σ r_j − Σ r_j² − n J̄)]``."""
    Jb = len(ranks)
    s1 = sum(ranks)
    s2 = sum(r * r for r in ranks)
    return K * (Jb * n * (m + Jb - 1) + (Jb + 1) * m * ((2 * n + 1) * s1 - s2 - n * Jb))


def cost_deep_nmfd_adjoint(ranks: Sequence[int], n: int, m: int, K: int) -> int:
    """K layers of (4.4.3) computed with one convolution and one adjoint per layer.

    Per layer, with P = m Σ_j Σ_{r<r_j} (n − r) (the products of W*H that do not hit the zero
    padding of the shifts; the adjoint Σ_r W(j)_rᵀ(←r Q) has the same P products):

    * W*H: P multiplications + (P − m n) additions (every output has at least one term);
    * Q = X ⊘ (W*H + ε): 2 m n;
    * adjoint: P multiplications + (P − J̄ n) additions;
    * H ∘ N ⊘ D (D precomputed, eq. 4.5.6's curly term): 2 J̄ n.

    Total ``K (4P + m n + J̄ n)``; compare eq. (4.5.5), which multiplies the convolution count by
    (J̄ + 1) (docs/nmfd.md). The ε-projection (J̄ n comparisons) is not counted, as in 4.5.
    """
    Jb = len(ranks)
    P = m * sum(n * r - r * (r - 1) // 2 for r in ranks)
    return K * (4 * P + m * n + Jb * n)


def memory_deep_nmfd(
    ranks: Sequence[int], m: int, C: int, include_denominators: bool = True
) -> int:
    """Eq. (4.5.6): ``(C + 1) m Σ r_j + {(C + 1) J̄}``."""
    return (C + 1) * m * sum(ranks) + ((C + 1) * len(ranks) if include_denominators else 0)


@dataclass(frozen=True)
class Scenario:
    """One column set of Table 4: |J_S| = I targets, |J_N| = J noises, r_j ≡ T, n = 2T."""

    name: str
    I: int  # noqa: E741  (thesis notation)
    J: int
    m: int
    T: int
    K: int
    C: int
    C_memory: int | None = None  # C used in the memory formulas when it differs (thesis table)

    @property
    def n(self) -> int:
        return 2 * self.T

    @property
    def ranks(self) -> list[int]:
        return [self.T] * (self.I + self.J)

    @property
    def r(self) -> int:
        return sum(self.ranks)


# The three scenarios exactly as the text of section 4.5 states them.
SCENARIOS: tuple[Scenario, ...] = (
    Scenario("Musical notes detection", I=88, J=12, m=2 * 88, T=3, K=10, C=5),
    Scenario("Natural phenomena monitoring", I=3, J=12, m=3 * 3, T=20, K=10, C=5),
    Scenario("Machine monitoring", I=6, J=6, m=3 * 6, T=6, K=40, C=10),
)

# Table 4 as printed: (C_PAD-NMF MFLOPS, C_Deep-NMFD MFLOPS, M_PAD-NMF MB, M_Deep-NMFD MB).
TABLE4_THESIS: tuple[tuple[float, float, float, float], ...] = (
    (25.94, 437.99, 3.71, 1.24),
    (45.48, 25.63, 1.24, 0.06),
    (11.85, 11.62, 0.09, 0.01),
)


def table4(variant: str = "printed") -> list[dict[str, Any]]:
    """Table 4 rows: MFLOPS (10⁶ flops) and MB (MiB of float32) for PAD-NMF and Deep-NMFD.

    variant : ``"printed"`` applies eq. (4.5.3)-(4.5.6) to the scenarios as the text states
        them; ``"thesis"`` uses the parameter choices that reproduce the printed table (module
        docstring).
    """
    if variant not in ("printed", "thesis"):
        raise ValueError(f"variant must be 'printed' or 'thesis', got {variant!r}")
    rows = []
    for sc in SCENARIOS:
        if variant == "thesis":
            sc = replace(sc, m=180 if sc.I == 88 else sc.m, C_memory=2 if sc.K == 40 else None)
        cm = sc.C if sc.C_memory is None else sc.C_memory
        if variant == "thesis":
            c_pad = cost_deep_nmf(sc.r, sc.n, sc.m, sc.T, sc.K, sc.C)
        else:
            c_pad = cost_pad_nmf(sc.r, sc.n, sc.m, sc.T, sc.K)
        rows.append(
            {
                "scenario": sc.name,
                "m": sc.m,
                "n": sc.n,
                "J_bar": sc.I + sc.J,
                "r": sc.r,
                "K": sc.K,
                "C": sc.C,
                "C_pad_mflops": c_pad / 1e6,
                "C_dnmfd_mflops": cost_deep_nmfd(sc.ranks, sc.n, sc.m, sc.K) / 1e6,
                "C_dnmfd_adjoint_mflops": cost_deep_nmfd_adjoint(sc.ranks, sc.n, sc.m, sc.K) / 1e6,
                "M_pad_mb": memory_pad_nmf(sc.r, sc.m, sc.T, cm) * BYTES_PER_FLOAT / MB,
                "M_dnmfd_mb": memory_deep_nmfd(sc.ranks, sc.m, cm) * BYTES_PER_FLOAT / MB,
            }
        )
    return rows


def format_table4(rows: list[dict[str, Any]], with_thesis: bool = True) -> str:
    """Plain-text Table 4 (optionally with the thesis' printed numbers in brackets)."""
    keys = ("C_pad_mflops", "C_dnmfd_mflops", "M_pad_mb", "M_dnmfd_mb")
    lines = [
        f"{'scenario':32s} {'C_PAD':>16s} {'C_DNMFD':>16s} {'M_PAD':>14s} {'M_DNMFD':>14s}"
        f" {'C_DNMFD adjoint':>16s}"
    ]
    for row, ref in zip(rows, TABLE4_THESIS, strict=True):
        cells = []
        for k, v in zip(keys, ref, strict=True):
            cells.append(f"{row[k]:8.2f} [{v:6.2f}]" if with_thesis else f"{row[k]:8.2f}")
        lines.append(
            f"{row['scenario']:32s} {cells[0]:>16s} {cells[1]:>16s} {cells[2]:>14s} {cells[3]:>14s}"
            f" {row['C_dnmfd_adjoint_mflops']:16.2f}"
        )

    unit = "MFLOPS / MiB of float32" + ("; thesis numbers in [brackets]" if with_thesis else "")
    unit += "; C_DNMFD adjoint: one convolution + one adjoint per layer (cost_deep_nmfd_adjoint)"
    lines.append(unit)
    return "\n".join(lines)
