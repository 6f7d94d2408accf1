"""Render a model file into C sources (``tu_model_config.h``, ``tu_model.c``).

Generated files carry a do-not-edit banner, the generator version and the input hash, an
ABI-version ``#error`` guard, and no timestamps: the same model gives the same bytes. They are
written into the build tree only (``build/<preset>/generated/<name>/``).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from tinyunfold import __version__
from tinyunfold.codegen.cformat import c_float, c_float_array, c_identifier
from tinyunfold.errors import ModelFileError
from tinyunfold.modelfile import ModelFile, validate

GENERATOR_VERSION = f"tinyunfold-codegen {__version__}"
RUNTIME_ABI_VERSION = 3  # must equal TU_RUNTIME_ABI_VERSION in firmware/include/tinyunfold/status.h
TEMPLATE_DIR = Path(str(importlib.resources.files("tinyunfold.codegen").joinpath("templates")))
OUTPUTS = ("tu_model_config.h", "tu_model.c")


@dataclass
class GeneratedModel:
    """The rendered sources of one model: ``name`` (build-tree folder), file name -> text."""

    name: str
    kind: str
    input_hash: str
    files: dict[str, str]
    info: dict[str, Any] = field(default_factory=dict)

    def write(self, directory: Path) -> Path:
        """Write the files into ``directory`` (rewriting only what changed); returns it."""
        directory.mkdir(parents=True, exist_ok=True)
        for fname, text in self.files.items():
            path = directory / fname
            if not path.exists() or path.read_text() != text:
                path.write_text(text)
        return directory


def model_hash(model: ModelFile) -> str:
    """sha256 over the kind, params and array bytes: the generator's input hash."""
    h = hashlib.sha256()
    h.update(json.dumps({"kind": model.kind, "params": model.params}, sort_keys=True).encode())
    for name in sorted(model.arrays):
        arr = np.ascontiguousarray(model.arrays[name])
        h.update(f"{name}:{arr.dtype.str}:{arr.shape}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["c_float"] = c_float
    env.filters["c_float_array"] = c_float_array
    env.filters["c_identifier"] = c_identifier
    return env


def _context_nmf(model: ModelFile) -> dict[str, Any]:
    from tinyunfold.golden.nmf import constants

    c = constants(model)
    return {
        "F": c.n_features,
        "R": c.rank,
        "N": c.n_frames,
        "K": c.n_layers,
        "W": c.W,
        "denom": c.denom,
        "eps": c.eps,
        "h0": c.h0,
        "alpha_h": float(model.params["alpha_h"]),
        "in_len": c.n_features * c.n_frames,
        "out_len": c.rank * c.n_frames,
        "flash_const_bytes": 4 * (c.W.size + c.denom.size),
        "ram_scratch_bytes": 4 * (2 * c.n_features + c.rank) * c.n_frames,
    }


def _context_spectrogram(model: ModelFile) -> dict[str, Any]:
    from tinyunfold.golden.spectrogram import constants
    from tinyunfold.models.frontend import params_of

    p = params_of(model)
    if p.log:
        raise ModelFileError(
            "spectrogram: log compression is not deployable (no shared log1p definition yet)",
            "deploy the linear band powers (log=false); see docs/numerics.md on transcendentals",
        )
    c = constants(p)
    return {
        "n_fft": c.n_fft,
        "F": c.n_features,
        "window": c.window,
        "edges": [int(e) for e in c.edges],
        "sample_rate": p.sample_rate,
        "in_len": c.n_fft,
        "out_len": c.n_features,
        "flash_const_bytes": 4 * c.n_fft + 2 * len(c.edges),
        "ram_scratch_bytes": 4 * (2 * c.n_fft + c.n_fft // 2 + 1),
    }


def _context_padnmf(model: ModelFile) -> dict[str, Any]:
    from tinyunfold.golden.padnmf import constants

    c = constants(model)
    F, R, N = c.n_features, c.rank, c.n_frames
    return {
        "m": c.n_bins,
        "T": c.context,
        "F": F,
        "R": R,
        "N": N,
        "dictionaries": c.dictionaries,
        "denominators": c.denominators,
        "counts": c.counts,
        "mask": c.mask,
        "eps": c.eps,
        "in_len": c.n_bins * N,
        "out_len": R * N,
        "flash_const_bytes": 4
        * (len(c.dictionaries) * (F + 1) * R + (R * N if c.mask is not None else 0)),
        "ram_scratch_bytes": 4 * (3 * F * N + R * N),
    }


def _context_dkf(model: ModelFile) -> dict[str, Any]:
    p = model.params
    if p["predictor"] != "linear":
        raise ModelFileError(
            f"dkf: the {p['predictor']!r} (nonlinear) predictor is not deployable yet",
            "deploy a linear system (kind linear or continuous in system.toml)",
        )
    n, m, K = int(p["n_states"]), int(p["n_outputs"]), int(p["n_layers"])
    arrays = {k: model.array(k) for k in ("A", "Bu", "C", "gains", "gain_beyond", "x0")}
    return {
        "n": n,
        "m": m,
        "K": K,
        "beyond": p["beyond"],
        **arrays,
        "in_len": m,
        "out_len": n,
        "flash_const_bytes": 4 * sum(int(a.size) for a in arrays.values()),
        "ram_scratch_bytes": 4 * (3 * n + m),
    }


_CONTEXTS = {
    "nmf": _context_nmf,
    "dkf": _context_dkf,
    "spectrogram": _context_spectrogram,
    "padnmf": _context_padnmf,
    "deepnmf": _context_padnmf,
}
_TEMPLATES = {"deepnmf": "padnmf"}  # kinds that share another kind's templates


def generate(model: ModelFile) -> GeneratedModel:
    """Validate ``model`` and render its C sources.

    Raises
    ------
    ModelFileError : the kind has no code generator, or the model fails validation
        (NaN/Inf, negative dictionary, wrong shapes are all caught by the kind's validator).
    """
    validate(model)
    if model.kind not in _CONTEXTS:
        raise ModelFileError(
            f"no code generator for model kind {model.kind!r} (have: {', '.join(sorted(_CONTEXTS))})",
            "deploy a supported kind, or add templates under codegen/templates/<kind>/",
        )
    digest = model_hash(model)
    ctx = _CONTEXTS[model.kind](model)
    ctx.update(
        kind=model.kind,
        input_hash=digest,
        generator_version=GENERATOR_VERSION,
        abi_version=RUNTIME_ABI_VERSION,
    )
    env = _environment()
    tdir = _TEMPLATES.get(model.kind, model.kind)
    files = {out: env.get_template(f"{tdir}/{out}.j2").render(**ctx) for out in OUTPUTS}
    info = {k: ctx[k] for k in ("in_len", "out_len", "flash_const_bytes", "ram_scratch_bytes")}
    return GeneratedModel(
        name=f"{model.kind}-{digest[:12]}",
        kind=model.kind,
        input_hash=digest,
        files=files,
        info=info,
    )
