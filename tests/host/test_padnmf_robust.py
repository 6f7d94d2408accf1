"""Robust dictionaries (issue 11): clean targets that start with 49 ms of silence, DC offsets and
different gains still give working atoms; degenerate detectors are reported at training time
and fail ``evaluate``. Dataset: a tiny mdof preset (dataset1 chain, 16 kHz, 0.5 s windows)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tinyunfold.cli import main
from tinyunfold.datasets import write_dataset
from tinyunfold.datasets.mdof import generate, preset_config
from tinyunfold.datasets.prep import gate_template
from tinyunfold.detection import DegenerateDetectorWarning, degeneracy_problems
from tinyunfold.models.padnmf import BlockLayout

pytest.importorskip("torch")

FS = 16000
SILENCE = int(0.049 * FS)  # 49 ms

CFG = """
[features]
n_fft = 512
hop = 512
[model]
n_layers = 60
n_discriminative = 3
context = 3
target_rank = 4
noise_rank = 4
alpha_s = 100.0
eps = 1e-12
n_epochs = 1
batch_size = 8
init_iter = 40
n_threads = 1
"""


@pytest.fixture(scope="module")
def silent_targets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dataset1 chain, two classes, every clean target WAV starts with 49 ms of zeros (the
    mixtures are unchanged: the hits start at the window start, as in the preset)."""
    cfg = preset_config(
        "dataset1",
        sample_rate=FS,
        snr_db=(-10.0, 0.0, 10.0),
        n_nohit_train=6,
        n_nohit_test=6,
        duration_s=0.5,
        settle_s=0.3,
        classes={"low": (3, 6), "high": (17, 21)},
    )
    ds = generate(replace(cfg, train_snr_rank=(0, 1, 2)))
    # every SNR in both splits: the first repetition trains, a second seed's mixtures test
    test = generate(replace(cfg, seed=1, train_snr_rank=()))
    for m in test.mixtures:
        m.split = "test"
        m.name = "t_" + m.name
    ds.mixtures = [m for m in ds.mixtures if m.split == "train"] + test.mixtures
    for c in ds.targets:
        ds.targets[c] = [np.concatenate([np.zeros(SILENCE), x[:-SILENCE]]) for x in ds.targets[c]]
    return write_dataset(tmp_path_factory.mktemp("silent") / "ds", ds)


def _bad_model_key(tmp: Path, ds: Path, line: str, capsys: pytest.CaptureFixture[str]) -> str:
    """Train with ``line`` added to [model] (and augment = 4); it must fail: its stderr."""
    cfg = tmp / "bad.toml"
    cfg.write_text(CFG.replace("[model]\n", f"[model]\naugment = 4\n{line}\n"))
    args = ["train", "padnmf", "--dataset", str(ds), "--config", str(cfg)]
    capsys.readouterr()
    assert main([*args, "--out", str(tmp / "bad.tum"), "--no-progress"]) != 0
    return str(capsys.readouterr().err)


def _train(tmp: Path, ds: Path, *sets: str) -> Path:
    cfg = tmp / "cfg.toml"
    cfg.write_text(CFG)
    out = tmp / "m.tum"
    args = ["train", "padnmf", "--dataset", str(ds), "--config", str(cfg), "--out", str(out)]
    for s in sets:
        args += ["--set", s]
    assert main([*args, "--no-progress"]) == 0
    return out


def test_gate_cuts_silence_and_dc() -> None:
    t = np.arange(400)
    hit = np.exp(-t / 50.0) * np.cos(0.5 * t)
    x = np.concatenate([np.zeros(100), hit, np.zeros(80)]) + 0.3
    y = gate_template(x, 40.0, 16)
    # the DC offset is gone and the first kept sample is the onset
    assert abs(y[0] - 1.0) < 1e-12 and y.size == 480
    assert gate_template(x, 0.0).size == x.size  # gate off: only the mean removed
    assert gate_template(np.zeros(10), 40.0, 16).size == 16


def test_degeneracy_problems_sees_eps_atoms() -> None:
    lay = BlockLayout(3, 1, (2, 2, 2), (0, 1), ("a", "b"))
    W = np.ones((3, 6))
    assert degeneracy_problems(W, lay, 1e-12, thresholds=np.array([1.0, 2.0])) == []
    W[:, 0] = 1e-12
    probs = degeneracy_problems(W, lay, 1e-12, thresholds=np.array([3.0, 3.0]))
    assert any("all-eps" in p and "class a" in p for p in probs)
    assert any("thresholds are equal" in p for p in probs)
    H = np.ones((2, 6, 4))
    H[0, 0, 1] = 1e13
    assert any("exploding" in p for p in degeneracy_problems(np.ones((3, 6)), lay, 1e-12, H=H))


def test_silent_templates_without_gate_are_flagged(
    tmp_path: Path, silent_targets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.warns(DegenerateDetectorWarning) as rec:
        model = _train(tmp_path, silent_targets, "model.template_gate_db=0")
    msgs = [str(w.message) for w in rec]
    assert any("all-eps" in m for m in msgs) and any("exploding" in m for m in msgs)
    assert "degenerate detector" in capsys.readouterr().err
    rep = tmp_path / "rep"
    args = ["evaluate", "--model", str(model), "--dataset", str(silent_targets), "--out", str(rep)]
    assert main([*args, "--no-plots"]) == 1
    assert "CHECK FAILED: padnmf: " in capsys.readouterr().out
    assert "all-eps" in (rep / "checks.txt").read_text()


def test_silent_templates_with_gate_work(
    tmp_path: Path, silent_targets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateDetectorWarning)
        model = _train(tmp_path, silent_targets)
    rep = tmp_path / "rep"
    args = ["evaluate", "--model", str(model), "--dataset", str(silent_targets), "--out", str(rep)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "CHECK FAILED" not in text and "set-exact" in text
    js = json.loads((rep / "report.json").read_text())
    se = js["methods"]["padnmf"]["scores"]["threshold"]["set_exact"]
    assert se["single_hit_per_snr"]["10"]["rate"] >= 0.75
    assert (rep / "confusion.png").stat().st_size > 0
    assert (rep / "reliability.png").stat().st_size > 0
    cal = js["methods"]["padnmf"]["calibration"]
    assert 0 <= cal["ece"] <= 1 and cal["brier"] < 0.25  # better than a constant 0.5


def test_evaluate_pure_test_folder(
    tmp_path: Path, silent_targets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The model's stored thresholds score a folder with no split=train row."""
    from tinyunfold.datasets import load_dataset

    ds = load_dataset(silent_targets)
    ds.mixtures = [m for m in ds.mixtures if m.split != "train"]
    for m in ds.mixtures:
        m.split = ""
    pure = write_dataset(tmp_path / "pure", ds)
    model = _train(tmp_path, silent_targets)
    capsys.readouterr()
    assert main(["evaluate", "--model", str(model), "--dataset", str(pure), "--no-plots"]) == 0
    text = capsys.readouterr().out
    assert "skipped" in text and "set-exact" in text


def test_augmented_mixtures_follow_the_dataset_definitions(silent_targets: Path) -> None:
    from tinyunfold.datasets import load_dataset
    from tinyunfold.datasets.prep import augment_mixtures

    ds = load_dataset(silent_targets)
    aug = augment_mixtures(ds, 60, seed=2, snr_db=(-10.0, 10.0), two_hit=0.3, no_hit=0.2)
    n_hits = [len(m.classes) for m in aug]
    assert len(aug) == 60 and {0, 1, 2} <= set(n_hits) and all(m.split == "train" for m in aug)
    for m in aug:
        assert len(m.audio) == len(ds.mixtures[0].audio)
        if len(m.classes) == 2:
            assert m.classes[0] != m.classes[1]
        if len(m.classes) == 1:  # SNR := ||s||^2 / ||n||^2 over the window, as the generator
            s = m.target_stem
            n = m.audio - s
            assert abs(10 * np.log10(s @ s / (n @ n)) - m.snr_db) < 1e-9
            assert -10 <= m.snr_db <= 10
        if m.classes:  # each hit's own SNR, as `dataset mdof` writes it (evaluate's level gaps)
            each = [float(v) for v in m.extra["snr_db_each"].split(";")]
            assert len(each) == len(m.classes) and all(-10 <= v <= 10 for v in each)
            if len(m.classes) == 1:
                assert each[0] == m.snr_db
        if not m.classes:
            assert m.target_stem is None and "snr_db_each" not in m.extra
    # each hit names its template as labels.csv does ("class/file"), and it is that template
    from tinyunfold.datasets.prep import gate_template

    fs = ds.sample_rate
    used = set()
    for m in augment_mixtures(ds, 60, seed=2, two_hit=0.0, no_hit=0.0, stretch=0.0):
        (c,), (src,) = m.classes, m.sources
        assert src.split("/")[0] == c
        g = gate_template(ds.targets[c][ds.target_files[c].index(src.split("/")[1])], 40.0)
        k0 = int(round(m.onsets_s[0] * fs))
        seg = m.target_stem[k0 : k0 + len(g)]
        g = g[: len(seg)]
        assert abs(seg @ g) / np.sqrt((seg @ seg) * (g @ g)) > 1 - 1e-9
        used.add(src)
    assert len(used) == sum(len(v) for v in ds.target_files.values()) > len(ds.classes)
    # deterministic given the seed, different for another seed
    again = augment_mixtures(ds, 60, seed=2, snr_db=(-10.0, 10.0), two_hit=0.3, no_hit=0.2)
    assert all(np.array_equal(a.audio, b.audio) for a, b in zip(aug, again, strict=True))
    other = augment_mixtures(ds, 60, seed=3, snr_db=(-10.0, 10.0), two_hit=0.3, no_hit=0.2)
    assert not np.array_equal(aug[0].audio, other[0].audio)
    # the test split is never used: poisoned test audio never reaches a synthetic mixture
    for m in ds.mixtures:
        if m.split != "train":
            m.audio = np.full_like(m.audio, np.nan)
    poisoned = augment_mixtures(ds, 60, seed=2, snr_db=(-10.0, 10.0), two_hit=0.3, no_hit=0.2)
    assert all(np.array_equal(a.audio, b.audio) for a, b in zip(aug, poisoned, strict=True))


def test_augmentation_gains_spread_the_level_and_keep_the_snr(
    silent_targets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`augment_gain_db`: every synthetic mixture (background, hits and stem) scaled by one gain
    in ±gain_db dB; the SNR labels stay exact; 0 draws nothing (the mixtures of before); a bad
    value of the [model] key is one line."""
    from tinyunfold.datasets import load_dataset
    from tinyunfold.datasets.prep import augment_mixtures

    ds = load_dataset(silent_targets)
    kw = dict(seed=2, snr_db=(-10.0, 10.0), two_hit=0.3, no_hit=0.2)
    plain = augment_mixtures(ds, 60, **kw)
    same = augment_mixtures(ds, 60, gain_db=0.0, **kw)
    assert all(np.array_equal(a.audio, b.audio) for a, b in zip(plain, same, strict=True))
    loud = augment_mixtures(ds, 60, gain_db=12.0, **kw)

    def background_db(ms: list) -> np.ndarray:
        out = []
        for m in ms:
            n = m.audio - (m.target_stem if m.target_stem is not None else 0.0)
            out.append(10 * np.log10(n @ n))
        return np.array(out)

    spread0, spread12 = np.ptp(background_db(plain)), np.ptp(background_db(loud))
    assert spread12 > spread0 + 10.0, (spread0, spread12)  # levels now span ~24 dB more
    for m in loud:
        if len(m.classes) == 1:
            s = m.target_stem
            n = m.audio - s
            assert abs(10 * np.log10(s @ s / (n @ n)) - m.snr_db) < 1e-9
    for bad, shown in (('"loud"', "'loud'"), ("-6.0", "-6.0")):
        err = _bad_model_key(tmp_path, silent_targets, f"augment_gain_db = {bad}", capsys)
        assert f"augment_gain_db = {shown} is not" in err and "Traceback" not in err


def test_noise_stretch_moves_the_resonances_of_noise_backgrounds(
    silent_targets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`augment_noise_stretch`: a noise/ recording that is one tone at f0 gives no-hit
    backgrounds whose tones spread over f0 / (1 ± stretch) (time-scaled like the hits); without
    it every background keeps f0; the no-hit training mixtures (the machine) stay as recorded."""
    from tinyunfold.datasets import load_dataset
    from tinyunfold.datasets.prep import augment_mixtures

    ds = load_dataset(silent_targets)
    fs, f0 = ds.sample_rate, 1000.0
    n_win = len(ds.mixtures[0].audio)  # a recording as long as the window (as the presets'):
    ds.noise = [np.sin(2 * np.pi * f0 * np.arange(n_win) / fs)]  # f < 1 reads past its end
    ds.mixtures = [m for m in ds.mixtures if m.has_hit or m.split != "train"]
    kw = dict(seed=2, no_hit=1.0, two_hit=0.0, stretch=0.03)

    def tones(ms: list) -> np.ndarray:
        out = []
        for m in ms:
            n = len(m.audio) * 8  # zero-padded: 0.25 Hz bins
            out.append(np.argmax(np.abs(np.fft.rfft(m.audio, n))) * fs / n)
        return np.array(out)

    plain = tones(augment_mixtures(ds, 40, **kw))
    assert np.all(np.abs(plain - f0) < 1.0)
    a1, b1 = augment_mixtures(ds, 40, **kw), augment_mixtures(ds, 40, noise_stretch=False, **kw)
    assert all(np.array_equal(a.audio, b.audio) for a, b in zip(a1, b1, strict=True))
    moved = tones(augment_mixtures(ds, 40, noise_stretch=True, **kw))
    assert np.all((moved > f0 / 1.03 - 1.0) & (moved < f0 / 0.97 + 1.0))
    assert np.ptp(moved) > 30.0 and np.mean(np.abs(moved - f0) > 5.0) > 0.5
    # the machine's own no-hit recordings are not stretched: with them as the only backgrounds
    # (noise files too short for a window) the option changes nothing
    ds2 = load_dataset(silent_targets)
    ds2.noise = [x[:10] for x in ds2.noise]
    ds2.mixtures.sort(key=lambda m: not m.has_hit)  # the window length: a hit mixture's
    for m in ds2.mixtures:
        if not m.has_hit:  # long enough to be stretched, were they cut like noise files
            m.audio = np.tile(m.audio, 3)
    a2 = augment_mixtures(ds2, 10, noise_stretch=True, **kw)
    b2 = augment_mixtures(ds2, 10, **kw)
    assert all(np.array_equal(a.audio, b.audio) for a, b in zip(a2, b2, strict=True))
    # a non-boolean value is one line
    err = _bad_model_key(tmp_path, silent_targets, "augment_noise_stretch = 1", capsys)
    assert "augment_noise_stretch must be true or false" in err


def test_warp_moves_each_resonance_by_its_own_amount(
    silent_targets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`augment_warp`: two decaying tones far apart each move by at most ±width, by different
    amounts (a time-scale would move both by one factor); width 0 changes nothing; in
    augment_mixtures the hits move, the SNR definition holds, warp = 0 gives the mixtures of
    before; a value outside [0, 0.5) is one line."""
    from tinyunfold.datasets import load_dataset
    from tinyunfold.datasets.prep import augment_mixtures, warp_resonances

    fs, n = 16000.0, 16000
    t = np.arange(n) / fs
    x = np.exp(-t / 0.2) * (np.sin(2 * np.pi * 300 * t) + np.sin(2 * np.pi * 5000 * t))

    def peaks(y: np.ndarray) -> np.ndarray:
        Y = np.abs(np.fft.rfft(y, 8 * n))  # 0.125 Hz bins
        nu = np.arange(len(Y)) * fs / (8 * n)
        return np.array([nu[np.argmax(np.where(abs(nu - f) < 100, Y, 0))] for f in (300, 5000)])

    rng = np.random.default_rng(0)
    assert np.allclose(warp_resonances(x, 0.0, rng, fs), x, atol=1e-12)
    rel = np.array([peaks(warp_resonances(x, 0.03, rng, fs)) / [300, 5000] - 1 for _ in range(40)])
    assert np.all(np.abs(rel) <= 0.03 + 1e-3)
    assert np.std(rel[:, 0]) > 0.005 and np.std(rel[:, 1]) > 0.005  # both move
    assert np.mean(np.abs(rel[:, 0] - rel[:, 1]) > 0.005) > 0.5  # each by its own amount

    ds = load_dataset(silent_targets)
    kw = dict(seed=4, no_hit=0.0, two_hit=0.0, stretch=0.0)
    a, b = augment_mixtures(ds, 12, **kw), augment_mixtures(ds, 12, warp=0.0, **kw)
    assert all(np.array_equal(p.audio, q.audio) for p, q in zip(a, b, strict=True))
    w = augment_mixtures(ds, 12, warp=0.05, **kw)
    assert (
        sum(not np.allclose(p.target_stem, q.target_stem) for p, q in zip(a, w, strict=True)) >= 10
    )
    for m in w:
        s, nz = m.target_stem, m.audio - m.target_stem
        assert abs(10 * np.log10(s @ s / (nz @ nz)) - m.snr_db) < 1e-9
    err = _bad_model_key(tmp_path, silent_targets, "augment_warp = 0.7", capsys)
    assert "augment_warp = 0.7 is not a fraction in [0, 0.5)" in err and "Traceback" not in err


def test_snr_margin_draws_hits_below_the_weakest_labelled_level(
    silent_targets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`augment_snr_margin_db`: the synthetic hits' SNRs are drawn from the margin below the
    weakest labelled SNR up to the loudest; 0 draws the mixtures of before; an explicit range
    is kept as given; the [model] key reaches the mixtures; a bad value is one line."""
    from tinyunfold.datasets import load_dataset
    from tinyunfold.datasets.prep import augment_mixtures
    from tinyunfold.training.padnmf import augment_options

    ds = load_dataset(silent_targets)
    labelled = [m.snr_db for m in ds.mixtures if m.snr_db is not None]
    lo, hi = min(labelled), max(labelled)
    kw = dict(seed=3, no_hit=0.0, two_hit=0.3)

    def each(ms: list) -> np.ndarray:
        return np.array([float(v) for m in ms for v in m.extra["snr_db_each"].split(";")])

    a, b = augment_mixtures(ds, 60, **kw), augment_mixtures(ds, 60, snr_margin_db=0.0, **kw)
    assert all(np.array_equal(p.audio, q.audio) for p, q in zip(a, b, strict=True))
    assert each(a).min() >= lo and each(a).max() <= hi
    wide = each(augment_mixtures(ds, 60, snr_margin_db=12.0, **kw))
    assert wide.min() >= lo - 12.0 and wide.max() <= hi
    assert np.mean(wide < lo) > 0.15  # 12 of the range's hi - lo + 12 dB lie below it
    given = each(augment_mixtures(ds, 30, snr_db=(-5.0, 5.0), snr_margin_db=12.0, **kw))
    assert given.min() >= -5.0 and given.max() <= 5.0
    opts = augment_options({"augment_snr_margin_db": 12}, {"gate_db": 40.0})
    assert opts["snr_margin_db"] == 12.0
    assert augment_options({}, {"gate_db": 40.0})["snr_margin_db"] == 0.0
    for bad in ("-3.0", "true"):
        err = _bad_model_key(tmp_path, silent_targets, f"augment_snr_margin_db = {bad}", capsys)
        assert f"augment_snr_margin_db = {bad.title() if bad == 'true' else bad}" in err
        assert "is not a number of dB >= 0" in err and "Traceback" not in err


def test_in_situ_hits_join_the_templates(
    silent_targets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    """`augment_in_situ_snr_db`: the clean hit of each single-hit training mixture labelled at or
    above the SNR joins its class's templates (the dataset itself unchanged), synthetic hits are
    then drawn from them too, and training passes that view to both augmentations; a value that
    is not a number is one line."""
    from tinyunfold.datasets import load_dataset
    from tinyunfold.datasets.prep import augment_mixtures, train_split, with_in_situ_targets
    from tinyunfold.training import padnmf as tp

    ds = load_dataset(silent_targets)
    before = {c: len(v) for c, v in ds.targets.items()}
    loud = [m for m in train_split(ds)[0] if len(m.classes) == 1 and m.snr_db >= 0.0]
    assert loud and any(len(m.classes) == 1 and m.snr_db < 0 for m in train_split(ds)[0])
    view = with_in_situ_targets(ds, 0.0)
    assert {c: len(v) for c, v in ds.targets.items()} == before  # not changed
    for c in ds.classes:
        mine = [m for m in loud if m.classes[0] == c]
        assert len(view.targets[c]) == before[c] + len(mine)
        assert view.target_files[c][before[c] :] == [m.name for m in mine]
        for x, m in zip(view.targets[c][before[c] :], mine, strict=True):
            assert np.array_equal(x, m.target_stem)
    assert {c: len(v) for c, v in with_in_situ_targets(ds, 1e9).targets.items()} == before
    srcs = [s for m in augment_mixtures(view, 60, seed=3, no_hit=0.0) for s in m.sources]
    names = {m.name for m in loud}
    assert any(s.split("/", 1)[1] in names for s in srcs)  # recorded hits are drawn
    assert any(s.split("/", 1)[1] not in names for s in srcs)  # and templates
    # training hands the view to the augmentation
    seen: list[int] = []
    real = tp.augment_mixtures

    def spy(d, n, **kw):  # type: ignore[no-untyped-def]
        seen.append(sum(len(v) for v in d.targets.values()))
        return real(d, n, **kw)

    monkeypatch.setattr(tp, "augment_mixtures", spy)
    sets = ["model.augment=4", "model.augment_in_situ_snr_db=0", 'detection.readout="sets"']
    _train(tmp_path, silent_targets, *sets, "detection.readout_augment=4")
    assert seen == [sum(before.values()) + len(loud)] * 2  # the network's and the readout's
    err = _bad_model_key(tmp_path, silent_targets, 'augment_in_situ_snr_db = "x"', capsys)
    assert "augment_in_situ_snr_db = 'x' is not a number of dB" in err


def test_synthetic_mixtures_name_the_recordings_they_are_made_of(
    silent_targets: Path, tmp_path: Path, monkeypatch
) -> None:
    """Each synthetic mixture records its two background pieces (``noise/<file>`` or a no-hit
    training mixture) and, with in-situ hits, the recordings whose hit it carries;
    ``built_from_recordings`` turns them into indices of the recorded training mixtures, and
    training hands them, for the network's and the readout's mixtures, to the readout's CV."""
    from tinyunfold.datasets import load_dataset
    from tinyunfold.datasets.prep import (
        augment_mixtures,
        built_from_recordings,
        train_split,
        with_in_situ_targets,
    )
    from tinyunfold.detection import Readout

    ds = load_dataset(silent_targets)
    rec = train_split(ds)[0]
    nohit = {m.name for m in rec if not m.has_hit}
    mixes = augment_mixtures(with_in_situ_targets(ds, 0.0), 80, seed=4)
    pieces = [m.extra["backgrounds"].split(";") for m in mixes]
    assert all(len(p) == 2 for p in pieces)
    assert {b for p in pieces for b in p} == nohit | {f"noise/{f}" for f in ds.noise_files}
    built = built_from_recordings(rec + mixes, rec)
    assert built[: len(rec)] == [[] for _ in rec]  # a recording is not made of another
    for m, b, p in zip(mixes, built[len(rec) :], pieces, strict=True):
        want = {
            q
            for q, r in enumerate(rec)
            if r.name in p or any(s.endswith("/" + r.name) for s in m.sources)
        }
        assert set(b) == want
    assert any(rec[q].has_hit for b in built for q in b)  # in-situ hits are named too
    # the names are the audio's: a no-hit mixture on two recorded pieces (window-long, so cut
    # whole) is a·r1 + b·r2 exactly
    by_name = {m.name: m.audio for m in rec}
    checked = 0
    for m, p in zip(mixes, pieces, strict=True):
        if not m.has_hit and all(b in by_name for b in p):
            A = np.stack([by_name[b] for b in p], 1)
            coef = np.linalg.lstsq(A, m.audio, rcond=None)[0]
            assert np.linalg.norm(A @ coef - m.audio) <= 1e-9 * np.linalg.norm(m.audio)
            checked += 1
    assert checked >= 3
    # training: the readout's CV receives one list per mixture it fits, recordings' empty
    seen: list[list[list[int]]] = []
    real = Readout.fit

    def spy(self, H, label_sets, *a, built_from=None, **kw):  # type: ignore[no-untyped-def]
        seen.append(built_from)
        return real(self, H, label_sets, *a, built_from=built_from, **kw)

    monkeypatch.setattr(Readout, "fit", spy)
    sets = ["model.augment=6", "model.augment_in_situ_snr_db=0", 'detection.readout="sets"']
    _train(tmp_path, silent_targets, *sets, "detection.readout_augment=5")
    (got,) = seen
    assert len(got) == len(rec) + 6 + 5 and got[: len(rec)] == [[] for _ in rec]
    assert all(b for b in got[len(rec) :])  # this seeded draw: each has a recorded piece
