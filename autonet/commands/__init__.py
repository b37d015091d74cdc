"""Subcommands of the ``autonet`` CLI (see :mod:`autonet.cli`)."""
