"""``[detection] readout_excess``: the readout also reads each feature's excess over the no-hit
training mixtures in their standard deviations, clipped (detection.excess_features): the
features and the background statistics, a weak hit over a steady band found where the levels
alone miss it, the CV's held-out folds scored with their own fold's statistics, model-file round
trip and hostile files, the float32 golden in C order and the config key."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from test_readout_spectrum import LAY, POOL, N, _exact  # the same layout: m' = 4 bands

from tinyunfold.detection import (
    EXCESS_SD_MIN,
    Detector,
    background_stats,
    excess_features,
    fit_detector,
    fit_detector_from_config,
    readout_excess_value,
    readout_features,
)
from tinyunfold.errors import ModelFileError, TinyUnfoldError
from tinyunfold.golden import detect as gd
from tinyunfold.golden.mathf import logf


def _toy(seed: int, Q: int = 140, weak: bool = False):
    """(H, X̃, label sets): bands 0-2 steady (a recorder's floor, ±2%), band 3 an engine whose
    level spans 40 dB between windows. A hit of class c adds its amplitude to band c and 30 times
    it to band 3 (buried there); amplitudes over 35 dB, or only weak ones (``weak``: 6-20% of
    the steady band)."""
    rng = np.random.default_rng(seed)
    ls = [POOL[q % len(POOL)] for q in range(Q)]
    H = rng.uniform(0.5, 1.5, (Q, LAY.rank, N))
    X = np.empty((Q, LAY.n_bins, N))
    X[:, :3] = rng.uniform(0.98, 1.02, (Q, 3, N))
    X[:, 3] = 10 ** rng.uniform(-1, 3, (Q, 1)) * rng.uniform(0.5, 1.5, (Q, N))
    for q, s in enumerate(ls):
        for c in s:
            a = 10 ** rng.uniform(-1.3, -0.7) if weak else 10 ** rng.uniform(-1.3, 2)
            X[q, c] += a
            X[q, 3] += 30.0 * a
    return H, X, ls


def _fit(excess: float, mode: bool | str = "sets") -> Detector:
    H, X, ls = _toy(0)
    return fit_detector(H, ls, LAY, rule="max", top_k=0, ur_beta=None, readout=mode,
                        readout_input="spectrum", X_train=X, readout_excess=excess)  # fmt: skip


def test_excess_features_and_background_stats() -> None:
    F = np.array([[1.0, 5.0], [3.0, 5.0], [2.0, 5.0], [40.0, 5.3]])
    mu, inv_sd = background_stats(F, np.array([True, True, True, False]))
    np.testing.assert_allclose(mu, [2.0, 5.0])
    # column 0: σ = sqrt(2/3); column 1 is constant on the no-hit rows: σ floored
    np.testing.assert_allclose(inv_sd, [1 / np.sqrt(2 / 3), 1 / EXCESS_SD_MIN])
    E = excess_features(F, mu, inv_sd, 2.5)
    np.testing.assert_allclose(E[:, 0], [-np.sqrt(1.5), np.sqrt(1.5), 0.0, 2.5])  # clipped
    np.testing.assert_allclose(E[3, 1], 2.5)  # +0.3 over a steady feature: 3σ, clipped
    assert np.all(np.abs(E) <= 2.5)
    with pytest.raises(TinyUnfoldError, match="at least two no-hit") as err:
        background_stats(F, np.array([True, False, False, False]))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("mode", [True, "sets"])
def test_a_weak_hit_over_a_steady_band_is_found(mode: bool | str) -> None:
    """The levels alone (L2 weight by CV) miss most weak hits, whose steady band rises by
    0.2-0.8 dB while the engine band moves by 40 dB; with the excess block (20-80 background
    standard deviations, clipped at 10) they are found, and the loud ones still are."""
    plain, ex = _fit(0.0, mode), _fit(10.0, mode)
    assert ex.readout is not None and plain.readout is not None
    assert ex.readout.W.shape[1] == 2 * LAY.n_bins and plain.readout.W.shape[1] == LAY.n_bins
    Ht, Xt, lt = _toy(1, weak=True)
    Ha, Xa, la = _toy(2)
    weak_plain = _exact(plain.readout.decide(Xt, 3), lt)
    weak_ex = _exact(ex.readout.decide(Xt, 3), lt)
    assert weak_ex > weak_plain + 0.3 and weak_ex > 0.75, (weak_plain, weak_ex)
    assert _exact(ex.readout.decide(Xa, 3), la) >= _exact(plain.readout.decide(Xa, 3), la)
    # the features the scores read: the levels, then their excess with the stored statistics
    ro = ex.readout
    f = readout_features(Xt, ro.floor)
    e = np.clip((f - ro.bg_mu) * ro.bg_inv_sd, -10.0, 10.0)
    np.testing.assert_allclose(ro.score(Xt), np.hstack([f, e]) @ ro.W.T + ro.b, rtol=1e-12)
    # the statistics are those of the no-hit training mixtures
    H, X, ls = _toy(0)
    mu, inv_sd = background_stats(readout_features(X, ro.floor), np.array([not s for s in ls]))
    np.testing.assert_array_equal(ro.bg_mu, mu)
    np.testing.assert_array_equal(ro.bg_inv_sd, inv_sd)


def test_cv_folds_use_their_own_background_statistics(monkeypatch) -> None:
    """Every fit inside the CV computes the statistics of the mixtures it trains on: one call per
    fold and weight, then one for the final fit, each over fewer no-hit rows than the whole."""
    import tinyunfold.detection as detection

    calls: list[int] = []
    real = detection.background_stats

    def spy(F, nohit):
        calls.append(int(np.sum(nohit)))
        return real(F, nohit)

    monkeypatch.setattr(detection, "background_stats", spy)
    _fit(10.0)
    n_nohit = sum(1 for q in range(140) if not POOL[q % len(POOL)])
    folds, grid = 5, len(detection.READOUT_L2_GRID)
    assert len(calls) == folds * grid + 1
    assert calls[-1] == n_nohit and all(c < n_nohit for c in calls[:-1])


def test_model_file_round_trip_and_hostile_readouts() -> None:
    det = _fit(10.0)
    params = json.loads(json.dumps({"detection": det.to_params(), "layout": LAY.to_params()}))
    assert params["detection"]["readout"]["excess"] == 10.0
    arrays = det.arrays()
    assert arrays["readout_bg_mu"].shape == (LAY.n_bins,) == arrays["readout_bg_inv_sd"].shape
    back = Detector.from_model(params, arrays)
    assert back.readout is not None and back.readout.excess == 10.0
    np.testing.assert_array_equal(back.readout.bg_mu, det.readout.bg_mu)
    Ht, Xt, _ = _toy(3)
    np.testing.assert_array_equal(back.readout.score(Xt), det.readout.score(Xt))

    def load(edit=None, **arr):
        p = json.loads(json.dumps(params))
        if edit:
            edit(p["detection"]["readout"])
        a = {**arrays, **arr}
        return Detector.from_model(p, {k: v for k, v in a.items() if v is not None})

    mu = arrays["readout_bg_mu"]
    cases = [
        (lambda d: d.update(excess=-1), {}, "readout_excess must be 0"),
        (lambda d: d.update(excess="ten"), {}, "readout_excess must be 0"),
        (None, {"readout_bg_mu": None}, "needs readout_bg_mu and readout_bg_inv_sd"),
        (None, {"readout_bg_inv_sd": np.zeros(4)}, "inv_sd > 0"),
        (None, {"readout_bg_mu": np.r_[mu[:3], np.nan]}, "finite"),
        (None, {"readout_bg_mu": mu[:3]}, "one per input row"),
        # W of the levels only (4 columns) with the excess declared: 8 wanted
        (None, {"readout_W": arrays["readout_W"][:, :4]}, "reads 8"),
        # the excess dropped from the params, W still 8 wide: 4 wanted
        (lambda d: d.pop("excess"), {}, "reads 4"),
    ]
    for edit, arr, word in cases:
        with pytest.raises((ModelFileError, TinyUnfoldError), match=word) as err:
            load(edit, **arr)
        assert "\n" not in str(err.value)
    # a model without the key (every model before it): no excess block
    plain = _fit(0.0)
    assert "excess" not in plain.to_params()["readout"] and "readout_bg_mu" not in plain.arrays()


def _c_order(X: np.ndarray, rd: gd.ReadoutParams) -> np.ndarray:
    """tu_detect_readout_f32's scalar loops with the excess block, float32."""
    f32 = np.float32
    m, n = X.shape
    g = np.empty(2 * m, dtype=f32)
    for a in range(m):
        s = f32(0.0)
        for t in range(n):
            s = f32(s + f32(X[a, t]))
        g[a] = logf(np.array([s if s > rd.floor else rd.floor], dtype=f32))[0]
        e = f32(f32(g[a] - rd.bg_mu[a]) * rd.bg_inv_sd[a])
        g[m + a] = rd.excess if e > rd.excess else (-rd.excess if e < -rd.excess else e)
    z = np.empty(rd.W.shape[0], dtype=f32)
    for c in range(rd.W.shape[0]):
        acc = f32(rd.b[c])
        for a in range(2 * m):
            acc = f32(acc + f32(rd.W[c, a] * g[a]))
        z[c] = acc
    return z


def test_golden_reads_the_excess_block_in_c_order() -> None:
    det = _fit(10.0)
    params = gd.params_from_detector(det, LAY, N)
    rd = params.readout
    assert rd is not None and rd.bg_mu is not None and rd.width == LAY.n_bins
    assert rd.W.shape == (7, 2 * LAY.n_bins) and rd.excess == np.float32(10.0)
    Ht, Xt, lt = _toy(4, weak=True)
    Ht32, Xt32 = Ht.astype(np.float32), Xt.astype(np.float32)
    res = gd.detect_f32(Ht32, params, "readout", X=Xt32)
    ref = np.stack([_c_order(x, rd) for x in Xt32])
    assert res.readout_z is not None
    np.testing.assert_array_equal(res.readout_z.view(np.uint32), ref.view(np.uint32))
    assert _exact(res.classes, lt) > 0.75
    # the levels-only golden of the same W's first half scores other numbers
    lev = replace(rd, W=np.ascontiguousarray(rd.W[:, : LAY.n_bins]), bg_mu=None, bg_inv_sd=None)
    assert not np.array_equal(gd.readout_f32(Xt32, lev), res.readout_z)


def test_config_key_and_its_errors() -> None:
    H, X, ls = _toy(5, Q=70)
    dc = {"readout": "sets", "readout_l2": 0.01, "ur_beta": 0.0, "readout_input": "spectrum"}
    det = fit_detector_from_config(H, ls, LAY, {**dc, "readout_excess": 10}, X_train=X)
    assert det.readout is not None and det.readout.excess == 10.0
    assert det.readout.W.shape == (7, 2 * LAY.n_bins)
    assert fit_detector_from_config(H, ls, LAY, dc, X_train=X).readout.excess == 0.0  # default
    for bad in (-1, "10", True, float("nan"), 1e4):
        with pytest.raises(TinyUnfoldError, match="readout_excess must be 0") as err:
            fit_detector_from_config(H, ls, LAY, {**dc, "readout_excess": bad}, X_train=X)
        assert "\n" not in str(err.value)
    assert readout_excess_value(0) == 0.0 and readout_excess_value(2.5) == 2.5
    # two no-hit training mixtures: a CV fold that holds one out cannot measure the spread
    two = [[], []] + [[q % 3] for q in range(38)]
    with pytest.raises(TinyUnfoldError, match="the CV's folds included") as err:
        fit_detector_from_config(H[:40], two, LAY, {**dc, "readout_excess": 10,
                                 "readout_l2": "cv", "threshold_rule": "max"}, X_train=X[:40])  # fmt: skip
    assert "\n" not in str(err.value)
    from tinyunfold.training.padnmf import CONFIG_HELP

    assert "readout_excess = 0" in CONFIG_HELP


def test_hostile_model_file_is_refused_in_one_line(tmp_path, capsys) -> None:
    """A saved padnmf detector with the excess block loads; without its background means, or
    with a negative spread, `tinyunfold model info` exits with one line."""
    from test_readout_spectrum import _padnmf_file, rewritten

    from tinyunfold.cli import main

    good = _padnmf_file(tmp_path, _fit(10.0))
    assert main(["model", "info", str(good)]) == 0
    capsys.readouterr()

    drop = "readout_bg_mu"

    def no_mu(man: dict) -> None:
        man["arrays"] = {k: v for k, v in man.get("arrays", {}).items() if k != drop}

    path = rewritten(good, tmp_path / "nomu.tum", no_mu, drop=drop)
    assert main(["model", "info", path]) != 0
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "readout_bg_mu" in err[0] and "; fix: " in err[0], err
