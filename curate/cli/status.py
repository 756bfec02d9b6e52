"""`curate status`."""

from __future__ import annotations

import json

from curate.cli.common import JsonOption, WorkspaceOption, print_table, user_errors, workspace
from curate.console import console
from curate.status import status_counts, summary
from curate.workspace import read_catalog


@user_errors
def status(workspace_path: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Counts per label x status / drop reason."""
    catalog = read_catalog(workspace(workspace_path))
    if as_json:
        print(json.dumps(summary(catalog), indent=2))
        return
    facts = summary(catalog)
    console.print(f"{facts['photos']} photos: {facts['kept']} kept, {facts['dropped']} dropped; "
                  f"{facts['owners']} owners; {facts['geotagged']} geotagged; sources: {', '.join(facts['sources'])}")
    print_table(status_counts(catalog), title="photos per label")
