"""tinyunfold code generator: model file -> C sources for the firmware (Jinja2 templates).

Importable as ``tinyunfold.codegen``. See :func:`tinyunfold.codegen.generator.generate`.
"""

from tinyunfold.codegen.generator import GENERATOR_VERSION, GeneratedModel, generate

__all__ = ["GENERATOR_VERSION", "GeneratedModel", "generate"]
