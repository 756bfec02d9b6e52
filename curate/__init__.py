"""curate: clean, leak-free training sets from noisy, user-tagged photos.

The library behind the `curate` command. Handy entry points::

    from curate import read_catalog, resolve_workspace, find_leakage, assert_no_leakage
"""

from curate.leakage import assert_no_leakage, find_leakage
from curate.workspace import read_catalog, resolve_workspace, write_catalog

__all__ = ["assert_no_leakage", "find_leakage", "read_catalog", "resolve_workspace", "write_catalog"]
