"""The settings as ``stress run`` flags: one ``--flag`` per field of :class:`Settings`.

Values stay strings here, so the settings model checks flags and variables alike (one
:class:`ConfigError` naming the flag); :func:`stress.config.load_settings` lets them beat the
variables field by field.
"""

from __future__ import annotations

import argparse

from stress.config import Settings, flag_help, flag_name

__all__ = ["add_arguments", "overrides_from_namespace"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one ``--flag`` per setting; values stay strings so the model validates them."""
    for field in Settings.model_fields:
        parser.add_argument(
            flag_name(field),
            dest=field,
            default=argparse.SUPPRESS,
            # argparse %-formats help strings.
            help=flag_help(field).replace("%", "%%"),
        )


def overrides_from_namespace(namespace: argparse.Namespace) -> dict[str, str]:
    """The settings flags present in ``namespace`` (absent ones were suppressed), as strings."""
    values = vars(namespace)
    return {field: str(values[field]) for field in Settings.model_fields if field in values}
