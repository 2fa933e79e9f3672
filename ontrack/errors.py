"""Errors raised at ontrack's boundaries.

Every error a user can cause is an :class:`OnTrackError`; the command line turns it into
a clear message and exit code 1, never a traceback. Message templates that tests assert
live here as constants.
"""

from __future__ import annotations


class OnTrackError(Exception):
    """Base class: a problem with the user's data, config or model, explained in words."""


class ConfigError(OnTrackError):
    """The district config is invalid (unknown key, bad value, wrong version)."""


class SchemaError(OnTrackError):
    """A table cannot be used at all (unreadable, empty, missing a required column)."""


class LeakageError(OnTrackError):
    """A split or feature request would let future information into the past."""


class ModelContractError(OnTrackError):
    """Data offered to a model does not match the features it was trained on."""
