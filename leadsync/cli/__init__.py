"""The ``leadsync`` command. ``main`` is the console-script entry point."""

from leadsync.cli.app import app, main

__all__ = ["app", "main"]
