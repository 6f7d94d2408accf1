"""Training pipelines of the dataset-trained hit detectors and their TOML configs.

Each kind that trains from a dataset exposes a :class:`~tinyunfold.kinds.base.Training` built from
this package; ``tinyunfold train <kind>`` and the benchmarks call it through the kind registry.
"""
