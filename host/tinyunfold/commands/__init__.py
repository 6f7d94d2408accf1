"""CLI command groups (see tinyunfold.cli.COMMAND_MODULES)."""
