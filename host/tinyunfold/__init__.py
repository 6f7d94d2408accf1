"""tinyunfold: deep-unfolded models from Python to bit-exact Cortex-M firmware."""

__version__ = "0.1.0"
