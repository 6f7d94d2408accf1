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
from tinyunfold.kinds import validate
from tinyunfold.modelfile import ModelFile

GENERATOR_VERSION = f"tinyunfold-codegen {__version__}"
RUNTIME_ABI_VERSION = 4  # must equal TU_RUNTIME_ABI_VERSION in firmware/include/tinyunfold/status.h
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


def generate(model: ModelFile) -> GeneratedModel:
    """Validate ``model`` and render its C sources.

    Raises
    ------
    ModelFileError : the kind does not deploy (the registry says why), or the model fails
        validation (NaN/Inf, negative dictionary, wrong shapes are all caught by the kind's
        validator).
    """
    kind = validate(model)
    kind.require_deployable(model)
    assert kind.codegen is not None and kind.templates is not None  # deployable kinds have both
    digest = model_hash(model)
    ctx = kind.codegen(model)
    ctx.update(
        kind=model.kind,
        input_hash=digest,
        generator_version=GENERATOR_VERSION,
        abi_version=RUNTIME_ABI_VERSION,
    )
    env = _environment()
    files = {out: env.get_template(f"{kind.templates}/{out}.j2").render(**ctx) for out in OUTPUTS}
    info = {k: ctx[k] for k in ("in_len", "out_len", "flash_const_bytes", "ram_scratch_bytes")}
    return GeneratedModel(
        name=f"{model.kind}-{digest[:12]}",
        kind=model.kind,
        input_hash=digest,
        files=files,
        info=info,
    )
