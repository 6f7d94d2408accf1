"""Dataset folders (tinyunfold.datasets.io): round trip and clear errors on malformed input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile

from tinyunfold.cli import main
from tinyunfold.datasets import Dataset, DatasetError, Mixture, load_dataset, write_dataset

FS = 8000


def _small(rng: np.random.Generator) -> Dataset:
    sig = lambda n=FS: rng.standard_normal(n) * 0.1  # noqa: E731
    t1, n1 = sig(), sig()
    mixtures = [
        Mixture("hit_a.wav", t1 + n1, ("a",), -6.5, (0.0,), target_stem=t1, noise_stem=n1,
                split="train", sources=("a/a0.wav",), extra={"note": "x"}),
        Mixture("two.wav", sig(), ("a", "b"), 3.0, (0.1, 0.55), target_stem=sig(), split="test"),
        Mixture("quiet", sig(), (), None, ()),
    ]  # fmt: skip
    return Dataset(
        sample_rate=FS,
        classes=["b", "a"],
        targets={"a": [sig(400), sig(500)], "b": [sig(300)]},
        noise=[sig(), sig(2 * FS)],
        mixtures=mixtures,
        target_files={"a": ["a0.wav", "a1.wav"], "b": ["b0.wav"]},
        meta={"origin": "test"},
    )


@pytest.fixture()
def written(tmp_path: Path) -> tuple[Dataset, Path]:
    ds = _small(np.random.default_rng(0))
    return ds, write_dataset(tmp_path / "ds", ds)


def test_round_trip(written: tuple[Dataset, Path]) -> None:
    ds, root = written
    assert sorted(p.name for p in root.iterdir()) == [
        "dataset.json", "labels.csv", "mixtures", "noise", "stems", "targets",
    ]  # fmt: skip
    back = load_dataset(root)
    assert back.sample_rate == FS
    assert back.classes == ["b", "a"]  # order kept through dataset.json
    assert back.meta["origin"] == "test"
    assert back.target_files == {"a": ["a0.wav", "a1.wav"], "b": ["b0.wav"]}
    for c in ds.classes:
        for x, y in zip(ds.targets[c], back.targets[c], strict=True):
            np.testing.assert_array_equal(y, x.astype(np.float32))  # float32 WAV
    assert [len(x) for x in back.noise] == [FS, 2 * FS]
    assert [m.name for m in back.mixtures] == ["hit_a.wav", "two.wav", "quiet.wav"]
    m0, m1, m2 = back.mixtures
    assert m0.classes == ("a",) and m0.snr_db == -6.5 and m0.onsets_s == (0.0,)
    assert m0.split == "train" and m0.sources == ("a/a0.wav",) and m0.extra == {"note": "x"}
    np.testing.assert_array_equal(m0.audio, ds.mixtures[0].audio.astype(np.float32))
    assert m0.target_stem is not None and m0.noise_stem is not None
    np.testing.assert_array_equal(m0.target_stem, ds.mixtures[0].target_stem.astype(np.float32))
    assert m1.classes == ("a", "b") and m1.onsets_s == (0.1, 0.55) and m1.noise_stem is None
    assert m2.classes == () and m2.snr_db is None and not m2.has_hit and m2.split == ""
    assert [m.name for m in back.no_hit()] == ["quiet.wav"]
    assert [m.name for m in back.with_class("b")] == ["two.wav"]
    assert [m.name for m in back.split("train")] == ["hit_a.wav"]
    assert load_dataset(root, load_stems=False).mixtures[0].target_stem is None
    with pytest.raises(DatasetError, match="not empty"):
        write_dataset(root, ds)
    write_dataset(root, ds, overwrite=True)


def test_integer_pcm_and_none_label(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    for sub in ("targets/knock", "noise", "mixtures"):
        (root / sub).mkdir(parents=True)
    pcm = (np.arange(-4, 4) * 4096).astype(np.int16)
    for f in ("targets/knock/k.wav", "noise/n.wav", "mixtures/m1.wav", "mixtures/m2.wav"):
        scipy.io.wavfile.write(root / f, 16000, pcm)
    (root / "labels.csv").write_text("file,classes\nm1.wav,knock\nm2.wav,NONE\n")
    (root / "targets" / ".ipynb_checkpoints").mkdir()  # hidden folders are not classes
    ds = load_dataset(root)
    assert ds.classes == ["knock"]
    np.testing.assert_array_equal(ds.noise[0], pcm / 32768.0)
    assert ds.mixtures[0].classes == ("knock",) and ds.mixtures[1].classes == ()
    assert ds.mixtures[0].snr_db is None and ds.mixtures[0].onsets_s == ()


def _edit_labels(root: Path, old: str, new: str) -> None:
    p = root / "labels.csv"
    text = p.read_text()
    assert old in text
    p.write_text(text.replace(old, new, 1))


BREAKAGES = [
    ("no labels", lambda r: (r / "labels.csv").unlink(), "no labels.csv"),
    ("no noise dir", lambda r: shutil.rmtree(r / "noise"), "no noise/ folder"),
    ("empty class", lambda r: [p.unlink() for p in (r / "targets" / "b").iterdir()], "no .wav"),
    ("no classes column", lambda r: _edit_labels(r, "file,classes", "file,klass"), "'classes'"),
    ("unknown class", lambda r: _edit_labels(r, "hit_a.wav,a", "hit_a.wav,zz"), "'zz'"),
    ("bad snr", lambda r: _edit_labels(r, "-6.5", "loud"), "snr_db"),
    ("onset count", lambda r: _edit_labels(r, "0.1;0.55", "0.1"), "1 onset"),
    ("onset outside", lambda r: _edit_labels(r, "0.1;0.55", "0.1;5"), "outside"),
    ("missing mixture", lambda r: (r / "mixtures" / "two.wav").unlink(), "does not exist"),
    ("unlisted mixture", lambda r: shutil.copy(r / "mixtures/two.wav", r / "mixtures/x.wav"),
     "without a row"),
    ("duplicate row", lambda r: _edit_labels(r, "quiet.wav", "two.wav"), "listed twice"),
    ("bad split", lambda r: _edit_labels(r, ",train,", ",valid,"), "split"),
    ("stem escapes", lambda r: _edit_labels(r, "stems/hit_a_target.wav", "../x.wav"), "'..'"),
    ("sample rate", lambda r: scipy.io.wavfile.write(r / "noise/noise_001.wav", 16000,
                                                     np.zeros(100, np.float32)), "sample rate"),
    ("stereo", lambda r: scipy.io.wavfile.write(r / "mixtures/two.wav", FS,
                                                np.zeros((FS, 2), np.float32)), "channels"),
    ("corrupt wav", lambda r: (r / "mixtures/two.wav").write_bytes(b"RIFF0000garbage"),
     "not a readable WAV"),
    ("stem length", lambda r: scipy.io.wavfile.write(r / "stems/hit_a_target.wav", FS,
                                                     np.zeros(10, np.float32)), "sample-aligned"),
    ("bad json", lambda r: (r / "dataset.json").write_text("{"), "not valid JSON"),
    ("short row", lambda r: _edit_labels(r, "quiet.wav,none,,,,,,", "quiet.wav"),
     "wrong number of fields"),
]  # fmt: skip


@pytest.mark.parametrize("name, breakage, word", BREAKAGES, ids=[b[0] for b in BREAKAGES])
def test_malformed_dataset_errors(written: tuple[Dataset, Path], name, breakage, word) -> None:
    _, root = written
    load_dataset(root)  # intact before
    breakage(root)
    with pytest.raises(DatasetError, match=word) as ei:
        load_dataset(root)
    assert ei.value.fix


def test_missing_folder_and_cli_info(written: tuple[Dataset, Path], capsys, tmp_path) -> None:
    _, root = written
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nope")
    assert main(["dataset", "info", str(root)]) == 0
    out = capsys.readouterr().out
    assert "classes: b, a" in out and "train: 1" in out and "test: 1" in out
    (root / "labels.csv").unlink()
    assert main(["dataset", "info", str(root)]) == 2
    assert "no labels.csv" in capsys.readouterr().err


def test_cli_plot_writes_png(written: tuple[Dataset, Path], tmp_path: Path) -> None:
    _, root = written
    png = tmp_path / "fig" / "d.png"
    assert main(["dataset", "plot", str(root), "--out", str(png), "--n-fft", "256"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dataset_check_lists_every_problem(
    written: tuple[Dataset, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Three unrelated problems in one folder: `dataset check` names all three, exit 1."""
    from tinyunfold.datasets.io import check_dataset

    _, root = written
    assert main(["dataset", "check", str(root)]) == 0
    assert "OK" in capsys.readouterr().out
    (root / "noise" / "bad.wav").write_bytes(b"not a wav")
    rows = (root / "labels.csv").read_text().splitlines()
    pad = "," * (rows[0].count(","))  # every column present, the rest empty
    rows.append("ghost.wav,none" + pad[1:])
    shutil.copy(root / "mixtures" / "two.wav", root / "mixtures" / "dup.wav")
    rows.append("dup.wav,nosuchclass" + pad[1:])
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    problems = check_dataset(root)
    assert any("bad.wav" in p for p in problems)
    assert any("ghost.wav does not exist" in p for p in problems)
    assert any("dup.wav" in p for p in problems)
    assert main(["dataset", "check", str(root)]) == 1
    out = capsys.readouterr().out
    assert out.count("problem: ") == len(problems) >= 3


def test_info_counts_stems_of_hit_mixtures_only(tmp_path: Path, capsys) -> None:
    """A silent stem on a no-hit mixture is not a 'hit mixture' (was: '3 of 2 hit mixtures')."""
    ds = _small(np.random.default_rng(0))
    ds.mixtures[2].target_stem = np.zeros_like(ds.mixtures[2].audio)
    root = write_dataset(tmp_path / "ds", ds)
    assert main(["dataset", "info", str(root)]) == 0
    out = capsys.readouterr().out
    assert "target stems: 2 of 2 hit mixtures (+ 1 no-hit mixtures with a silent stem)" in out
