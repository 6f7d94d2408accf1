"""``tinyunfold sweep``: Optuna studies of detector training configs on a tiny dataset folder,
a real SQLite database, real worker processes; the test split is never read."""

from __future__ import annotations

import shutil
import sys
import tomllib
from pathlib import Path

import optuna  # the [sweep] extra (make test installs it)
import pytest

from tinyunfold.cli import main
from tinyunfold.datasets import load_dataset
from tinyunfold.errors import TinyUnfoldError
from tinyunfold.kinds import load_model
from tinyunfold.pipelines import sweep
from tinyunfold.pipelines.detector_demo import make_dataset

BASE = """
[features]
n_fft = 128
hop = 128
[model]
n_layers = 20
n_discriminative = 3
context = 3
target_rank = 4
noise_rank = 3
alpha_s = 100.0
eps = 1e-12
n_epochs = 1
batch_size = 4
init_iter = 20
[detection]
threshold_rule = "max"
"""

SPACE = """
[model]
n_layers = {int = [10, 40], log = true}
alpha_h = {float = [1e-4, 1e-1], log = true}
[detection]
margin = {float = [1.0, 2.0]}
"""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two tone classes, 8 single hits (0 / -10 dB) and 4 no-hit mixtures per split."""
    return make_dataset(tmp_path_factory.mktemp("tiny") / "ds", snrs=(0.0, -10.0), n_nohit=4)


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    base, space = tmp_path / "base.toml", tmp_path / "space.toml"
    base.write_text(BASE)
    space.write_text(SPACE)
    return base, space


def _sweep(dataset: Path, base: Path, space: Path, out: Path, *extra: str) -> int:
    argv = ["sweep", "padnmf", "--dataset", str(dataset), "--config", str(base)]
    return main([*argv, "--space", str(space), "--out", str(out), "--folds", "2", *extra])


def _trials(out: Path, name: str = "padnmf-sweep") -> list:
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{out / 'study.db'}")
    return study.get_trials()


def _body(toml_text: str) -> str:
    """A best.toml without its comment header (which names the storage path)."""
    return "\n".join(ln for ln in toml_text.splitlines() if not ln.startswith("#"))


def test_sweep_writes_a_best_config_train_accepts_and_resumes(
    tmp_path: Path, dataset: Path, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base, space = files
    out = tmp_path / "sw"
    assert _sweep(dataset, base, space, out, "--trials", "2") == 0
    text = capsys.readouterr().out
    assert "0 trials so far" in text and "the test split is not read" in text
    assert text.count("\ntrial ") == 2 and "wrote" in text
    trials = _trials(out)
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    for t in trials:  # the objective is the pooled set-exact accuracy on the 12 held-out mixtures
        assert t.user_attrs["total"] == 12 and t.value == t.user_attrs["correct"] / 12
    best = max(trials, key=lambda t: (t.value, -t.number))

    cfg = tomllib.loads((out / "best.toml").read_text())
    assert set(cfg) == {"features", "model", "detection"}
    assert cfg["model"]["n_layers"] == best.params["model.n_layers"]
    assert cfg["model"]["alpha_h"] == best.params["model.alpha_h"]
    assert cfg["detection"]["margin"] == best.params["detection.margin"]
    assert cfg["detection"]["threshold_rule"] == "max" and cfg["model"]["n_epochs"] == 1

    # round trip: `train padnmf --config best.toml` trains exactly that config
    model = tmp_path / "best.tum"
    argv = ["train", "padnmf", "--dataset", str(dataset), "--config", str(out / "best.toml")]
    assert main([*argv, "--out", str(model), "--no-progress"]) == 0
    m = load_model(model, kind="padnmf")
    assert m.params["config"]["model"] == cfg["model"]
    assert m.params["config"]["detection"] == cfg["detection"]
    assert m.params["n_layers"] == best.params["model.n_layers"]
    capsys.readouterr()

    # rerunning the same command continues the study: new trials, new points
    assert _sweep(dataset, base, space, out, "--trials", "1") == 0
    text = capsys.readouterr().out
    assert "2 trials so far" in text and "1 trials added, 3 in the study" in text
    trials = _trials(out)
    assert len(trials) == 3 and trials[2].params != trials[0].params

    # a continued study must be scored the same way: other folds are refused in one line
    assert _sweep(dataset, base, space, out, "--trials", "1", "--seed", "1") == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "another fold_seed" in err and "--study-name" in err
    assert len(_trials(out)) == 3


def test_two_worker_processes_share_one_study(
    tmp_path: Path, dataset: Path, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base, space = files
    out = tmp_path / "sw"
    assert _sweep(dataset, base, space, out, "--trials", "2", "--jobs", "2") == 0
    assert "2 worker(s)" in capsys.readouterr().out
    trials = _trials(out)
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    workers = {t.user_attrs["worker"] for t in trials}
    assert len(workers) == 2, workers  # each process (host:pid) ran a trial
    assert all(w.split(":")[-1] != str(__import__("os").getpid()) for w in workers)
    assert trials[0].params != trials[1].params  # the workers sample different points


def _poison(src: Path, dst: Path) -> Path:
    """A copy of the dataset whose test split is unreadable and mislabelled."""
    shutil.copytree(src, dst)
    lines = (dst / "labels.csv").read_text().splitlines()
    head = lines[0].split(",")
    i_file, i_cls, i_split = head.index("file"), head.index("classes"), head.index("split")
    out = [lines[0]]
    for ln in lines[1:]:
        cells = ln.split(",")
        if cells[i_split] == "test":
            (dst / "mixtures" / cells[i_file]).write_bytes(b"not a wav file")
            cells[i_cls] = "poison"  # no such class
        out.append(",".join(cells))
    (dst / "labels.csv").write_text("\n".join(out) + "\n")
    return dst


def test_the_test_split_is_never_read(
    tmp_path: Path, dataset: Path, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base, space = files
    poisoned = _poison(dataset, tmp_path / "poisoned")
    with pytest.raises(TinyUnfoldError):  # the poison is fatal to any reader of the test split
        load_dataset(poisoned)
    assert len(load_dataset(dataset).mixtures) == 24
    train = load_dataset(poisoned, only_split="train").mixtures  # what the sweep reads
    assert len(train) == 12 and {m.split for m in train} == {"train"}
    runs = {}
    for name, ds in (("clean", dataset), ("poisoned", poisoned)):
        out = tmp_path / name
        assert _sweep(ds, base, space, out, "--trials", "2") == 0
        trials = _trials(out)
        runs[name] = (
            [(t.params, t.value, t.user_attrs["per_fold"]) for t in trials],
            _body((out / "best.toml").read_text()),
        )
    capsys.readouterr()
    assert runs["clean"] == runs["poisoned"]


BAD_SPACES = [
    ("[model]\nn_layer = {int = [10, 40]}\n", "did you mean 'n_layers'"),
    ("[model]\nn_layers = {int = [10, 40], lgo = true}\n", "did you mean 'log'"),
    ("[modle]\nn_layers = {int = [10, 40]}\n", "did you mean 'model'"),
    ("[model]\nn_layers = {int = [40, 10]}\n", "low 40 > high 10"),
    ("[model]\nn_layers = 40\n", "fixed values go into the base config"),
    ("[model]\nalpha_h = {float = [0.0, 1.0], log = true}\n", "log range needs low > 0"),
    ("[detection]\nthreshold_rule = {choice = []}\n", "non-empty list"),
    ("[model\n", "cannot read search space"),
    ("", "samples no key"),
]


@pytest.mark.parametrize(("text", "needle"), BAD_SPACES)
def test_bad_space_is_one_line_exit_2(
    tmp_path: Path,
    dataset: Path,
    files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    text: str,
    needle: str,
) -> None:
    base, space = files
    space.write_text(text)
    out = tmp_path / "sw"
    assert _sweep(dataset, base, space, out) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err and "fix:" in err
    assert needle in err, err
    assert not out.exists()  # refused before any study or training


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("study.db", "cannot open storage"),
        ("sqlite:////nonexistent/dir/x.db", "OperationalError"),
        ("postgresql://bob:s3cret@127.0.0.1:1/db", "driver"),  # no driver installed
    ],
)
def test_bad_storage_url_is_one_line_exit_2(
    tmp_path: Path,
    dataset: Path,
    files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    url: str,
    needle: str,
) -> None:
    base, space = files
    assert _sweep(dataset, base, space, tmp_path / "sw", "--storage", url) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and needle in err and "sqlite:///path/study.db" in err, err
    assert "s3cret" not in err


def test_missing_optuna_names_the_extra(
    tmp_path: Path,
    dataset: Path,
    files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` fails as if not installed
    base, space = files
    assert _sweep(dataset, base, space, tmp_path / "sw") == 3
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and 'pip install "tinyunfold[sweep]"' in err, err


def test_a_failing_config_fails_its_trial_only(
    tmp_path: Path, dataset: Path, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base, space = files
    space.write_text("[model]\nn_discriminative = {choice = [50, 2]}\n")  # C > K = 20 fails
    out = tmp_path / "sw"
    assert _sweep(dataset, base, space, out, "--trials", "3") == 0
    text = capsys.readouterr().out
    trials = _trials(out)
    drawn = [t.params["model.n_discriminative"] for t in trials]
    assert sorted(set(drawn)) == [2, 50]  # seed 0 draws both (2, 50, 2 with optuna 5.0)
    for t in trials:
        ok = t.params["model.n_discriminative"] == 2
        assert t.state.name == ("COMPLETE" if ok else "FAIL")
    assert "failed after" in text and "C <= K" in text
    assert tomllib.loads((out / "best.toml").read_text())["model"]["n_discriminative"] == 2

    # nothing trains at all: one line, exit 2, the first failure named
    space.write_text("[model]\nn_discriminative = {choice = [50]}\n")
    assert _sweep(dataset, base, space, tmp_path / "sw2", "--trials", "1") == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no complete trial" in err and "C <= K" in err, err


def test_folds_are_stratified_and_deterministic() -> None:
    labels = [[0]] * 4 + [[1]] * 4 + [[]] * 4 + [[0, 1]] * 2
    folds = sweep.make_folds(labels, 2, seed=3)
    assert sorted(i for f in folds for i in f) == list(range(len(labels)))
    for f in folds:  # each fold holds its share of every label set
        keys = [tuple(labels[i]) for i in f]
        assert keys.count((0,)) == 2 and keys.count((1,)) == 2 and keys.count(()) == 2
        assert keys.count((0, 1)) == 1
    assert folds == sweep.make_folds(labels, 2, seed=3) != sweep.make_folds(labels, 2, seed=4)
    with pytest.raises(TinyUnfoldError, match="folds"):
        sweep.make_folds(labels, 1, seed=0)


def test_config_toml_round_trips() -> None:
    cfg = {
        "features": {"n_fft": 128, "window": 'ha"n\\n\x7f', "log": False},
        "model": {"alpha_h": 1e-16, "eps": 0.1 + 0.2, "n_layers": 7, "big": float("inf")},
        "detection": {"fpr": 0.05, "ur_factor": "cv", "xs": [1, 2.5, "a"]},
    }
    assert tomllib.loads(sweep.config_toml(cfg, ["a comment"])) == cfg


def test_the_example_space_loads() -> None:
    path = Path(__file__).resolve().parents[2] / "examples" / "sweep" / "padnmf_space.toml"
    names = [p.name for p in sweep.load_space(str(path), "padnmf")]
    assert "model.n_layers" in names and "detection.threshold_rule" in names


def test_cross_validation_scores_the_readout(tmp_path: Path, dataset: Path) -> None:
    """``--decision readout`` scores the readout row of the held-out folds; without
    ``[detection] readout = true`` the detector has none: one clear error."""
    from tinyunfold import kinds
    from tinyunfold.datasets.prep import label_sets_of

    base = tmp_path / "base.toml"
    base.write_text(BASE)
    training = kinds.get("padnmf").require("training")
    ds = load_dataset(dataset, only_split="train")
    folds = sweep.make_folds(label_sets_of(ds.mixtures, ds.classes), 2, seed=0)
    cfg = training.load_config(str(base), ["detection.readout=true", "detection.readout_l2=0.01"])
    score = sweep.cross_validate(ds, "padnmf", cfg, folds, "readout")
    assert score.total == 12 and 0 <= score.correct <= 12
    with pytest.raises(TinyUnfoldError, match="readout = true"):
        sweep.cross_validate(ds, "padnmf", training.load_config(str(base), []), folds, "readout")
