"""curate: clean, leak-free training sets from noisy, user-tagged photos.

The library behind the `curate` command. Handy entry points::

    from curate import read_catalog, resolve_workspace, find_leakage, assert_no_leakage
"""

from curate.imageformats import register_optional_decoders
from curate.leakage import assert_no_leakage, find_leakage
from curate.workspace import read_catalog, resolve_workspace, write_catalog

register_optional_decoders()  # HEIC / HEIF with pillow-heif, in every process that imports curate

__all__ = ["assert_no_leakage", "find_leakage", "read_catalog", "resolve_workspace", "write_catalog"]
