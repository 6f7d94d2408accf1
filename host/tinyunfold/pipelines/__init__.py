"""Pipelines: evaluation, benchmarks and experiments that the commands run and print.

They sit above the tools (build/run/link) and below the commands, which hold argparse and printing
only.
"""
