"""The report's two-hit accuracy per level gap (issue 11, "evaluation that says it plainly"): a
two-hit mixture whose hits' own SNRs are known (column ``snr_db_each``) is scored in the bin of
|SNR₁ − SNR₂|, with how often its louder and its quieter hit are reported."""

from __future__ import annotations

import numpy as np

from tinyunfold.datasets.io import Mixture
from tinyunfold.pipelines.evaluation import (
    format_gaps,
    format_table,
    hit_snrs,
    set_exact_scores,
)


def _mix(classes: tuple[str, ...], each: str | None, snr: float | None = None) -> Mixture:
    extra = {} if each is None else {"snr_db_each": each}
    return Mixture(name="x.wav", audio=np.zeros(4), classes=classes, snr_db=snr, extra=extra)


CLASSES = ["a", "b", "c"]


def _true(mixtures: list[Mixture]) -> list[list[int]]:
    return [[CLASSES.index(c) for c in m.classes] for m in mixtures]


def test_two_hits_are_scored_per_level_gap_with_the_louder_and_quieter_hit() -> None:
    mixtures = [
        _mix(("a", "b"), "20;-16"),  # gap 36: louder a, quieter b
        _mix(("a", "b"), "-16;20"),  # gap 36: louder b
        _mix(("b", "c"), "-4;8"),  # gap 12: louder c
        _mix(("a", "c"), "-40;-40"),  # gap 0: equal levels
        _mix(("a", "c"), "-28;-28"),  # gap 0
        _mix(("b", "c"), "8;-16"),  # gap 24
        _mix(("a", "b"), None),  # two hits, levels unknown: not in any bin
        _mix(("a", "b"), "3"),  # one value for two hits: malformed, not in any bin
        _mix(("a",), "8", 8.0),  # single hit: not a two-hit figure
        _mix((), None),
    ]
    pred = [[0], [1], [2], [2], [0, 2], [], [0, 1], [0, 1], [0], []]
    se = set_exact_scores(pred, mixtures, _true(mixtures), len(CLASSES))
    gaps = se["two_hit_by_gap"]
    assert list(gaps) == ["0-12", "12-24", "24-36", ">=36"]

    def counts(key: str) -> tuple[int, ...]:
        g = gaps[key]
        return tuple(g[f]["k"] for f in ("set_exact", "louder_reported", "quieter_reported")) + (
            g["set_exact"]["n"],
        )

    assert counts(">=36") == (0, 2, 0, 2)  # each reports its louder hit only
    assert counts("12-24") == (0, 1, 0, 1)
    assert counts("0-12") == (1, 2, 1, 2)  # equal levels: one of them reported, and both
    assert counts("24-36") == (0, 0, 0, 1)
    assert se["two_hit"]["n"] == 8  # every two-hit mixture still counts in the overall figure
    text = format_gaps(se)
    assert text is not None
    assert ">=36 dB 0.0% [0-66] of 2 (louder hit reported 100%, quieter 0%)" in text
    res = {
        "readout": {
            "rate": {},
            "hit_accuracy": 1.0,
            "false_positive_rate": 0.0,
            "n_nohit": 1,
            "two_hit": None,
            "set_exact": se,
        }
    }
    assert "two hits by level gap (|SNR1 - SNR2|): 0-12 dB" in format_table("m", res)


def test_no_level_gap_line_without_per_hit_snrs() -> None:
    mixtures = [_mix(("a", "b"), None), _mix(("a",), None, 0.0)]
    se = set_exact_scores([[0, 1], [0]], mixtures, _true(mixtures), len(CLASSES))
    assert se["two_hit_by_gap"] == {} and format_gaps(se) is None


def test_hit_snrs_reads_one_finite_number_per_class() -> None:
    assert hit_snrs(_mix(("a", "b"), "20;-16")) == (20.0, -16.0)
    assert hit_snrs(_mix(("a", "b"), " 1.5 ; 2 ")) == (1.5, 2.0)
    for bad in ("x;1", "1;nan", "1", "1;2;3", ""):
        assert hit_snrs(_mix(("a", "b"), bad)) is None
    assert hit_snrs(_mix(("a", "b"), None)) is None
