"""``tinyunfold import <format>``: bring published networks into the ``.tum`` model format.

``import padnmf-mat`` reads the MATLAB files of the authors' PAD-NMF code (``NetParameters*.mat``,
``NetWeights*.mat``; e.g. the piano network of thesis 4.3.6 in ../shared/external/padnmf-piano/) and
writes a ``padnmf`` model. Optionally it fits the detection thresholds (eq. 4.3.32) and the
uncertainty-reduction matrix Â (4.3.36) on the training mixtures of ``TrainingSet*.mat`` (never on
test data), and evaluates on ``TestingSet*.mat`` with a labels CSV.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from tinyunfold.errors import TinyUnfoldError
from tinyunfold.pipelines.importers import (
    import_padnmf_mat,
    read_labels,
    read_mat_mixtures,
)

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
    m.add_argument(
        "--ur-authors",
        action="store_true",
        help="the uncertainty reduction as its authors use it: no-hit labels 1e-2, prior "
        "weight α (not α p), a class when Î_l > factor x max Î_l on the no-hit training "
        "mixtures, α and factor by 5-fold cross-validation on the training set "
        "(docs/padnmf.md); default: the thesis as printed (labels 0, α p, Î_l > 0.5)",
    )
    m.add_argument(
        "--tolerance",
        type=int,
        default=0,
        metavar="N",
        help="also report every decision rule (max, gm, fpr, UR) with exact labels and a "
        "±N-window tolerance on the test labels (consecutive windows; docs/padnmf.md)",
    )
    m.add_argument("--out", help="model file to write (.tum)")
    m.add_argument("--report", help="folder for the evaluation JSON and plots")
    m.set_defaults(func=_padnmf_mat)


# -------------------------------------------------------------------------------- .mat reading
def _padnmf_mat(args: argparse.Namespace) -> int:
    from tinyunfold.datasets.prep import label_sets
    from tinyunfold.detection import fit_detector
    from tinyunfold.pipelines.evaluation import (
        format_spectrogram_set_report,
        piano_report,
        spectrogram_set_report,
    )

    classes = args.classes.split(",") if args.classes else None
    est = import_padnmf_mat(args.params, args.weights, classes, args.eps)
    names = list(est.layout_.class_names)
    extra_p: dict[str, Any] = {}
    extra_a: dict[str, np.ndarray] = {}
    det = None
    if args.tolerance < 0:
        raise TinyUnfoldError(f"--tolerance must be >= 0, got {args.tolerance}", "use 0 or 1")
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
            ur_nohit_label=1e-2 if args.ur_authors else 0.0,
            ur_prior="alpha" if args.ur_authors else "alpha_p",
            ur_rule="nohit_max" if args.ur_authors else "fixed",
            ur_factor=None if args.ur_authors else 1.0,
        )
        extra_p["detection"] = det.to_params()
        extra_a.update(det.arrays())
        extra_p["n_frames"] = int(train[0].shape[1])  # the window length a device build needs
    if args.out:
        from tinyunfold.kinds import save_model

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
        if args.tolerance > 0:
            rules = spectrogram_set_report(H, labels, est.layout_, det, args.tolerance)
            print(format_spectrogram_set_report("every rule", rules))
            rep["json"]["all_rules"] = rules
        if args.report:
            out = Path(args.report)
            out.mkdir(parents=True, exist_ok=True)
            (out / "report.json").write_text(json.dumps(rep["json"], indent=1))
            print(f"wrote {out / 'report.json'}")
    return 0
