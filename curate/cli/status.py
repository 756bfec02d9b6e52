"""`curate status`."""

from __future__ import annotations

import json

from curate.cli.common import JsonOption, WorkspaceOption, print_table, user_errors, workspace
from curate.console import console
from curate.freshness import judge, load_reports
from curate.status import label_tag_counts, stages_table, status_counts, summary, tag_counts
from curate.workspace import read_catalog


@user_errors
def status(workspace_path: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Counts per label x status / drop reason, each stage fresh / stale / not run, the most common tags."""
    ws = workspace(workspace_path)
    catalog = read_catalog(ws)
    states = judge(catalog, load_reports(ws))
    facts = summary(catalog, states)
    if as_json:
        print(json.dumps(facts, indent=2))
        return
    console.print(f"{facts['photos']} photos: {facts['kept']} kept, {facts['dropped']} dropped; "
                  f"{facts['owners']} owners; {facts['geotagged']} geotagged; sources: {', '.join(facts['sources'])}")
    print_table(stages_table(states), title="stages (fresh: its inputs are what it last read)")
    for state in states.values():
        for note in state.notes:
            console.print(f"note ({state.stage}): {note}", highlight=False, markup=False)
    print_table(status_counts(catalog), title="photos per label")
    print_table(tag_counts(catalog), title="most common tags (pick the prefilter's --topic here)")
    print_table(label_tag_counts(catalog), title="photos whose tags name each label")
