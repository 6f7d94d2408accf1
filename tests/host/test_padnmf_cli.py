"""End to end on a tiny synthetic dataset folder: train padnmf/deepnmf, evaluate, detect."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import diagnostic_scripts
import numpy as np
import pytest

from tinyunfold.cli import main
from tinyunfold.kinds import load_model
from tinyunfold.pipelines.detector_demo import make_dataset

N = 2048  # 0.256 s windows (detector_demo.N)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two tone classes, 8 single hits (0 / -10 dB) and 3 no-hit mixtures per split."""
    return make_dataset(tmp_path_factory.mktemp("tiny") / "ds", snrs=(0.0, -10.0), n_nohit=3)


CFG = """
[features]
n_fft = 128
hop = 128
window = "hann"
[model]
n_layers = 40
n_discriminative = 3
context = 3
target_rank = 4
noise_rank = 3
alpha_s = 100.0
eps = 1e-12
n_epochs = 2
batch_size = 4
init_iter = 30
[detection]
threshold_rule = "max"
margin = 1.5
"""


@pytest.mark.parametrize("kind", ["padnmf", "deepnmf"])
def test_train_evaluate_detect(
    tmp_path: Path, dataset: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(CFG)
    out = tmp_path / "m.tum"
    assert (
        main(
            [
                "train",
                kind,
                "--dataset",
                str(dataset),
                "--config",
                str(cfg),
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    m = load_model(out, kind=kind)
    assert m.params["features"]["n_fft"] == 128 and m.params["window_samples"] == N
    assert m.array("W_disc").shape[0] == 2 and m.array("thresholds").shape == (2,)
    if kind == "padnmf":
        assert m.array("W_mask").shape == m.array("W_fixed").shape
        assert m.array("H_mask").shape == (m.array("W_fixed").shape[1], m.params["n_frames"])
    else:
        assert "W_mask" not in m.arrays and "H_mask" not in m.arrays
    hist = json.loads((tmp_path / "m.tum.loss.json").read_text())["loss"]
    assert len(hist) == 2 * 3 and (tmp_path / "m.tum.loss.png").stat().st_size > 0
    capsys.readouterr()

    rep = tmp_path / "rep"
    assert (
        main(["evaluate", "--model", str(out), "--dataset", str(dataset), "--out", str(rep)]) == 0
    )
    text = capsys.readouterr().out
    assert "KL-NMF fixed W, T context" in text and "KL-NMF fixed W, T=1" in text
    js = json.loads((rep / "report.json").read_text())
    scores = js["methods"][kind]["scores"]["threshold"]
    assert set(scores["rate"]) == {"low", "high"} and scores["n_nohit"] == 3
    assert (rep / "indices_vs_snr.png").stat().st_size > 0
    if kind == "padnmf":
        # the tones are easy: at 0 dB every hit of the test split is found
        assert all(scores["rate"][c]["0"] == 1.0 for c in ("low", "high"))

    wav = dataset / "mixtures" / "test_high_2600_0.wav"
    # the float64 research path: this tiny dataset's float WAVs exceed ±1, which the float32
    # device path clips to int16 PCM as a board's ADC would (tests/host/test_stream_golden.py)
    assert main(["detect", "--model", str(out), str(wav), "--json", "--float64"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res[0]["windows"][0]["start_s"] == 0.0
    assert set(res[0]["windows"][0]["indices"]) == {"low", "high"}
    conf = res[0]["windows"][0]["confidence"]  # calibrated probabilities, one per class
    assert set(conf) == {"low", "high"} and all(0.0 <= v <= 1.0 for v in conf.values())
    if kind == "padnmf":
        assert [h["class"] for h in res[0]["windows"][0]["hits"]] == ["high"]


def test_bad_config_key_is_a_clear_error(
    tmp_path: Path, dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("[model]\nn_layer = 3\n")
    rc = main(
        [
            "train",
            "padnmf",
            "--dataset",
            str(dataset),
            "--config",
            str(cfg),
            "--out",
            str(tmp_path / "x.tum"),
            "--no-progress",
        ]
    )
    assert rc != 0
    assert "unknown key" in capsys.readouterr().err


def test_bench_reports_every_method(tmp_path: Path, dataset: Path) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(CFG)
    out = tmp_path / "bench"
    argv = ["padnmf-bench", "--dataset", str(dataset), "--config", str(cfg), "--out", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert set(rep["methods"]) == {
        "padnmf",
        "deepnmf",
        "KL-NMF fixed W, T context",
        "KL-NMF fixed W, T=1",
    }
    timing = json.loads((out / "timing.json").read_text())
    speed = timing["speed"]
    assert speed["batch"] == 4 and speed["split_gradients_per_batch_s"] > 0
    assert load_model(out / "padnmf.tum").kind == "padnmf"
    assert load_model(out / "deepnmf.tum").kind == "deepnmf"


@pytest.mark.parametrize(("hop", "warned"), [(256, True), (128, False)])
def test_frames_that_skip_audio_are_named_at_training(
    tmp_path: Path, dataset: Path, hop: int, warned: bool
) -> None:
    """hop > n_fft leaves samples between frames unanalysed: `train` says so in one line."""
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(CFG.replace("hop = 128", f"hop = {hop}").replace("n_epochs = 2", "n_epochs = 1"))
    out = tmp_path / "m.tum"
    args = ["train", "padnmf", "--dataset", str(dataset), "--config", str(cfg), "--out", str(out)]
    r = subprocess.run(
        [sys.executable, "-m", "tinyunfold", *args, "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    err = [ln for ln in r.stderr.splitlines() if "front-end" in ln]
    if warned:
        assert err == [
            "tinyunfold: warning: the front-end frames see 50% of the audio (n_fft 128 < hop 256):"
            " a hit that starts between two frames is seen only by its tail; set features.n_fft"
            " = features.hop (docs/padnmf.md, 'Frames that skip audio')"
        ]
        assert "Traceback" not in r.stderr and "warnings.warn" not in r.stderr
    else:
        assert err == []


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["--sets", "--holdout", "4"],
        ["--sets", "--hidden", "4"],
        ["--energy", "--sets"],
        ["--energy", "--sets", "--orders-f0", "300", "600"],
        ["--energy", "--augment-gain-db", "6", "--test-gain-db", "0", "6"],
        ["--pool", "energy", "binmax", "maxmed", "--sets", "--by-source", "--in-situ"],
        ["--energy", "--sets", "--empty-bar", "0", "1e9", "--fpr-bar", "0.5"],
    ],
    ids=str,
)
def test_linear_probe_diagnostic_runs(dataset: Path, extra: list[str]) -> None:
    """examples/diagnostics/linear_probe.py (the docs' probe tables) runs and prints its rows."""
    r = diagnostic_scripts.run(
        "linear_probe", str(dataset), "--n-fft", "128", "--hop", "128", "--augment", "12",
        "--l2", "1e-3", *extra, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    if "--test-gain-db" in extra:  # one row per test level: gain, overall, FP-any
        head, *rows = r.stdout.splitlines()
        assert head.split() == ["gain", "dB", "overall", "FP-any"] and len(rows) == 2
        assert [float(row.split()[0]) for row in rows] == [0.0, 6.0]
        assert all(0.0 <= float(v) <= 100.0 for row in rows for v in row.split()[1:])
        return
    if "--empty-bar" in extra:  # a comment per stated rate, then one row per bar
        note, head, *rows = r.stdout.splitlines()
        assert note.startswith("# l2 0.001: bar ") and note.endswith(
            "training no-hit windows (5-fold)"
        )
        assert head.split()[:3] == ["l2", "bar", "overall"] and len(rows) == 3
        vals = [[float(v) for v in row.split()] for row in rows]
        assert [v[1] for v in vals[:2]] == [0.0, 1e9] and vals[2][1] == float(note.split()[4])
        assert vals[1][-1] == 100.0  # a bar that high calls every no-hit test window a hit
        assert vals[0][-1] < 100.0 and all(0.0 <= v[2] <= 100.0 for v in vals)  # overall
        return
    head, row = r.stdout.splitlines()
    assert head.split()[:2] == ["l2", "overall"] and head.split()[-2:] == ["2-hit", "FP-any"]
    vals = [float(v) for v in row.split()]
    assert vals[0] == 1e-3 and 0.0 <= vals[1] <= 100.0 and len(vals) == len(head.split())


def test_readout_l2_rules_diagnostic_runs(dataset: Path) -> None:
    """examples/diagnostics/readout_l2_rules.py (the docs' table of readout-weight rules): one
    row per weight, and each rule picks the best weight of its own column (ties: the larger)."""
    r = diagnostic_scripts.run(
        "readout_l2_rules", str(dataset), "--n-fft", "128", "--hop", "128", "--n-bands", "8",
        "--augment", "12", "--grid", "1e-3", "1e-1", "--noise-stretch", timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    head = lines[0].split()
    assert head[:2] == ["l2", "test"] and head[-4:] == ["cv-acc", "cv-ll", "rec-acc", "rec-ll"]
    rows = {float(v[0]): dict(zip(head[1:], map(float, v[1:]), strict=True))
            for v in (ln.split() for ln in lines[1:3])}  # fmt: skip
    assert sorted(rows) == [1e-3, 1e-1] and lines[3].startswith("rule")
    for ln, (key, by_loss) in zip(
        lines[4:], (("cv-acc", 0), ("cv-ll", 1), ("rec-acc", 0), ("rec-ll", 1)), strict=True
    ):
        *_, pick, test = ln.split()
        want = max(rows, key=lambda v: ((-rows[v][key] if by_loss else rows[v][key]), v))
        assert float(pick) == want and float(test) == pytest.approx(rows[want]["test"], abs=0.06)


def test_a_diverging_training_stops_with_one_line(
    tmp_path: Path,
    dataset: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Dictionaries that leave the finite range (over DICTIONARY_LIMIT, lowered here so this tiny
    set reaches it) stop the training with one line and nothing is written."""
    from tinyunfold.models import padnmf as padnmf_model

    cfg = tmp_path / "cfg.toml"
    cfg.write_text(CFG)
    out = tmp_path / "m.tum"
    args = ["train", "padnmf", "--dataset", str(dataset), "--config", str(cfg), "--out", str(out)]
    with monkeypatch.context() as mp:
        mp.setattr(padnmf_model, "DICTIONARY_LIMIT", 1e-3)
        assert main([*args, "--no-progress"]) == 2  # EXIT_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "training diverged in epoch 1: loss" in err[0]
    assert "largest dictionary entry" in err[0] and not out.exists()
    assert main([*args, "--no-progress"]) == 0 and out.exists()


@pytest.mark.parametrize(
    "path",
    sorted((Path(__file__).resolve().parents[2] / "examples" / "padnmf").glob("*.toml")),
    ids=lambda p: p.name,
)
def test_shipped_padnmf_configs_load(path: Path) -> None:
    """Every examples/padnmf/*.toml passes the config check of `train padnmf` (keys, sections)
    and tiles its frames (no front-end gap warning)."""
    from tinyunfold.features import SpectrogramParams
    from tinyunfold.training.padnmf import load_config

    cfg = load_config(str(path), [])
    assert cfg["model"] or cfg["features"]
    front = SpectrogramParams(sample_rate=48000, **cfg["features"])
    assert front.gap_warning() is None or path.name in {"d1_b48.toml", "dataset2-hard-full.toml"}


def _masking_module():  # type: ignore[no-untyped-def]
    """examples/diagnostics/masking.py imported as a module (it imports its neighbour)."""
    return diagnostic_scripts.load("masking")


def _masking(args: list[str]) -> list[str]:
    """The lines examples/diagnostics/masking.py prints for ``args`` (it must succeed)."""
    r = diagnostic_scripts.run("masking", *args, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def test_masking_diagnostic_runs(dataset: Path) -> None:
    """examples/diagnostics/masking.py (the docs' table "is the quieter hit still there"): one
    row per gap; two tones of equal level are told from one (the second hit is really added),
    at every column a fraction of the held-out windows."""
    head, *rows = _masking(
        [str(dataset), "--n-fft", "128", "--hop", "128"]
        + ["--n-bands", "8", "--gaps", "0", "6", "--n", "60", "--hidden", "4", "--l2", "1e-2"]
    )
    assert head.split() == [
        "gap_dB",
        "energy-linear",
        "energy-hidden4",
        "bins-linear",
        "bins-hidden4",
    ]
    vals = [[float(v) for v in row.split()] for row in rows]
    assert [v[0] for v in vals] == [0.0, 6.0]
    assert all(0.0 <= v <= 100.0 for row in vals for v in row[1:])
    assert vals[0][1] >= 80.0  # a second tone at the same level: plain in the band energies


def _tone_dataset(
    root: Path,
    test_singles: bool = False,
    snrs: tuple[float, float] = (0.0, -20.0),
    template_shift: float = 1.0,
    test_hum: float = 0.0,
) -> Path:
    """Three tone classes (600, 1500, 3000 Hz decays) in white noise; training mixtures at the
    two ``snrs`` and a no-hit one; test mixtures with two loud tones (and, with ``test_singles``, one
    tone at each training SNR and a no-hit one). ``template_shift``: the ``targets/`` tones
    ring at that multiple of the recorded ones (templates recorded on another unit).
    ``test_hum``: every test mixture's background also holds a 1500 Hz hum of that amplitude,
    where class b rings (a background the training recordings never had)."""
    import numpy as np

    from tinyunfold.datasets import Dataset, Mixture, write_dataset

    fs, n = 8000, 2048
    rng = np.random.default_rng(3)
    t = np.arange(n) / fs

    def hit(f0: float) -> np.ndarray:
        return np.exp(-t / 0.05) * np.sin(2 * np.pi * f0 * t + rng.uniform(0, 6))

    def noise(split: str = "train") -> np.ndarray:
        hum = test_hum * np.sin(2 * np.pi * 1500.0 * t) if split == "test" else 0.0
        return 0.1 * rng.normal(size=n) + hum

    classes = {"a": 600.0, "b": 1500.0, "c": 3000.0}
    mixtures = []
    for split in ("train", "test") if test_singles else ("train",):
        for c, f0 in classes.items():
            for snr in snrs:
                s, nz = hit(f0), noise(split)
                s *= np.sqrt(10 ** (snr / 10) * np.sum(nz**2) / np.sum(s**2))
                name = f"{split}_{c}_{int(-snr)}.wav"
                mixtures.append(Mixture(name, nz + s, (c,), snr, target_stem=s, split=split))
        mixtures.append(Mixture(f"{split}_none.wav", noise(split), split=split))
    for k, (c1, c2) in enumerate([("a", "b"), ("a", "c"), ("b", "c")] * 2):  # two loud hits
        x = noise("test") + hit(classes[c1]) + hit(classes[c2])
        mixtures.append(Mixture(f"two_{k}.wav", x, (c1, c2), None, split="test"))
    ds = Dataset(
        sample_rate=fs,
        classes=list(classes),
        targets={c: [hit(f0 * template_shift)] for c, f0 in classes.items()},
        noise=[noise()],
        mixtures=mixtures,
    )
    return write_dataset(root, ds)


def test_masking_diagnostic_names_the_pair_of_two_hits(tmp_path: Path) -> None:
    """masking.py --pairs (the docs' "told the count" table): three tone classes, two hits per
    window at SNRs of the dataset's grid; the pair is named far above chance when both hits are
    loud, and the table has one column per level gap of the grid and one for the dataset's own
    two-hit test mixtures."""
    root = _tone_dataset(tmp_path / "ds")
    grid, head, *rows = _masking(
        [str(root), "--n-fft", "128", "--hop", "128"]
        + ["--n-bands", "8", "--pairs", "300", "--l2", "1e-2"]
    )
    assert grid == "SNR grid (dB): -20 0; 3 pairs, chance 33%"
    cols = head.split()
    assert cols[:2] == ["classifier", "overall"]
    assert [c.split("(")[0] for c in cols[2:]] == ["gap0", "gap20", "test-two-hit"]
    assert sum(int(c.split("(")[1][:-1]) for c in cols[2:4]) == 150  # every held-out window
    assert cols[4] == "test-two-hit(6)"  # the dataset's own two-hit test mixtures
    vals = {row.split()[0]: [float(v) for v in row.split()[1:]] for row in rows}
    assert list(vals) == ["energy-linear", "bins-linear"]
    # the windows' labels name the tones they hold: far above chance (33%)
    assert vals["bins-linear"][0] >= 60.0 and vals["bins-linear"][1] >= 60.0
    assert vals["bins-linear"][3] >= 50.0  # two loud tones, recorded like the windows


def test_masking_diagnostic_sets_count_unknown(tmp_path: Path) -> None:
    """masking.py --sets (the docs' "count unknown" table): windows with no hit, one or two
    tones at the grid's SNRs, one classifier over the 7 label sets of 3 classes. The loud single
    tones and the pairs of loud tones are found; a bias on the pair logits can only move
    decisions towards pairs: two-hit accuracy never falls and single-hit accuracy never rises
    as it grows (held-out windows and the test split alike)."""
    root = _tone_dataset(tmp_path / "ds", test_singles=True, snrs=(0.0, -6.0))
    grid, head, *rows = _masking(
        [str(root), "--n-fft", "128", "--hop", "128"]
        + ["--n-bands", "8", "--sets", "600", "--l2", "1e-4", "1e-2", "--pair-bias", "0", "1", "3"]
    )
    assert grid == "SNR grid (dB): -6 0; 7 label sets; test split: 1 no-hit, 6 one hit, 6 two hits"
    assert head.split("|")[1].split()[-4:] == ["-6dB", "0dB", "two-hit", "FP-any"]
    vals = {}
    for row in rows:
        name, b, *held = row.split("|")[0].split()
        vals[name, float(b)] = [float(v) for v in held] + [
            float(v) for v in row.split("|")[1].split()
        ]
    assert list(vals) == [(f, b) for f in ("energy-linear", "bins-linear") for b in (0.0, 1.0, 3.0)]
    # columns: overall -6dB 0dB two-hit FP | test: overall -6dB 0dB two-hit FP
    bins = vals["bins-linear", 0.0]
    assert bins[2] >= 90.0 and bins[3] >= 60.0  # loud single tones, pairs of two (chance 1/7)
    assert bins[4] <= 20.0  # the windows without a tone are told from those with one
    assert bins[7] >= 50.0 and bins[8] >= 50.0  # the same on the recorded test mixtures
    for f in ("energy-linear", "bins-linear"):
        rows_f = [vals[f, b] for b in (0.0, 1.0, 3.0)]
        for lo, hi in itertools.pairwise(rows_f):
            assert hi[3] >= lo[3] and hi[8] >= lo[8]  # two-hit: held-out, test
            assert hi[1] <= lo[1] and hi[2] <= lo[2] and hi[7] <= lo[7]  # single hits
        assert rows_f[2][3] > rows_f[0][3] or rows_f[0][3] == 100.0


def test_masking_diagnostic_in_situ_templates(tmp_path: Path) -> None:
    """masking.py --in-situ: templates recorded on another unit (every tone 1.35x higher than
    on the monitored one) miss the recorded test tones; with the clean hits of the training
    mixtures joining the templates the loud test tones are found."""
    root = _tone_dataset(tmp_path / "ds", test_singles=True, snrs=(0.0, -6.0), template_shift=1.35)
    base = [str(root), "--n-fft", "128", "--hop", "128", "--n-bands", "8", "--sets", "600"]
    base += ["--features", "bins", "--l2", "1e-2", "--pair-bias", "0"]

    def test_split(extra: list[str]) -> list[float]:
        *_, row = _masking(base + extra)
        assert row.split()[:2] == ["bins-linear", "0"]
        return [float(v) for v in row.split("|")[1].split()]  # overall -6dB 0dB two-hit FP

    other_unit, own_hits = test_split([]), test_split(["--in-situ", "-10"])
    assert other_unit[2] <= 34.0  # 0 dB test tones: at most one of three
    assert own_hits[2] == 100.0 and own_hits[0] > other_unit[0]


def test_masking_diagnostic_own_hits_and_unseen_backgrounds(tmp_path: Path) -> None:
    """masking.py --own-hits: the templates of another unit (1.35x higher) are dropped and the
    unit's own completed hits alone find every loud test tone; --unseen-backgrounds: held-out
    windows on the test split's no-hit mixtures, whose hum (where class b rings) no training
    window had, show the false positives that the training windows' own backgrounds hide,
    with the same classifier (the test split's columns do not move)."""
    opts = ["--n-fft", "128", "--hop", "128", "--n-bands", "8", "--sets", "600", "--features"]
    opts += ["bins", "--l2", "1e-2", "--pair-bias", "0", "--in-situ", "-10", "--own-hits"]

    def row(root: Path, extra: list[str]) -> tuple[list[float], list[float]]:
        *_, line = _masking([str(root), *opts, *extra])
        assert line.split()[:2] == ["bins-linear", "0"]
        held, test = line.split("|")  # overall -6dB 0dB two-hit FP, each side
        return [float(v) for v in held.split()[2:]], [float(v) for v in test.split()]

    kw: dict = {"test_singles": True, "snrs": (0.0, -6.0), "template_shift": 1.35}
    _, test = row(_tone_dataset(tmp_path / "a", **kw), [])
    assert test[2] == 100.0  # the other unit's templates alone find at most one of three
    hum = _tone_dataset(tmp_path / "b", test_hum=0.3, **kw)
    (held, test), (unseen, test_u) = row(hum, []), row(hum, ["--unseen-backgrounds"])
    assert held[4] == 0.0 and unseen[4] >= 50.0
    assert test_u == test
    # the views themselves: only the unit's hits and recordings, then only unseen backgrounds
    import numpy as np

    from tinyunfold.datasets import load_dataset

    mod, ds = _masking_module(), load_dataset(hum)
    own = mod.own_hits_view(ds, -10.0)
    rec = [m for m in ds.mixtures if m.split == "train" and m.has_hit]
    assert sorted(f for v in own.target_files.values() for f in v) == sorted(m.name for m in rec)
    assert own.noise == [] and ds.noise != []
    minus = {m.name: m.audio for m in own.mixtures if m.name.endswith("-minus-stem")}
    for m in rec:
        assert np.array_equal(minus[f"{m.name}-minus-stem"], m.audio - m.target_stem)
    unseen_ds = mod.unseen_backgrounds_view(own)
    bgs = {m.name for m in unseen_ds.mixtures if not m.has_hit}
    assert bgs == {m.name for m in ds.mixtures if m.split == "test" and not m.has_hit}
    r = diagnostic_scripts.run("masking", str(hum), "--own-hits", timeout=60)
    assert r.returncode == 2 and "--own-hits and --unseen-backgrounds go with --sets" in r.stderr


def test_masking_diagnostic_completes_a_cut_off_hit() -> None:
    """complete_hit: a hit of three damped modes recorded for 0.4 s of its 1 s window and
    quantised to 16 bits is continued past the cut as the modes ring on, and its quantisation
    floor is not carried along; a zero tail misses all of it."""
    import numpy as np

    mod = _masking_module()
    fs, n, cut = 48_000, 48_000, 19_200
    t = np.arange(n) / fs
    modes = [(180.0, 0.6, 1.0), (1250.0, 0.3, 0.5), (5200.0, 0.15, 0.25)]  # Hz, decay s, amp
    true = np.sum([a * np.exp(-t / d) * np.sin(2 * np.pi * f * t + f) for f, d, a in modes], 0)
    rec = np.round(true[:cut] * 2000) / 2000  # a coarse quantiser: its floor is visible
    out = mod.complete_hit(rec, n)
    tail = slice(cut, n)
    err = np.linalg.norm(out[tail] - true[tail]) / np.linalg.norm(true[tail])
    assert err < 0.01
    assert np.linalg.norm(out[:cut] - true[:cut]) < 0.5 * np.linalg.norm(rec - true[:cut])


def test_masking_diagnostic_onsets_feature() -> None:
    """masking.py's ``onsets`` feature: each band's energy, its loudest frame and its largest
    rise from one frame to the next (where a second hit starts)."""
    import numpy as np

    mod = _masking_module()
    X = np.full((1, 2, 5), 1.0)
    X[0, 1, 3] = 20.0  # band 1 jumps at frame 3, then falls back
    F = mod.FEATURES["onsets"](X)
    assert F.shape == (1, 6)
    np.testing.assert_allclose(F[0, :2], np.log([5.0, 24.0]))  # ln sum_t X
    np.testing.assert_allclose(F[0, 2:4], np.log([1.001, 20.001]))  # ln(max_t X + 1e-3)
    np.testing.assert_allclose(F[0, 4:], [0.0, np.log(20.001 / 1.001)])  # largest rise


def test_masking_diagnostic_scores_a_models_readout(tmp_path: Path, dataset: Path) -> None:
    """masking.py --model: the detector's readout on synthetic two-hit mixtures, per level gap
    (the docs' "the same model on 1,000 further synthetic two-hit mixtures")."""
    from tinyunfold.pipelines.detector_demo import CONFIG

    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG + 'readout = "sets"\nreadout_input = "spectrum"\nreadout_l2 = 0.01\n')
    out = tmp_path / "m.tum"
    argv = ["train", "padnmf", "--dataset", str(dataset), "--config", str(cfg), "--out", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    first, second = _masking([str(dataset), "--model", str(out), "--two-hit", "40"])
    assert first.startswith("two hits (count unknown): ") and first.endswith("% of 40")
    assert second.startswith("two hits by level gap (|SNR1 - SNR2|): 0-12 dB ")
    counts = [int(x.split(" ")[0]) for x in second.split("] of ")[1:]]
    assert counts == [40]  # one bin: the SNRs lie in [-10, 0] dB, every gap < 12 dB


SCREEN_CFG = (
    CFG
    + """readout = "sets"
readout_input = "spectrum"
readout_excess = 10
readout_augment = 10
"""
)


def test_readout_screen_rebuilds_the_trained_readout(tmp_path: Path, dataset: Path) -> None:
    """examples/diagnostics/readout_screen.py: the readout it fits from a config without training
    a network is the trained model's, W and b to the bit; a count prior equal to the training
    mixtures' own shares leaves every decision as it is, another one moves them; the average of
    one weight's scores is that weight's readout; its rows print."""
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(SCREEN_CFG.replace("[model]", "[model]\naugment = 12\naugment_gain_db = 6.0"))
    out = tmp_path / "m.tum"
    assert main(["train", "padnmf", "--dataset", str(dataset), "--config", str(cfg),
                 "--out", str(out), "--no-progress"]) == 0  # fmt: skip
    from tinyunfold import kinds
    from tinyunfold.datasets.io import load_dataset
    from tinyunfold.detection import READOUT_L2_GRID
    from tinyunfold.training.padnmf import load_config

    model = load_model(str(out))
    trained = kinds.get(model.kind).require("detection")(model).detector.readout
    screen = diagnostic_scripts.load("readout_screen")
    conf = load_config(str(cfg), [])
    d = screen.readout_inputs(load_dataset(str(dataset)), conf)
    ro = screen.fit_readout(d, conf["detection"], conf["detection"].get("readout_l2", "cv"))
    np.testing.assert_array_equal(ro.W, trained.W)
    np.testing.assert_array_equal(ro.b, trained.b)
    z = ro.score(d["T"][:, :, None])
    sizes = np.array([len(s) for s in ro.sets])
    n = np.array([len(s) for s in d["labels"]])
    own = [float(np.mean(n == k)) for k in range(ro.max_hits + 1)]
    same = z + screen.count_bias(own, d["labels"], sizes)[None, :]
    assert same.argmax(1).tolist() == z.argmax(1).tolist()
    rare = z + screen.count_bias([1.0, 1e-8, 1e-8], d["labels"], sizes)[None, :]
    assert (rare.argmax(1) == 0).sum() > (z.argmax(1) == 0).sum()  # more windows called empty
    # its rows are the report's counts, two-hit windows included (the tiny set has none)
    toy = {"snr": [None, -10.0, 5.0, 5.0, -10.0], "n_classes": 2,
           "test_labels": [[], [0], [1], [0, 1], [1]]}  # fmt: skip
    got = screen.scores([[1], [0], [1], [1, 0], [0]], toy)
    assert got == [60.0, 50.0, 100.0, 100.0, 100.0]  # overall, -10 dB, 5 dB, two-hit, FP-any
    r = diagnostic_scripts.run(
        "readout_screen", str(dataset), "--config", str(cfg), "--cache", str(tmp_path / "c.npz"),
        "--count-prior", "recorded", "--excess-scale", "2", "--average-l2", "1e-3", "1e-2",
        timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    head, *rows = r.stdout.splitlines()
    assert head.split()[:2] == ["rule", "overall"] and head.split()[-2:] == ["2-hit", "FP-any"]
    cv = ["cv"] * len(READOUT_L2_GRID)  # the weight rule's held-out scores, one per weight
    assert [x.split()[0] for x in rows] == ["product", *cv, "count", "excess", "mean"]
    assert (tmp_path / "c.npz").exists()
    # --average-l2: one weight's average is that weight's readout, two weights' lies between
    dc = conf["detection"]
    z3, z2 = (screen.fit_readout(d, dc, lam).score(d["T"][:, :, None]) for lam in (1e-3, 1e-2))
    np.testing.assert_array_equal(screen.averaged_scores(d, dc, [1e-3]), z3)
    np.testing.assert_allclose(screen.averaged_scores(d, dc, [1e-3, 1e-2]), (z3 + z2) / 2)
    assert not np.allclose(z3, z2)
