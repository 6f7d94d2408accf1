"""The swimmer data set (thesis sections 3.2.2 and 3.3.2), built from scratch.

256 binary images of 20 x 11 pixels: a fixed torso (column 5) and four limbs (left/right arm,
left/right leg), each in one of 4 positions, every combination once (4⁴ = 256). Each limb
position is a 3-pixel segment next to the torso; the 16 limb segments are pairwise disjoint:

* arms (shoulder at row 6): up (vertical), 45° up, out (horizontal), 45° down;
* legs (hip at row 13): down (vertical), 45° down, out (horizontal), 45° up.

Left and right limbs are mirror images through the torso column, so "arm up", "arm out",
"leg down" and "leg out" are the same pattern on both sides up to a column shift, while the
diagonal positions are not: NMFD on the concatenated images needs 13 dictionaries (torso +
2 + 4 arm patterns + 2 + 4 leg patterns), NMF on the vectorised images rank 16 (+ torso, which is
in every image and merges into the limbs' atoms).

Our own drawing of the data set described by Donoho & Stodden [35]; pixel positions differ from
the original, the combinatorics (4 limbs x 4 positions, torso, 20 x 11) are the same.
"""

from __future__ import annotations

import itertools

import numpy as np

HEIGHT, WIDTH = 20, 11
TORSO_COL = 5
TORSO_ROWS = range(6, 14)  # rows 6..13
SHOULDER, HIP = 6, 13

# Left-limb pixels (row, col); the right limb mirrors the column around TORSO_COL.
_LEFT_ARM = {
    "up": [(5, 4), (4, 4), (3, 4)],
    "45up": [(4, 3), (3, 2), (2, 1)],
    "out": [(6, 4), (6, 3), (6, 2)],
    "45down": [(7, 3), (8, 2), (9, 1)],
}
_LEFT_LEG = {
    "down": [(14, 4), (15, 4), (16, 4)],
    "45down": [(14, 3), (15, 2), (16, 1)],
    "out": [(13, 4), (13, 3), (13, 2)],
    "45up": [(12, 3), (11, 2), (10, 1)],
}
LIMBS = ("left_arm", "right_arm", "left_leg", "right_leg")


def _mirror(pixels: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [(r, 2 * TORSO_COL - c) for r, c in pixels]


def limb_positions() -> dict[str, dict[str, list[tuple[int, int]]]]:
    """Pixel lists of every limb position: {limb: {position: [(row, col), ...]}}."""
    return {
        "left_arm": _LEFT_ARM,
        "right_arm": {k: _mirror(v) for k, v in _LEFT_ARM.items()},
        "left_leg": _LEFT_LEG,
        "right_leg": {k: _mirror(v) for k, v in _LEFT_LEG.items()},
    }


def swimmer_images() -> tuple[np.ndarray, np.ndarray]:
    """All 256 clean images (256, 20, 11) in {0, 1} and their limb-position codes (256, 4)."""
    pos = limb_positions()
    names = {limb: list(pos[limb]) for limb in LIMBS}
    images = np.zeros((256, HEIGHT, WIDTH))
    codes = np.zeros((256, 4), dtype=int)
    for i, combo in enumerate(itertools.product(range(4), repeat=4)):
        img = images[i]
        img[list(TORSO_ROWS), TORSO_COL] = 1.0
        for limb, p in zip(LIMBS, combo, strict=True):
            for r, c in pos[limb][names[limb][p]]:
                img[r, c] = 1.0
        codes[i] = combo
    return images, codes


def add_poisson_noise(X: np.ndarray, intensity: float, seed: int = 0) -> np.ndarray:
    """Poisson counts ``Poisson(intensity · X)``: the KL/Poisson model that ARD assumes."""
    rng = np.random.default_rng(seed)
    return rng.poisson(intensity * X).astype(float)


def swimmer_vectorised(intensity: float = 20.0, noise: bool = True, seed: int = 0) -> np.ndarray:
    """Data matrix for NMF: one vectorised image per column, (220, 256). Section 3.2.2.

    Pixels are ``intensity`` (on) or 0, with Poisson noise (counts) when ``noise``.
    """
    images, _ = swimmer_images()
    X = images.reshape(256, HEIGHT * WIDTH).T
    return add_poisson_noise(X, intensity, seed) if noise else intensity * X


def swimmer_concatenated(intensity: float = 20.0, noise: bool = True, seed: int = 0) -> np.ndarray:
    """Data matrix for NMFD: the images side by side, (20, 256·11). Section 3.3.2."""
    images, _ = swimmer_images()
    X = images.transpose(1, 0, 2).reshape(HEIGHT, 256 * WIDTH)
    return add_poisson_noise(X, intensity, seed) if noise else intensity * X


def distinct_patterns() -> dict[str, int]:
    """Number of distinct parts: NMF (vectorised) vs NMFD (up to a column shift)."""
    pos = limb_positions()
    shapes = set()
    for limb in LIMBS:
        for pix in pos[limb].values():
            c0 = min(c for _, c in pix)
            shapes.add(tuple(sorted((r, c - c0) for r, c in pix)))
    return {"nmf_limb_parts": 16, "nmfd_dictionaries": len(shapes) + 1}  # + torso


def pattern_templates() -> list[frozenset[tuple[int, int]]]:
    """The 13 NMFD parts as pixel sets (row, column offset), up to a column shift.

    Torso, the 6 distinct arm segments and the 6 distinct leg segments.
    """
    pos = limb_positions()
    out = {_normalise([(r, TORSO_COL) for r in TORSO_ROWS])}
    for limb in LIMBS:
        for pix in pos[limb].values():
            out.add(_normalise(pix))
    return sorted(out, key=sorted)


def _normalise(pix: list[tuple[int, int]] | set[tuple[int, int]]) -> frozenset[tuple[int, int]]:
    c0 = min(c for _, c in pix)
    return frozenset((r, c - c0) for r, c in pix)


def recovered_patterns(W: np.ndarray, keep: np.ndarray, rel: float = 0.2) -> list[int]:
    """Indices of :func:`pattern_templates` found as one whole dictionary of ``W`` (J, 20, R).

    A dictionary W(j) (rows = pixel rows, columns = consecutive image columns) matches a template
    when its support ``W(j) > rel · max W(j)`` equals the template's pixel set up to a shift.
    """
    templates = pattern_templates()
    found = set()
    for j in np.nonzero(keep)[0]:
        Wj = W[j]
        support = {(int(r), int(c)) for r, c in zip(*np.nonzero(Wj > rel * Wj.max()), strict=True)}
        if support:
            s = _normalise(support)
            if s in templates:
                found.add(templates.index(s))
    return sorted(found)
