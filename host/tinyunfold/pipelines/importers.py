"""Import of published PAD-NMF networks (the authors' MATLAB files) into ``.tum`` models.

``NetParameters*.mat`` / ``NetWeights*.mat`` hold the network of thesis 4.3.6; ``TrainingSet*.mat``
/ ``TestingSet*.mat`` the precomputed spectrogram windows; label CSVs one class set per window.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from tinyunfold.errors import ModelFileError, ShapeError, TinyUnfoldError
from tinyunfold.models.padnmf import PADNMF, BlockLayout, w_mask


def _scalar(v: Any) -> Any:
    a = np.asarray(v)
    while a.dtype == object and a.size == 1:
        a = np.asarray(a.ravel()[0])
    return a.ravel()[0] if a.size == 1 else a


def read_net_parameters(path: str | Path) -> dict[str, Any]:
    """NetParameters struct -> plain dict (Layers, DiscriminativeLayers, Ranks, ...)."""
    import scipy.io as sio

    try:
        mat = sio.loadmat(str(path))
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"cannot read {path}: {exc}", "pass NetParameters*.mat") from None
    if "NetParameters" not in mat:
        raise ModelFileError(f"{path} has no variable NetParameters", "pass NetParameters*.mat")
    st = mat["NetParameters"][0, 0]
    out: dict[str, Any] = {}
    for name in st.dtype.names:
        v = st[name]
        if name == "InitializationRanks":
            out[name] = [np.asarray(c).ravel().astype(int).tolist() for c in np.asarray(v).ravel()]
        elif name == "Ranks":
            out[name] = np.asarray(v).ravel().astype(int).tolist()
        else:
            s = _scalar(v)
            out[name] = (
                s.item() if isinstance(s, np.generic) else (str(s) if isinstance(s, str) else s)
            )
    return out


def read_cell(path: str | Path, name: str) -> np.ndarray:
    import scipy.io as sio

    try:
        mat = sio.loadmat(str(path))
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"cannot read {path}: {exc}") from None
    if name not in mat:
        raise ModelFileError(f"{path} has no variable {name}")
    return mat[name]


def import_padnmf_mat(
    params_path: str | Path,
    weights_path: str | Path,
    classes: list[str] | None = None,
    eps: float = 1e-16,
) -> PADNMF:
    """Build a :class:`PADNMF` from the authors' .mat network files (see module docstring)."""
    P = read_net_parameters(params_path)
    K, C, T = int(P["Layers"]), int(P["DiscriminativeLayers"]), int(P["ContextFrames"])
    init_ranks = P.get("InitializationRanks") or [[r] for r in P["Ranks"]]
    if len(init_ranks) != 2:
        raise ModelFileError(f"expected 2 sources (target, noise), got {len(init_ranks)}")
    t_ranks, n_ranks = init_ranks
    cell = read_cell(weights_path, "NetWeights").ravel()
    Ws = [np.asarray(w, dtype=np.float64) for w in cell]
    if len(Ws) != C + 1:
        raise ModelFileError(f"{weights_path}: {len(Ws)} weight matrices, expected C+1 = {C + 1}")
    m, r = Ws[0].shape
    if r != sum(t_ranks) + sum(n_ranks) or m % T:
        raise ShapeError(f"weights {Ws[0].shape} do not fit ranks {init_ranks} and T={T}")
    if np.max(np.abs(Ws[-1] - Ws[0])) > 0:
        raise ModelFileError(
            "the reconstruction dictionary W{C+1} differs from W{1}",
            "this format stores W^(K) = Ŵ; such a network is not supported",
        )
    names = classes or [f"class{i}" for i in range(len(t_ranks))]
    if len(names) != len(t_ranks):
        raise ShapeError(f"{len(names)} class names for {len(t_ranks)} target blocks")
    lay = BlockLayout(
        m // T, T, tuple(t_ranks) + tuple(n_ranks), tuple(range(len(t_ranks))), tuple(names)
    )
    MW = w_mask(lay)
    w_masked = all(float(np.abs(W * (1 - MW)).max()) == 0.0 for W in Ws)
    causal = str(P.get("ForwardAndBackPropagation", "")) != "NoCausalityPreserving"
    est = PADNMF(
        kind="padnmf",
        n_layers=K,
        n_discriminative=C,
        context=T,
        alpha_h=float(P.get("SparsePenalty", 0.0)),
        alpha_s=0.0,
        eps=eps,
        use_h_mask=causal,
    )
    est.layout_ = lay
    est.W_fixed_ = Ws[0]
    est.W_disc_ = Ws[1:C]
    est.features_ = None
    est.loss_history_ = []
    if not w_masked:
        raise ModelFileError("the imported dictionaries do not respect the Hankel W mask (4.3.8)")
    return est


def read_mat_mixtures(path: str | Path, name: str) -> list[np.ndarray]:
    """Row 1 of a TrainingSet/TestingSet cell: the mixture spectrograms (m' x n)."""
    cell = read_cell(path, name)
    return [np.asarray(cell[0, i], dtype=np.float64) for i in range(cell.shape[1])]


def read_mat_targets(path: str | Path, name: str) -> list[np.ndarray]:
    """Row 2 of a TrainingSet cell: the clean target spectrogram S̃_q of each mixture (the loss's
    target, 4.3.20), the first entry of each 1 x 2 cell {S, X}. Refused with one line when the
    set has no second row (a TestingSet) or the cells do not hold (m', n) matrices."""
    cell = read_cell(path, name)
    fix = f"pass a {name}*.mat whose second row holds {{S, X}} per mixture (the authors' format)"
    if cell.ndim != 2 or cell.shape[0] < 2:
        raise ModelFileError(
            f"{path}: {name} has no row of clean targets (shape {cell.shape})", fix
        )
    out = []
    for i in range(cell.shape[1]):
        inner = np.asarray(cell[1, i])
        first = inner.ravel()[0] if inner.dtype == object and inner.size else inner
        try:
            S = np.asarray(first, dtype=np.float64)
        except (TypeError, ValueError):
            raise ModelFileError(f"{path}: {name}{{2,{i + 1}}} is not numeric", fix) from None
        if S.ndim != 2:
            raise ModelFileError(f"{path}: {name}{{2,{i + 1}}} has shape {S.shape}", fix)
        out.append(S)
    return out


def read_labels(path: str | Path, n: int | None = None) -> list[str]:
    """CSV 'mixture,label' -> labels by 0-based mixture index."""
    fix = "write a UTF-8 CSV with a header line mixture,label and one short row per mixture"
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise TinyUnfoldError(f"{path}: not a readable CSV ({exc})", fix) from None
    if not rows or not {"mixture", "label"} <= set(rows[0]):
        raise TinyUnfoldError(f"{path}: expected a CSV with columns mixture,label", fix)
    try:
        out = {int(r["mixture"]): r["label"].strip() for r in rows}
    except (TypeError, ValueError, AttributeError) as exc:
        raise TinyUnfoldError(f"{path}: malformed row ({exc})", fix) from None
    count = len(out) if n is None else n
    if sorted(out) != list(range(count)):
        raise TinyUnfoldError(f"{path}: labels must cover mixtures 0..{count - 1}")
    return [out[i] for i in range(count)]
