"""The --timeout option of the download commands (`curate ingest urls`, `flickr`): one value for
DownloadConfig's connect_timeout_s and read_timeout_s. Left out, their declared defaults apply, as
in a recipe's [[sources]] table."""

from __future__ import annotations

from typing import Annotated

import typer

from curate.ingest.http import DownloadConfig

_DEFAULTS = {name: field.default for name, field in DownloadConfig.__dataclass_fields__.items()}

TimeoutOption = Annotated[float | None, typer.Option(
    "--timeout", show_default=False,
    help=(f"Connect and read timeout of the downloads, seconds (default: {_DEFAULTS['connect_timeout_s']:g} to "
          f"connect, {_DEFAULTS['read_timeout_s']:g} to read; connect_timeout_s and read_timeout_s in a recipe)."))]


def timeouts(value: float | None) -> dict[str, float]:
    """The DownloadConfig flags a --timeout gives: both timeouts, or none when it was left out.

    >>> timeouts(5.0), timeouts(None)
    ({'connect_timeout_s': 5.0, 'read_timeout_s': 5.0}, {})
    """
    return {} if value is None else {"connect_timeout_s": value, "read_timeout_s": value}
