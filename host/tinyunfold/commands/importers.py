"""``tinyunfold import <format>``: bring published networks into the ``.tum`` model format.

``import padnmf-mat`` reads the MATLAB files of the authors' PAD-NMF code (``NetParameters*.mat``,
``NetWeights*.mat``; e.g. the piano network of thesis 4.3.6 in ../shared/external/padnmf-piano/) and
writes a ``padnmf`` model. Optionally it fits the detection thresholds (eq. 4.3.32) and the
uncertainty-reduction matrix Â (4.3.36) on the training mixtures of ``TrainingSet*.mat`` (never on
test data), and evaluates on ``TestingSet*.mat`` with a labels CSV.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from tinyunfold.errors import ModelFileError, ShapeError, TinyUnfoldError
from tinyunfold.models.padnmf import PADNMF, BlockLayout, w_mask

EPILOG = """\
example (the published piano network, thesis 4.3.6):
  D=../shared/external/padnmf-piano
  tinyunfold import padnmf-mat --params $D/NetParameters_ARM.mat --weights $D/NetWeights_ARM.mat \\
      --classes C4,E4,G4 --training-set $D/TrainingSetPiano_ARM.mat \\
      --train-labels $D/train_labels.csv --out piano.tum
  tinyunfold import padnmf-mat ... --test-set $D/TestingSetPiano_ARM.mat \\
      --test-labels $D/test_labels.csv --report piano_report/     # TP/FN/TN/FP per note

The forward pass is the authors' one: H0 = 1, K-C layers with W{1}, then one layer with each of
W{2..C}; W{C+1} (= W{1}) is the reconstruction dictionary. The .mat files carry no front-end
parameters (the spectrograms are precomputed), so the model cannot run on .wav files.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="import published networks (PAD-NMF .mat files)")
    isub = p.add_subparsers(dest="format", metavar="<format>", required=True)
    m = isub.add_parser(
        "padnmf-mat",
        help="PAD-NMF network from NetParameters*.mat + NetWeights*.mat",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    m.add_argument("--params", required=True, help="NetParameters*.mat (struct NetParameters)")
    m.add_argument("--weights", required=True, help="NetWeights*.mat (cell NetWeights)")
    m.add_argument(
        "--classes",
        help="comma-separated names of the target blocks' classes, in "
        "block order (default: class0,class1,...)",
    )
    m.add_argument("--eps", type=float, default=1e-16, help="ε of the projection (3.2.38)")
    m.add_argument("--training-set", help="TrainingSet*.mat: fit thresholds and Â on it")
    m.add_argument("--train-labels", help="CSV 'mixture,label' for the training set")
    m.add_argument("--test-set", help="TestingSet*.mat: evaluate the detector on it")
    m.add_argument("--test-labels", help="CSV 'mixture,label' for the test set")
    m.add_argument(
        "--threshold-rule",
        choices=("max", "gm"),
        default="max",
        help="τ_l from the no-hit training mixtures: max (thesis 4.3.6) or geometric mean (4.3.5)",
    )
    m.add_argument(
        "--no-shift",
        action="store_true",
        help="use only the main diagonals (hits at the window start); default scans "
        "every off-diagonal (time-shifted variant of 4.3.6)",
    )
    m.add_argument("--ur-alpha", type=float, default=0.1, help="α of the ℓp prior (4.3.37)")
    m.add_argument("--ur-p", type=float, default=0.25, help="p of the ℓp prior (4.3.38)")
    m.add_argument(
        "--ur-beta",
        type=float,
        default=0.0,
        choices=(0.0, 1.0, 2.0),
        help="β of the stored uncertainty-reduction model (Table 3: 0 = Gamma)",
    )
    m.add_argument("--out", help="model file to write (.tum)")
    m.add_argument("--report", help="folder for the evaluation JSON and plots")
    m.set_defaults(func=_padnmf_mat)


# -------------------------------------------------------------------------------- .mat reading
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


def _padnmf_mat(args: argparse.Namespace) -> int:
    from tinyunfold.detection import fit_detector
    from tinyunfold.evaluation import label_sets, piano_report

    classes = args.classes.split(",") if args.classes else None
    est = import_padnmf_mat(args.params, args.weights, classes, args.eps)
    names = list(est.layout_.class_names)
    extra_p: dict[str, Any] = {}
    extra_a: dict[str, np.ndarray] = {}
    det = None
    if args.training_set:
        if not args.train_labels:
            raise TinyUnfoldError("--training-set needs --train-labels")
        train = read_mat_mixtures(args.training_set, "TrainingSet")
        tl = read_labels(args.train_labels, len(train))
        print(f"forward pass of {len(train)} training mixtures ...")
        H = est.transform(train)
        det = fit_detector(
            H,
            label_sets(tl, names),
            est.layout_,
            shifted=not args.no_shift,
            rule=args.threshold_rule,
            ur_beta=args.ur_beta,
            ur_alpha=args.ur_alpha,
            ur_p=args.ur_p,
        )
        extra_p["detection"] = det.to_params()
        extra_a.update(det.arrays())
        extra_p["n_frames"] = int(train[0].shape[1])  # the window length a device build needs
    if args.out:
        from tinyunfold.modelfile import save_model

        save_model(args.out, est.to_modelfile(extra_p, extra_a))
        print(f"wrote {args.out}")
    if args.test_set:
        if det is None or not args.test_labels:
            raise TinyUnfoldError(
                "--test-set needs --training-set/--train-labels and --test-labels"
            )
        test = read_mat_mixtures(args.test_set, "TestingSet")
        labels = read_labels(args.test_labels, len(test))
        print(f"forward pass of {len(test)} test mixtures ...")
        H = est.transform(test)
        rep = piano_report(H, labels, est.layout_, det, train_H=None)
        print(rep["text"])
        if args.report:
            out = Path(args.report)
            out.mkdir(parents=True, exist_ok=True)
            (out / "report.json").write_text(json.dumps(rep["json"], indent=1))
            print(f"wrote {out / 'report.json'}")
    return 0
