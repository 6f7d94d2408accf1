"""TOML training configs shared by the dataset-trained kinds: ``[features]``, ``[model]``,
``[detection]`` sections plus ``--set SECTION.KEY=VALUE`` overrides, keys checked."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from typing import Any

from tinyunfold.errors import TinyUnfoldError, check_known_keys

SECTIONS = ("features", "model", "detection")
# The [detection] keys of every detector kind (tinyunfold.detection.fit_detector_from_config).
DETECTION_KEYS = {
    "shifted",
    "threshold_rule",
    "margin",
    "top_k",
    "ur_beta",
    "ur_alpha",
    "ur_p",
    "ur_background",
    "fpr",
    "ur_nohit_label",
    "ur_prior",
    "ur_rule",
    "ur_factor",
    "index_floor",
    "readout",
    "readout_floor",
    "readout_l2",
    "readout_cv_score",
    "readout_cv_balance",
    "readout_excess",
    "readout_max_hits",
    "readout_input",
    "readout_augment",
}


def load_sections(
    path: str | None,
    overrides: Iterable[str],
    model_keys: set[str],
    detection_keys: set[str],
    family: str,
) -> dict[str, dict[str, Any]]:
    """Read ``path`` (optional) and apply ``overrides``; unknown sections or keys are errors.

    An override's value is parsed as a TOML value (``50``, ``1e-3``, ``true``, ``"x"``) and kept
    as a plain string when it is not one (``--set model.noise_blocks=each``).
    """
    cfg: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    if path:
        raw = read_toml(path, "config", "pass a TOML file with [features], [model], [detection]")
        for k, v in raw.items():
            if k not in cfg or not isinstance(v, dict):
                check_known_keys(
                    [k], SECTIONS, f"config {path}: unknown section", "use the sections"
                )
                raise TinyUnfoldError(
                    f"config {path}: [{k}] must be a table", "use [features], [model], [detection]"
                )
            cfg[k].update(v)
    for item in overrides:
        key, sep, val = item.partition("=")
        sec, dot, name = key.partition(".")
        if not sep or not dot or sec not in cfg:
            raise TinyUnfoldError(f"bad --set {item!r}", "use e.g. --set model.n_layers=50")
        try:
            cfg[sec][name] = tomllib.loads(f"v = {val}")["v"]
        except tomllib.TOMLDecodeError:
            cfg[sec][name] = val
    fix = f"see `tinyunfold train {family} --help` for the keys"
    where = f"config {path}" if path else "--set"
    check_known_keys(sorted(cfg["model"]), model_keys, f"{where} [model]", fix)
    check_known_keys(sorted(cfg["detection"]), detection_keys, f"{where} [detection]", fix)
    check_known_keys(sorted(cfg["features"]), FEATURE_KEYS, f"{where} [features]", fix)
    return cfg


FEATURE_KEYS = (
    "n_fft", "hop", "window", "n_bands", "log", "f_min", "f_max", "band_scale", "log_floor",
    "orders_f0", "orders", "orders_width", "orders_step", "orders_gate_db",
)  # fmt: skip  # SpectrogramParams without sample_rate (taken from the dataset)
MAX_TOML_BYTES = 1 << 20


def read_toml(path: str, what: str, fix: str) -> dict[str, Any]:
    """Parse a TOML file (at most 1 MiB) into a dict; one-line error naming the file otherwise."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_TOML_BYTES + 1)
        if len(data) > MAX_TOML_BYTES:
            raise TinyUnfoldError(f"{what} {path} is larger than {MAX_TOML_BYTES:,} bytes", fix)
        return tomllib.loads(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as exc:
        raise TinyUnfoldError(f"cannot read {what} {path}: {exc}", fix) from None
