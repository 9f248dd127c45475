"""The command line's one error type (its own module, so commands and ``main`` share it
without importing each other)."""

from __future__ import annotations

__all__ = ["CliError"]


class CliError(Exception):
    """An error to report on one line (no traceback), exit code 2."""
