"""Stage freshness (curate.freshness): a stage whose upstream re-ran reads as stale everywhere,
and the commands that use its results refuse them instead of working on them silently.

The workspaces are small demo collections; the pre-classifier reads synthetic embeddings
(a topic direction plus noise) written straight into the embedding cache, so no backbone runs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import demo_workspace
from typer.testing import CliRunner

from classify.cli import app as classify_app
from curate.cli.app import app
from curate.embed import EmbeddingCache
from curate.freshness import FRESH, NOT_RUN, STALE, judge
from curate.freshness_workspace import load_reports, require_fresh_split, workspace_states
from curate.workspace import Workspace, read_catalog, write_catalog

runner = CliRunner()
TOPIC = "skyline"


def fake_embeddings(ws: Workspace, key: str = "fake", seed: int = 0) -> None:
    """8-d vectors whose first axis says whether the photo is tagged with the topic (plus noise)."""
    catalog = read_catalog(ws)
    rows = catalog[catalog["image_path"].notna()].drop_duplicates("sha256")
    tagged = rows["tags"].map(lambda tags: TOPIC in list(tags)).to_numpy()
    vectors = np.random.default_rng(seed).normal(size=(len(rows), 8)).astype(np.float32)
    vectors[:, 0] += 3.0 * tagged
    EmbeddingCache(ws, key).append(rows["sha256"].tolist(), vectors, np.ones(len(rows), bool))


def curate(*args: str):
    return runner.invoke(app, list(args))


def prefilter(root) -> None:
    result = curate("prefilter", "-w", str(root), "--topic", TOPIC, "--embeddings", "fake", "--folds", "3")
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    """ingest demo → filter → prefilter → split, every stage fresh."""
    root = tmp_path_factory.mktemp("freshness") / "ws"
    ws = demo_workspace(root, photos=200, seed=5, commands=(("filter", "--recipe", "skylines"),))
    fake_embeddings(ws)
    prefilter(root)
    assert curate("split", "-w", str(root)).exit_code == 0
    assert (read_catalog(ws)["drop_stage"] == "prefilter").any()  # the scenario needs prefilter drops
    return root


def built_once(tmp_path_factory, name: str, **settings) -> Path:
    """The folder of a `demo_workspace(**settings)` for a module-scoped fixture; tests copy it (`private_copy`)."""
    root = tmp_path_factory.mktemp(name) / "ws"
    demo_workspace(root, **settings)
    return root


def private_copy(root, tmp_path) -> Workspace:
    """A copy of a module-built workspace folder in the test's own tmp_path, for a test that writes to it."""
    shutil.copytree(root, tmp_path / "ws")
    return Workspace(tmp_path / "ws")


@pytest.fixture
def ws(curated, tmp_path):
    """A private copy of the curated workspace."""
    return private_copy(curated, tmp_path)


@pytest.fixture(scope="module")
def refiltered(curated, tmp_path_factory):
    """The curated workspace, then `curate filter --recipe skylines` run on it again (which reinstates the
    prefilter's drops): the same first step of several tests, run once."""
    root = tmp_path_factory.mktemp("refiltered") / "ws"
    shutil.copytree(curated, root)
    assert curate("filter", "-w", str(root), "--recipe", "skylines").exit_code == 0
    return root


@pytest.fixture
def ws_refiltered(refiltered, tmp_path):
    """A private copy of the curated workspace whose filter ran again after the prefilter and the split."""
    return private_copy(refiltered, tmp_path)


@pytest.fixture(scope="module")
def default_demo(tmp_path_factory):
    """`demo_workspace` with its defaults (140 photos, seed 4, filter with the skylines recipe, split), built once."""
    return built_once(tmp_path_factory, "default-demo")


@pytest.fixture
def default_ws(default_demo, tmp_path):
    """A private copy of the default demo workspace."""
    return private_copy(default_demo, tmp_path)


@pytest.fixture(scope="module")
def filtered_120(tmp_path_factory):
    """120 photos (seed 6) with the skylines filter run, built once."""
    return built_once(tmp_path_factory, "filtered-120", photos=120, seed=6,
                      commands=(("filter", "--recipe", "skylines"),))


def states(ws: Workspace) -> dict[str, str]:
    return {name: state.state for name, state in workspace_states(ws).items()}


def test_a_curated_workspace_is_fresh(ws):
    assert states(ws) == {"ingest": FRESH, "filter": FRESH, "embed": NOT_RUN, "prefilter": FRESH, "split": FRESH}
    assert curate("check-leakage", "-w", str(ws.root)).exit_code == 0


def _set_rules(ws: Workspace, stage: str, value) -> None:
    """Rewrite the rules version `stage`'s report records (None: leave it out, as reports before versions did)."""
    path = ws.reports_dir / f"{stage}.json"
    report = json.loads(path.read_text())
    report["freshness"].pop("rules", None)
    if value is not None:
        report["freshness"]["rules"] = value
    path.write_text(json.dumps(report))


def test_a_stage_run_under_older_rules_reads_stale_and_says_what_changed(ws):
    """Audit CU MED-3: a workspace of the previous version, upgraded and unchanged, read as fresh everywhere, so
    `curate run` skipped every step and the new prefilter's warnings never appeared. A report from before the
    rules were versioned is version 1."""
    from curate import stage_rules

    assert json.loads((ws.reports_dir / "prefilter.json").read_text())["freshness"]["rules"] == \
        stage_rules.version("prefilter")
    _set_rules(ws, "prefilter", None)
    found = workspace_states(ws)
    assert found["prefilter"].state == STALE and found["split"].state == STALE
    assert found["filter"].state == FRESH
    assert found["prefilter"].reasons[0].startswith("prefilter's rules changed since it ran (version 1, now ")
    assert "photographers whose photos it mostly rejected are named" in found["prefilter"].line
    assert f"curate prefilter --topic {TOPIC}" in found["prefilter"].line
    assert "prefilter is stale" in found["split"].line
    status = curate("status", "-w", str(ws.root), "--json")
    assert status.exit_code == 0, status.output
    assert "prefilter's rules changed since it ran" in json.loads(status.output)["stages"]["prefilter"]["line"]
    assert curate("report", "-w", str(ws.root)).exit_code == 0  # one short line per section, not the changes
    sections = json.loads((ws.root / "report" / "report.json").read_text())["sections"]
    assert sections["tags"]["stale"].startswith("prefilter results are from an earlier version's rules")
    assert "photographers whose photos" not in sections["tags"]["stale"] and "stale" not in sections["geography"]
    # its results still agree with the catalog: the split is used as it is (an upgrade does not stop training)
    assert found["prefilter"].rules_only and found["split"].rules_only and not found["filter"].rules_only
    assert curate("check-leakage", "-w", str(ws.root)).exit_code == 0
    require_fresh_split(ws)
    prefilter(ws.root)  # run again: its report records today's rules
    assert workspace_states(ws)["prefilter"].state == FRESH


def test_the_status_table_shows_the_rules_heading_and_the_whole_reason_below_it(ws):
    """Audit DA 5: the status table cut the rules reason at `…(version 1, now 2): 202…` at 100 and 200 columns, so
    what changed (and a second reason) could be read only in `--json` or the report. The cell says the versions;
    the stage's reasons are printed whole below the table; `--json` keeps them whole."""
    _set_rules(ws, "prefilter", None)
    found, reports = workspace_states(ws), load_reports(ws)
    whole = found["prefilter"].reasons[0]
    from curate import stage_rules

    now = stage_rules.version("prefilter")
    assert whole.startswith(f"prefilter's rules changed since it ran (version 1, now {now}): up to ")
    status = curate("status", "-w", str(ws.root), "--json")
    assert json.loads(status.output)["stages"]["prefilter"]["reasons"][0] == whole
    printed = curate("status", "-w", str(ws.root))
    assert printed.exit_code == 0, printed.output
    assert f"stale (prefilter): {whole}" in " ".join(printed.output.split())  # (printed whole: no width cuts it)

    from curate.status import stages_table, table_reasons

    shown, below = table_reasons(found["prefilter"], reports["prefilter"])
    assert shown == [f"rules changed (version 1, now {now}), see below"] and below == [whole]
    cells = stages_table(found, reports).set_index("stage")["what changed"]
    assert cells["prefilter"] == shown[0] and cells["split"] == "prefilter is stale"
    assert table_reasons(found["split"], reports["split"]) == (["prefilter is stale"], [])
    assert table_reasons(found["filter"], reports["filter"]) == ([], [])


@pytest.mark.parametrize("written_by", ["the older version", "a later command"])
def test_a_report_from_before_a_schema_column_was_added_is_judged_over_the_columns_it_covered(ws, written_by):
    """Audit DA MED-1: every workspace of an earlier version read its filter and prefilter as "changed or reset"
    after an upgrade: their output fingerprints covered the columns of the schema then, and a column added since
    (`phash_rot180`, `label_fit`) is only nulls in the old catalog. Such a report (no `columns` recorded) is
    judged over today's columns that are not all empty; a report names its columns from now on."""
    from curate.fingerprints import output_columns, output_fingerprint

    catalog = read_catalog(ws)
    added = {"filter": "phash_rot180", "prefilter": "label_fit"}
    catalog = catalog.assign(**{column: None for column in added.values()})  # as an older version wrote it
    write_catalog(ws, catalog)
    if written_by == "the older version":  # its file has no such columns; a later command's holds them, empty
        import pyarrow.parquet as pq

        pq.write_table(pq.read_table(ws.catalog_path).drop_columns(list(added.values())), ws.catalog_path)
    for stage, column in added.items():
        path = ws.reports_dir / f"{stage}.json"
        report = json.loads(path.read_text())
        assert report["freshness"]["columns"]["output"] == output_columns(stage)  # recorded from now on
        old = [name for name in output_columns(stage) if name != column]
        for key in ("columns", "rules"):
            report["freshness"].pop(key)
        before, report["freshness"]["output"] = report["freshness"]["output"], output_fingerprint(catalog, stage, None,
                                                                                                  old)
        path.write_text(json.dumps(report))
        for later in ("prefilter", "split"):  # what the later stages recorded of it, as they did then
            path = ws.reports_dir / f"{later}.json"
            report = json.loads(path.read_text())
            upstream = report["freshness"]["upstream"].get(stage)
            if upstream and upstream["output"] == before:
                upstream["output"] = output_fingerprint(catalog, stage, None, old)
                path.write_text(json.dumps(report))
    found = workspace_states(ws)
    for stage in ("filter", "prefilter", "split"):
        assert found[stage].state == STALE and found[stage].rules_only, (stage, found[stage].reasons)
    assert found["filter"].reasons == [found["filter"].reasons[0]] and "rules changed" in found["filter"].reasons[0]
    assert curate("check-leakage", "-w", str(ws.root)).exit_code == 0
    report = json.loads((ws.reports_dir / "prefilter.json").read_text())
    report["freshness"]["output"] = "0" * 16  # and a real change still counts
    (ws.reports_dir / "prefilter.json").write_text(json.dumps(report))
    assert not workspace_states(ws)["prefilter"].rules_only


def test_a_stage_stale_by_its_rules_and_by_a_change_still_refuses_its_split(ws_refiltered):
    _set_rules(ws_refiltered, "prefilter", None)
    found = workspace_states(ws_refiltered)
    assert found["prefilter"].state == STALE and not found["prefilter"].rules_only
    assert "filter re-ran after prefilter" in found["prefilter"].line and "rules changed" in found["prefilter"].line
    assert not found["split"].rules_only
    assert curate("check-leakage", "-w", str(ws_refiltered.root)).exit_code == 3


def test_rules_that_only_warn_more_leave_the_stage_fresh_with_a_note(ws):
    """Review CZ MED-1: a change that only adds warnings made every existing split stale."""
    _set_rules(ws, "split", None)
    found = workspace_states(ws)
    assert found["split"].state == FRESH
    assert any(note.startswith("this version of curate gives warnings split could not when it ran")
               for note in found["split"].notes)
    from curate import stage_rules

    _set_rules(ws, "split", stage_rules.version("split"))
    assert not any("this version of curate" in note for note in workspace_states(ws)["split"].notes)


def test_an_ingest_column_the_schema_gains_later_is_no_re_ingest(ws):
    """The same for ingest, which keeps no report: every stage records ingest's output as it read it, with the
    columns it covered, so a column the schema gains later (nulls in the catalog until a re-ingest) does not read
    as "ingest re-ran after filter". Simulated: today's reports as if `error_detail` came later."""
    from curate.fingerprints import input_columns, input_fingerprint, output_columns, output_fingerprint

    catalog = read_catalog(ws).assign(error_detail=None)
    write_catalog(ws, catalog)
    then = [c for c in output_columns("ingest") if c != "error_detail"]
    ingest_then = output_fingerprint(catalog, "ingest", None, then)
    for stage in ("filter", "prefilter", "split"):
        path = ws.reports_dir / f"{stage}.json"
        report = json.loads(path.read_text())
        assert report["freshness"]["upstream"]["ingest"]["columns"] == {"output": output_columns("ingest")}
        report["freshness"]["upstream"]["ingest"] = {"run_id": ingest_then, "output": ingest_then,
                                                     "columns": {"output": then}}
        if stage == "filter":  # its inputs are ingest's columns
            inputs = [c for c in input_columns("filter") if c != "error_detail"]
            report["freshness"]["columns"]["inputs"] = inputs
            report["freshness"]["inputs"] = input_fingerprint(catalog, "filter", (), inputs)
        path.write_text(json.dumps(report))
    found = workspace_states(ws)
    assert {name: found[name].state for name in ("filter", "prefilter", "split")} == \
        {"filter": FRESH, "prefilter": FRESH, "split": FRESH}, {n: s.reasons for n, s in found.items()}
    write_catalog(ws, catalog.assign(title="re-ingested with new titles"))  # a real change still shows
    assert "ingest re-ran after filter" in workspace_states(ws)["filter"].line


def test_kept_photos_without_a_split_are_named_under_a_staleness_by_rules(ws):
    """Review DB LOW-1: with the stages before it stale only by rules, the split's check for kept photos without a
    split was skipped, so the split read as stale by rules only and `classify evaluate` said nothing."""
    _set_rules(ws, "prefilter", None)
    catalog = read_catalog(ws)
    kept = catalog.index[catalog["status"] == "kept"][0]
    catalog.loc[kept, "split"] = None
    write_catalog(ws, catalog)
    found = workspace_states(ws)["split"]
    assert found.state == STALE and not found.rules_only
    assert any("kept photos have no split" in reason for reason in found.reasons)


@pytest.mark.parametrize("value, said", [(99, "ran under rules of a newer version of curate (version 99"),
                                         ("2", "rules version is unreadable ('2')")])
def test_a_report_from_a_newer_version_or_with_a_broken_rules_version_reads_stale(ws, value, said):
    _set_rules(ws, "split", value)
    found = workspace_states(ws)
    assert found["split"].state == STALE and said in found["split"].line
    assert found["prefilter"].state == FRESH


def test_rerunning_filter_makes_prefilter_and_split_stale_and_says_why(ws_refiltered):
    ws = ws_refiltered  # `curate filter --recipe skylines` ran again on the curated workspace (exit 0)
    catalog = read_catalog(ws)
    assert not (catalog["drop_stage"] == "prefilter").any()  # reinstated, as before
    found = workspace_states(ws)
    assert found["filter"].state == FRESH
    assert found["prefilter"].state == STALE and found["split"].state == STALE
    assert "filter re-ran after prefilter" in found["prefilter"].line
    assert f"curate prefilter --topic {TOPIC}" in found["prefilter"].line
    assert "curate split" in found["split"].line


def test_a_stage_rerun_with_the_same_result_leaves_later_stages_fresh(filtered_120, tmp_path):
    """Judged by what it depends on, not by when it ran: filter → split → filter again."""
    root = tmp_path / "ws"
    shutil.copytree(filtered_120, root)  # 120 photos, seed 6, filtered
    ws = Workspace(root)
    assert curate("split", "-w", str(root)).exit_code == 0
    assert curate("filter", "-w", str(root), "--recipe", "skylines").exit_code == 0
    assert states(ws)["split"] == FRESH
    assert curate("filter", "-w", str(root), "--recipe", "skylines", "--max-km", "2", "--force-geo").exit_code == 0
    assert states(ws)["split"] == STALE


def test_check_leakage_refuses_a_stale_split_instead_of_saying_no_leakage(ws_refiltered):
    ws = ws_refiltered  # `curate filter --recipe skylines` ran again on the curated workspace (exit 0)
    result = curate("check-leakage", "-w", str(ws.root))
    assert result.exit_code == 3
    assert "no leakage" not in result.output and "Traceback" not in result.output
    assert "curate split" in result.output and "stale" in result.output
    # the stale stages to run again, in order: the prefilter whose drops were reset, then the split
    # the prefilter's command with its last run's settings (--folds 3), so that running it undoes nothing
    # (named with -w: a pasted command would otherwise run on ./workspace, audit AN)
    assert f"run `curate prefilter --topic {TOPIC} --folds 3 -w {ws.root}`, then `curate split -w {ws.root}`" in \
        " ".join(result.output.split())


def test_classify_train_refuses_a_stale_split_with_one_line(ws_refiltered, tmp_path):
    ws = ws_refiltered  # `curate filter --recipe skylines` ran again on the curated workspace (exit 0)
    result = runner.invoke(classify_app, ["train", "-w", str(ws.root), "--out", str(tmp_path / "run"),
                                          "--epochs", "1", "--head-epochs", "1", "--image-size", "64"])
    assert result.exit_code == 3, result.output
    assert "curate split" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_classify_train_refuses_kept_photos_without_a_split_even_without_records(ws, tmp_path):
    """A catalog whose split lost photos (here: a report from before freshness was recorded)."""
    report_path = ws.root / "reports" / "split.json"
    report = json.loads(report_path.read_text())
    report.pop("freshness")
    report_path.write_text(json.dumps(report))
    catalog = read_catalog(ws)
    kept = catalog.index[catalog["status"] == "kept"]
    catalog.loc[kept[:5], "split"] = None
    write_catalog(ws, catalog)
    assert states(ws)["split"] == "unknown"
    result = runner.invoke(classify_app, ["train", "-w", str(ws.root), "--out", str(tmp_path / "run"),
                                          "--epochs", "1", "--head-epochs", "1", "--image-size", "64"])
    assert result.exit_code == 3, result.output
    assert f"5 of {len(kept)} kept photos have no split" in result.output
    assert f"run `curate split -w {ws.root}` again" in " ".join(result.output.split())  # audit AO: with -w


def test_kept_photos_without_a_split_make_the_split_stale_in_status(ws):
    """Audit AF 2: a forced prefilter cleared the split of the photos it dropped, a held one kept them again,
    and with every stage's own results as before, `curate status` said the split was fresh while
    check-leakage and classify train refused it. The split now reads stale, saying why."""
    assert states(ws)["split"] == FRESH
    catalog = read_catalog(ws)
    kept = catalog.index[catalog["status"] == "kept"]
    catalog.loc[kept[:5], "split"] = None
    write_catalog(ws, catalog)
    split = workspace_states(ws)["split"]
    assert split.state == STALE
    assert split.reasons == [f"5 of {len(kept)} kept photos have no split (a stage dropped them after the split and "
                             "has since kept them again)"]
    result = runner.invoke(app, ["status", "-w", str(ws.root), "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["stages"]["split"]["reasons"] == split.reasons


def test_filter_after_split_leaves_the_split_stale_until_it_runs_again(ws):
    assert curate("filter", "-w", str(ws.root), "--recipe", "skylines", "--max-km", "2", "--force-geo").exit_code == 0
    catalog = read_catalog(ws)
    assert ((catalog["status"] == "dropped") & catalog["split"].notna()).any()  # documented: not cleared ...
    assert states(ws)["split"] == STALE  # ... but the whole split reads as stale
    assert curate("split", "-w", str(ws.root)).exit_code == 0
    catalog = read_catalog(ws)
    assert catalog.loc[catalog["status"] == "dropped", "split"].isna().all()
    found = workspace_states(ws)
    assert found["split"].state == STALE and "prefilter is stale" in found["split"].line  # its input is, still
    prefilter(ws.root)
    assert states(ws)["split"] == STALE  # the prefilter's drops changed what the split holds
    assert curate("split", "-w", str(ws.root)).exit_code == 0
    assert set(states(ws).values()) == {FRESH, NOT_RUN}
    assert curate("check-leakage", "-w", str(ws.root)).exit_code == 0


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_a_split_after_a_filter_that_reset_the_prefilter_says_so(ws_refiltered, engine):
    """An acceptance audit: split, then filter (which reinstates the prefilter's drops), then split again
    gave exit 0 and no word while the off-topic photos were split in. The split is applied (training then
    refuses it as stale), with a warning naming the prefilter command to run first; none once it has."""
    ws = ws_refiltered  # `curate filter --recipe skylines` ran again on the curated workspace (exit 0)
    result = curate("split", "-w", str(ws.root), "--catalog-engine", engine)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "prefilter's results no longer match the catalog" in said and "run `curate prefilter --topic" in said
    prefilter(ws.root)
    again = curate("split", "-w", str(ws.root), "--catalog-engine", engine)
    assert again.exit_code == 0 and "no longer match the catalog" not in again.output


def test_split_before_filter_warns_that_it_groups_by_owner_only(tmp_path):
    root = tmp_path / "ws"
    demo_workspace(root, photos=120, seed=7, commands=())
    result = curate("split", "-w", str(root))
    assert result.exit_code == 0, result.output
    assert "warning: near-duplicate clusters are not known yet" in result.output
    report = json.loads((root / "reports" / "split.json").read_text())
    assert any("groups by owner" in warning for warning in report["warnings"])
    assert curate("filter", "-w", str(root), "--recipe", "skylines").exit_code == 0
    assert states(Workspace(root))["split"] == STALE  # the clusters it lacked are known now
    again = curate("split", "-w", str(root))
    assert again.exit_code == 0 and "near-duplicate clusters are not known" not in again.output


def retag_first_photo(ws: Workspace):
    """What a metadata-only re-ingest does to the catalog: the first photo's tags change. Returns the catalog."""
    catalog = read_catalog(ws)
    catalog.loc[catalog.index[0], "tags"] = ["changed", "by", "an", "ingest"]
    write_catalog(ws, catalog)
    return catalog


def test_metadata_changed_by_an_ingest_makes_filter_and_split_stale(default_ws):
    ws = default_ws  # a demo collection, filtered and split
    assert states(ws)["filter"] == FRESH
    retag_first_photo(ws)
    found = workspace_states(ws)
    assert found["filter"].state == STALE and found["split"].state == STALE
    assert "ingest" in found["filter"].line and "filter is stale" in found["split"].line


def test_a_metadata_only_reingest_leaves_embed_fresh_and_a_new_image_does_not(ws):
    """Embed reads the stored images only. An acceptance audit's tags-only re-ingest ("their images are
    unchanged") marked embed stale, so every later stage read stale and training asked for a `curate
    embed` that computed nothing. Changed tags make the filter stale, not embed; a changed image does."""
    from curate.stage_reports import save_stage_report
    from curate.workspace import catalog_sha256

    save_stage_report(ws, "embed", catalog_sha256(ws), {"cache_key": "fake"})
    assert states(ws)["embed"] == FRESH
    catalog = retag_first_photo(ws)
    found = workspace_states(ws)
    assert found["embed"].state == FRESH and found["filter"].state == STALE
    stored = catalog.index[catalog["image_path"].notna()][0]
    catalog.loc[stored, "sha256"] = "0" * 64  # ingest stored another image for this photo
    write_catalog(ws, catalog)
    embed = workspace_states(ws)["embed"]
    assert embed.state == STALE and embed.line.startswith("stale: ingest stored or dropped images after embed ran")


def test_an_unreadable_stage_report_reads_as_stale_not_a_crash(ws):
    (ws.root / "reports" / "prefilter.json").write_text("{not json")
    found = judge(read_catalog(ws), load_reports(ws))
    assert found["prefilter"].state == STALE and "unreadable" in found["prefilter"].line
    assert found["split"].state == STALE


def test_report_marks_stale_sections_instead_of_showing_them_as_current(ws):
    assert curate("report", "-w", str(ws.root)).exit_code == 0
    fresh = json.loads((ws.root / "report" / "report.json").read_text())
    assert not any("stale" in section for section in fresh["sections"].values())
    assert curate("filter", "-w", str(ws.root), "--recipe", "skylines").exit_code == 0
    assert curate("report", "-w", str(ws.root)).exit_code == 0
    report = json.loads((ws.root / "report" / "report.json").read_text())
    sections = report["sections"]
    assert "filter re-ran after prefilter" in sections["tags"]["stale"]
    assert f"curate prefilter --topic {TOPIC}" in sections["tags"]["stale"]
    assert "curate split" in sections["splits"]["stale"]
    assert "stale" not in sections["geography"] and "stale" not in sections["duplicates"]
    page = (ws.root / "report" / "index.html").read_text()
    assert 'class="bad stale"' in page and "filter re-ran after prefilter" in page
    assert report["freshness"]["prefilter"]["state"] == STALE


def test_curate_run_reruns_a_stale_step_even_when_the_catalog_is_unchanged(tmp_path):
    """A `curate embed` by hand with another backbone leaves the catalog as it was, but the
    prefilter read other embeddings: the next `curate run` must not skip it (nor the split)."""
    from curate import pipeline
    from curate.filters.run import run_filter
    from curate.filters.stage import FilterConfig
    from curate.prefilter.run import run_prefilter
    from curate.prefilter.stage import PrefilterConfig
    from curate.recipes import load_recipe
    from curate.split import SplitConfig, run_split
    from curate.stage_reports import save_stage_report
    from curate.workspace import catalog_sha256

    root = tmp_path / "ws"
    ws = demo_workspace(root, photos=200, seed=5, commands=())
    recipe = load_recipe("skylines")

    def embed(key: str):
        def action(ws):
            fake_embeddings(ws, key)
            save_stage_report(ws, "embed", catalog_sha256(ws), {"cache_key": key})
            return key
        return action

    steps = [pipeline.Step("embed", {}, embed("fake")),
             pipeline.Step("filter", {}, lambda ws: str(run_filter(ws, FilterConfig(), recipe))),
             pipeline.Step("prefilter", {}, lambda ws: str(run_prefilter(ws, PrefilterConfig(topic=TOPIC, folds=3)))),
             pipeline.Step("split", {}, lambda ws: str(run_split(ws, SplitConfig())))]
    first = pipeline.run_pipeline(ws, recipe, steps, echo=lambda line: None)
    assert [o.status for o in first] == ["ran"] * 4
    again = pipeline.run_pipeline(ws, recipe, steps, echo=lambda line: None)
    assert [o.status for o in again] == ["skipped"] * 4
    before = catalog_sha256(ws)
    embed("other")(ws)  # by hand, outside `curate run`: the catalog is untouched
    assert catalog_sha256(ws) == before
    # the prefilter reads the last embed's vectors; the filter only efficientnet_lite0's at 224 px, not "other"
    found = states(ws)
    assert found["prefilter"] == STALE and found["filter"] == FRESH
    third = pipeline.run_pipeline(ws, recipe, steps, echo=lambda line: None)
    assert [o.status for o in third] == ["skipped", "skipped", "ran", "ran"]
    found = states(ws)
    assert found["prefilter"] == FRESH and found["split"] == FRESH


def test_embed_after_the_filter_makes_it_stale_and_a_filter_rerun_leaves_embed_fresh(filtered_120, tmp_path):
    """The filter links near duplicates on embeddings, so embeddings that appear after it ran make
    it stale; embed covers every stored image, so the filter's drops do not make embed stale."""
    from curate.stage_reports import save_stage_report
    from curate.workspace import catalog_sha256

    root = tmp_path / "ws"
    shutil.copytree(filtered_120, root)  # 120 photos, seed 6, filtered
    ws = Workspace(root)
    assert states(ws)["filter"] == FRESH
    # audit BB: embeddings at another input size are none the filter reads: it stays fresh
    save_stage_report(ws, "embed", catalog_sha256(ws), {"cache_key": "efficientnet_lite0-160px"})
    assert states(ws)["filter"] == FRESH
    # the ones it reads (the report alone: the filter's evidence is not what this test is about)
    save_stage_report(ws, "embed", catalog_sha256(ws), {"cache_key": "efficientnet_lite0"})
    found = workspace_states(ws)
    assert found["embed"].state == FRESH and found["filter"].state == STALE
    assert "embed ran after filter" in found["filter"].line and "curate filter" in found["filter"].line
    # review BG: a later embed at another size does not hide the one the filter has not read
    save_stage_report(ws, "embed", catalog_sha256(ws), {"cache_key": "efficientnet_lite0-160px"})
    assert states(ws)["filter"] == STALE
    assert curate("filter", "-w", str(root), "--recipe", "skylines", "--max-km", "2", "--force-geo").exit_code == 0
    assert (read_catalog(ws)["drop_reason"] == "geo_outlier").any()  # the filter's drops changed
    found = states(ws)
    assert found["filter"] == FRESH and found["embed"] == FRESH
    # the filter ran after both: the default embed run again with nothing new leaves it fresh
    save_stage_report(ws, "embed", catalog_sha256(ws), {"cache_key": "efficientnet_lite0"})
    assert states(ws)["filter"] == FRESH


def test_the_command_to_run_a_stage_again_carries_its_last_settings():
    """Audit AF 7: status and the refusals suggested `curate filter` (which would undo a recipe's drop_quality
    and a forced hold) and, for a run whose topic was on every photo (`topic: null`, the topic in its config),
    `curate prefilter --topic TOPIC`."""
    from curate.freshness_advice import command_for

    assert command_for("prefilter", {"topic": None, "config": {"topic": "city"}}) == "curate prefilter --topic city"
    assert command_for("prefilter", None) == "curate prefilter --topic TOPIC"
    # audit AN: a pasted command ran on ./workspace, not on the workspace status judged
    assert command_for("split", {"config": {"test": 0.3}}, "-w 'my ws'") == "curate split --test 0.3 -w 'my ws'"
    # audit AL: a label-issues-only run fits no topic model, and the prefilter refuses a --topic beside it
    assert command_for("prefilter", {"topic": None, "config": {"label_issues_only": True, "folds": 4}}) == \
        "curate prefilter --folds 4 --label-issues-only"
    # ... and the settings of the last run, so that running it undoes nothing (a recipe's, a flag's)
    filtered = {"recipe": "datasets/my scrape.toml", "config": {"max_km": 5.0, "drop_quality": ["dark"],
                                                                "force_quality": True, "max_per_owner": 3}}
    assert command_for("filter", filtered) == ("curate filter --recipe 'datasets/my scrape.toml' --max-per-owner 3 "
                                               "--drop-quality dark --force-quality")
    # audit DA: a setting turned off is stored as null, and was left out: the command turned it on again
    assert command_for("filter", {"config": {"near_dup_cosine": None, "near_dup_bits": 8}}) == \
        "curate filter --near-dup-cosine off"
    assert command_for("split", {"config": {"val": 0.1, "test": 0.3, "by": "owner", "seed": 0}}) == \
        "curate split --test 0.3"


def test_the_suggested_commands_name_the_workspace_unless_it_is_the_default(tmp_path, monkeypatch):
    """Audit AN: `curate status -w wsD` and the stale-split refusals suggested `curate prefilter --topic urban`;
    pasted, it ran on ./workspace (or failed there) and left wsD stale. The workspace is named unless it is the
    one a command finds with no flag ($CURATE_WORKSPACE, else ./workspace)."""
    from curate.freshness_advice import workspace_flag
    from curate.workspace import Workspace

    monkeypatch.delenv("CURATE_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert workspace_flag(Workspace(tmp_path / "workspace")) == ""
    assert workspace_flag(Workspace(Path("workspace"))) == ""
    assert workspace_flag(Workspace(Path("my ws"))) == "-w 'my ws'"
    monkeypatch.setenv("CURATE_WORKSPACE", str(tmp_path / "my ws"))
    assert workspace_flag(Workspace(Path("my ws"))) == ""
    assert workspace_flag(Workspace(tmp_path / "workspace")) == f"-w {tmp_path / 'workspace'}"


def test_a_note_to_run_another_stage_goes_once_that_stage_has_run_and_names_its_command():
    """Audit AP: `curate status` printed the filter's "photos the prefilter had dropped were reinstated: run
    `curate prefilter` again" after the prefilter had run again, and the bare command was refused (no --topic).
    Such a note is left out once the stage it names has run since; until then it names the stage's command."""
    from curate.freshness import StageState, current_notes

    note = "photos the prefilter had dropped were reinstated: run `curate prefilter` again"
    states = {"filter": StageState("filter", "fresh", "curate filter"),
              "prefilter": StageState("prefilter", "stale", "curate prefilter --topic city -w ws")}
    reports = {"filter": {"finished_at": "2026-12-06T08:00:00+00:00"},
               "prefilter": {"finished_at": "2026-12-06T07:00:00+00:00"}}
    assert current_notes([note, "other note"], "filter", reports, states) == [
        "photos the prefilter had dropped were reinstated: run `curate prefilter --topic city -w ws` again",
        "other note"]
    reports["prefilter"]["finished_at"] = "2026-12-06T09:00:00+00:00"
    assert current_notes([note, "other note"], "filter", reports, states) == ["other note"]


def test_a_note_to_run_another_stage_goes_when_that_stage_ran_on_this_run_in_the_same_second():
    """Audit DA 6: `curate run` split right after the prefilter, both reports finished in the same second, and
    status kept the prefilter's "run `curate split` again" (a tie keeps a note: audit AQ). A split whose recorded
    upstream is this very prefilter run has obeyed it."""
    from curate.freshness import StageState, current_notes

    note = "the catalog was split before this prefilter: run `curate split` again so shares are right"
    states = {"prefilter": StageState("prefilter", "fresh", "curate prefilter"),
              "split": StageState("split", "fresh", "curate split -w ws")}
    second = "2026-12-07T13:38:30+00:00"
    reports = {"prefilter": {"finished_at": second, "freshness": {"run_id": "p2"}},
               "split": {"finished_at": second, "freshness": {"upstream": {"prefilter": {"run_id": "p1"}}}}}
    named = note.replace("`curate split`", "`curate split -w ws`")
    assert current_notes([note], "prefilter", reports, states) == [named]
    reports["split"]["freshness"]["upstream"]["prefilter"]["run_id"] = "p2"
    assert current_notes([note], "prefilter", reports, states) == []


def test_an_unfinished_second_folder_ingest_is_named_as_a_command_with_a_way_out(default_ws):
    """Audit AU: a second folder's ingest journal is `ingest-folder@<name>.jsonl`, and status offered `curate
    ingest folder@src3 ...`, no command; nothing said how to give up an ingest that cannot be finished."""
    from curate.freshness import STALE
    from curate.freshness_workspace import workspace_states

    ws = default_ws  # the default demo collection, filtered and split
    ws.journal_dir.mkdir(parents=True, exist_ok=True)
    (ws.journal_dir / "ingest-folder@trip.jsonl").write_text('{"photo_id": "folder@trip:a.jpg"}\n')
    state = workspace_states(ws)["ingest"]
    assert state.state == STALE and state.command.startswith("curate ingest folder ... (the same command again)")
    assert "delete that file to keep the catalog as it is" in state.reasons[0]
    (ws.journal_dir / "ingest-folder@trip.jsonl").unlink()  # the way out it names
    assert workspace_states(ws)["ingest"].state != STALE


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_a_split_killed_after_its_catalog_write_reads_as_stale_until_run_again(default_ws, tmp_path, monkeypatch,
                                                                              engine):
    """Audit AR 3: `curate split --seed 7` killed between its catalog write and its report read as the old seed-0
    split, "fresh" (141 photos had moved); a first filter killed there read "not run", its drops in the catalog."""
    from typer.testing import CliRunner

    from curate.cli.app import app
    from curate.freshness import STALE
    from curate.freshness_workspace import workspace_states

    ws = default_ws  # the default demo collection, filtered and split
    assert workspace_states(ws)["split"].state != STALE

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # as a Ctrl-C or SIGTERM there: the catalog written, no report yet

    target = ("curate.outofcore.write_back.save_stage_report" if engine == "duckdb"
              else "curate.stage_reports.save_stage_report")
    with monkeypatch.context() as patch:
        patch.setattr(target, killed)
        cut = CliRunner().invoke(app, ["split", "-w", str(ws.root), "--seed", "7", "--catalog-engine", engine])
    assert cut.exit_code == 130
    split = workspace_states(ws)["split"]
    assert split.state == STALE and "cut short after it wrote the catalog" in split.reasons[0]
    refused = CliRunner().invoke(app, ["export", "-f", "csv", "-o", str(tmp_path / "out"), "-w", str(ws.root)])
    assert refused.exit_code == 3, refused.output
    again = CliRunner().invoke(app, ["split", "-w", str(ws.root), "--seed", "7", "--catalog-engine", engine])
    assert again.exit_code == 0 and workspace_states(ws)["split"].state != STALE
    assert not (ws.root / "reports" / "split.pending").exists()


def test_the_catalog_reads_whole_while_another_thread_replaces_it(default_ws):
    """A torn read of the catalog while `curate review` saved it (a flaky browser test): `pq.read_table(path)`
    opened the path twice and paired the old file's footer with the new one's pages, about 3 reads in 10
    while the file was being replaced. Read through one handle, every read is one whole catalog."""
    import threading

    from curate.workspace import Workspace, read_catalog, write_catalog

    ws = default_ws  # a curated demo catalog, cut to 80 photos: the two versions hold 80 and 50
    versions = [read_catalog(ws).iloc[:80], read_catalog(ws).iloc[:50]]
    write_catalog(ws, versions[0])
    done = threading.Event()

    def rewrite():
        turn = 0
        while not done.is_set():
            write_catalog(Workspace(ws.root), versions[turn % 2])
            turn += 1

    writer = threading.Thread(target=rewrite)
    writer.start()
    try:
        sizes = {len(read_catalog(ws)) for _ in range(60)}  # ~18 torn reads in 60 before the fix
    finally:
        done.set()
        writer.join()
    assert sizes <= {80, 50}


def test_a_filter_run_before_the_soft_original_keep_rule_reads_stale_and_a_split_gets_a_note():
    """Review EE: the keep rule changed which copy --dedupe-near keeps (a soft original over its own downscale) and
    which byte-identical copy stays (one with an owner), and the split gained two warnings, with no new rules
    version: a workspace filtered and split before read fresh, `curate run` skipped the filter, and the better
    copies never came back."""
    from curate import stage_rules

    reason = stage_rules.stale_reason("filter", {"rules": 6})
    assert reason is not None and "soft original" in reason and "owner" in reason
    note = stage_rules.new_warnings_note("split", {"rules": 2})
    assert note is not None and "train share" in note and "collage" in note
    assert stage_rules.stale_reason("split", {"rules": 2}) is None  # warnings only: nothing needs running again
