"""`curate status`."""

from __future__ import annotations

import json

import pandas as pd

from curate.cli.common import (
    MAX_CELL_CHARS,
    CatalogEngineOption,
    JsonOption,
    WorkspaceOption,
    print_table,
    printable,
    printable_frame,
    user_errors,
    workspace,
)
from curate.console import console
from curate.status import (
    label_tag_counts,
    size_text,
    stages_table,
    status_counts,
    table_reasons,
    tag_counts,
    workspace_status,
)


@user_errors
def status(workspace_path: WorkspaceOption = None, catalog_engine: CatalogEngineOption = None,
           as_json: JsonOption = False) -> None:
    """Counts per label x status / drop reason, each stage fresh / stale / not run and when it last ran,
    the workspace's size on disk, the most common tags."""
    ws = workspace(workspace_path)
    facts, states, reports, catalog = workspace_status(ws, catalog_engine)
    if as_json:
        print(json.dumps(facts, indent=2))
        return
    sources = printable(", ".join(map(str, facts["sources"])))
    console.print(f"{facts['photos']} photos: {facts['kept']} kept, {facts['dropped']} dropped; "
                  f"{facts['owners']} owners; {facts['geotagged']} geotagged; sources: {sources}", markup=False)
    parts = ", ".join(f"{printable(name)} {size_text(n)}" for name, n in list(facts["disk"]["parts"].items())[:4])
    console.print(f"workspace {printable(ws.root)}: {size_text(facts['disk']['bytes'])} on disk ({parts})",
                  markup=False, highlight=False, soft_wrap=True)
    print_table(printable_frame(stages_table(states, reports)),
                title="stages (fresh: its inputs are what it last read; last run from its report)")
    for state in states.values():  # reasons the table shortened or cut (the rules changed: a paragraph)
        shown, shortened = table_reasons(state, reports.get(state.stage))
        if shortened or len("; ".join(shown)) > MAX_CELL_CHARS:
            console.print(printable(f"{state.state} ({state.stage}): {'; '.join(state.reasons)}"), highlight=False,
                          markup=False, soft_wrap=True)
    stale = [state.command for state in states.values() if state.state == "stale"]
    if stale:  # whole, one per line, in order: a narrow table cuts long commands off with "…" (audit AN)
        console.print("to bring the stale stages up to date, run in order:", highlight=False, markup=False)
        for command in stale:
            console.print(printable(f"  {command}"), highlight=False, markup=False, soft_wrap=True)
    for state in states.values():  # warnings first: where a stage did less than asked, or held its drops
        for line in state.warnings:
            console.print(printable(f"warning ({state.stage}): {line}"), highlight=False, markup=False)
    if facts.get("copies_of_other"):
        console.print(printable(f"warning (check-leakage): {facts['copies_of_other']}"), highlight=False, markup=False)
    for state in states.values():
        for note in state.notes:
            console.print(printable(f"note ({state.stage}): {note}"), highlight=False, markup=False)
    # the catalog is in memory on the pandas path; out of core, the same counts come from the summary
    tables = ((status_counts, "by_label", "photos per label"),
              (tag_counts, "top_tags", "most common tags (pick the prefilter's --topic here)"),
              (label_tag_counts, "label_tags", "photos whose tags name each label"))
    for count, key, title in tables:
        frame = count(catalog) if catalog is not None else pd.DataFrame.from_records(facts[key])
        print_table(printable_frame(frame), title=title)
        if key == "label_tags" and len(frame) and not frame["photos_tagged"].any():
            console.print("note: no photo's tags name a label: tags are matched to labels at ingest, with a recipe "
                          "(`--recipe`, or `curate run`); the photos' own labels (folder, column) are counted in "
                          "photos_labelled", highlight=False, markup=False)
