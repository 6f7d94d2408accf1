"""TOML training configs shared by the dataset-trained kinds: ``[features]``, ``[model]``,
``[detection]`` sections plus ``--set SECTION.KEY=VALUE`` overrides, keys checked."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from typing import Any

from tinyunfold.errors import TinyUnfoldError

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
        try:
            with open(path, "rb") as fh:
                raw = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise TinyUnfoldError(
                f"cannot read config {path}: {exc}",
                "pass a TOML file with [features], [model], [detection]",
            ) from None
        for k, v in raw.items():
            if k not in cfg or not isinstance(v, dict):
                raise TinyUnfoldError(
                    f"config {path}: unknown section {k!r}", "use [features], [model], [detection]"
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
    unknown = (set(cfg["model"]) - model_keys) | (set(cfg["detection"]) - detection_keys)
    if unknown:
        raise TinyUnfoldError(
            f"unknown config keys {sorted(unknown)}",
            f"see `tinyunfold train {family} --help` for the keys",
        )
    return cfg
