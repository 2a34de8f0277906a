"""The one error type users see: bad input, named by file, line or key.

Every check at a boundary raises `SmfaError` (or a subclass); the CLI prints its message as one
line and exits non-zero. Anything else escaping is a bug and keeps its traceback.
"""

from __future__ import annotations


class SmfaError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class DataFormatError(SmfaError):
    """A world directory or record that does not follow docs/data-format.md."""


class ConfigError(SmfaError):
    """An unknown or invalid configuration key or value."""


class ModelDirError(SmfaError):
    """A directory that does not hold a loadable model."""


class JudgeError(SmfaError):
    """A judge endpoint or model that failed or answered something that is not a score."""
