"""Errors a user can fix. The CLI prints each as one line and exits with code 2."""

from __future__ import annotations


class HeadstartError(Exception):
    """Base class: the message says what is wrong and how to fix it."""


class DataError(HeadstartError, ValueError):
    """The input data cannot be used as given."""


class ConfigError(HeadstartError, ValueError):
    """An option or config file value is invalid."""


class ModelError(HeadstartError, ValueError):
    """A model cannot be found or loaded safely."""


class RunError(HeadstartError, FileNotFoundError):
    """A run directory is missing, incomplete or in the way."""


class DataWarning(UserWarning):
    """The data is usable but something in it deserves attention."""


class TrainingWarning(UserWarning):
    """A run was written, but part of its training went wrong and was set aside."""


class MissingExtraError(HeadstartError, ImportError):
    """An optional part of headstart is not installed; the message names the extra to install."""
