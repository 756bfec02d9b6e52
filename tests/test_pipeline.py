"""Dataset recipes and `curate run`: validation names the first bad field; a run is resumable."""

from __future__ import annotations

import json
import subprocess

import pytest
from typer.testing import CliRunner

from curate import pipeline
from curate.cli.app import app
from curate.errors import UsageError
from curate.leakage import find_leakage
from curate.recipes import DATASETS_DIR, load_recipe
from curate.workspace import Workspace, catalog_sha256, read_catalog, write_catalog

runner = CliRunner()

BASE = '''
name = "tiny"
labels_from = "skylines"
[[sources]]
kind = "demo"
photos = 160
seed = 4
image_width = 64
image_height = 48
'''

# Small enough for seconds on a CPU: 64 px embeddings, a head-only training at 48 px.
TINY_STAGES = '''
[embed]
image_size = 64
workers = 0
[prefilter]
folds = 3
[train]
image_size = 48
cache_side = 56
batch_size = 16
workers = 0
head_epochs = 1
epochs = 0
[evaluate]
uncurated = true
[report]
max_gallery = 8
'''


def scene_folders(tmp_path, per_class: int) -> tuple:
    """`per_class` real 15-Scene train photos of Coast, Forest and Kitchen in tmp_path/photos/<class>/ (skips the
    test without ../shared/realdata); returns (the 15-Scene train folder, the classes)."""
    import shutil

    from tests.helpers import REALDATA

    scenes = REALDATA / "scenes15" / "train"
    if not scenes.is_dir():
        pytest.skip(f"real data not found at {scenes} (../shared/realdata is absent in this checkout)")
    classes = ("Coast", "Forest", "Kitchen")
    for name in classes:
        (tmp_path / "photos" / name).mkdir(parents=True)
        for source in sorted((scenes / name).glob("*.jpg"))[:per_class]:
            shutil.copy(source, tmp_path / "photos" / name / source.name)
    return scenes, classes


def write_recipe(tmp_path, text: str, name: str = "tiny.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- validation

@pytest.mark.parametrize("extra, expected", [
    ('colour = "red"\n', "unknown key 'colour'"),
    ("[filter]\nmax_kms = 5\n", "[filter]: unknown setting 'max_kms'"),
    ('[filter]\nmax_km = "five"\n', "[filter]: max_km must be a number"),
    ("[filter]\nmax_km = -1\n", "[filter]: max_km must be a positive"),
    ("[split]\nval = 0.6\ntest = 0.5\n", "[split]: val + test"),
    ('[split]\nby = "none"\n', "[split]: by = \"none\" splits photo by photo"),
    ("[train]\nepochs = 1.5\n", "[train]: epochs must be a whole number"),
    ("[evaluate]\nuncurated = 1\n", "[evaluate]: uncurated must be true or false"),
    ('[embed]\nbackbone = "vgg99"\n', "[embed]: unknown backbone 'vgg99'"),
    ("filter = 3\n", "[filter] must be a table"),
    ('[[sources]]\nkind = "instagram"\n', "#2 kind must be one of"),
    ('[[sources]]\nkind = "demo"\nphotoz = 3\n', "#2 (demo): unknown setting 'photoz'"),
    ('[[sources]]\nkind = "urls"\n', "#2 (urls): missing setting 'path'"),
    ('[[sources]]\nkind = "flickr"\ntags = "chicago"\n', "#2 (flickr): tags must be a list, e.g. ['chicago'], got "
     "'chicago'"),
    ('[filter]\ndrop_quality = "all"\n', "[filter]: drop_quality must be a list, e.g. ['all'], got 'all'"),  # audit AN
    ('[[sources]]\nkind = "commons"\ncategory = "Skylines"\nradius_m = "far"\n', "#2 (commons): radius_m must be"),
    ('[[sources]]\nkind = "flickr"\ntags = ["chicago"]\nendpoint = "file:///etc/passwd"\n',
     "#2 (flickr): endpoint 'file:///etc/passwd' is not an http(s) URL"),
])
def test_a_bad_recipe_names_its_first_invalid_field(tmp_path, extra, expected):
    # TOML: top-level keys must come before the first table.
    text = BASE + extra if extra.startswith("[") else BASE.replace('name = "tiny"\n', 'name = "tiny"\n' + extra)
    path = write_recipe(tmp_path, text)
    with pytest.raises(UsageError) as caught:
        pipeline.plan(load_recipe(str(path)), train=True)
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)


def test_the_command_line_error_keeps_the_section_name(tmp_path):
    """"[train]" in a message is text, not console markup: the user must see which section is wrong."""
    path = write_recipe(tmp_path, BASE + "[train]\nepochs = 1.5\n")
    result = runner.invoke(app, ["run", str(path), "--train", "--dry-run", "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 2
    assert f"recipe {path} [train]: epochs must be a whole number" in " ".join(result.output.split())


def test_a_dry_run_checks_from_and_marks_the_steps_it_would_run_again(tmp_path):
    path = write_recipe(tmp_path, BASE)
    ws = tmp_path / "ws"
    result = runner.invoke(app, ["run", str(path), "--from", "nosuchstep", "--dry-run", "--workspace", str(ws)])
    assert result.exit_code == 2 and "'nosuchstep' is not a step of this recipe" in " ".join(result.output.split())
    assert "--train" not in result.output
    result = runner.invoke(app, ["run", str(path), "--from", "train", "--dry-run", "--workspace", str(ws)])
    assert result.exit_code == 2 and "add --train to run the training steps" in " ".join(result.output.split())
    result = runner.invoke(app, ["run", str(path), "--from", "split", "--dry-run", "--workspace", str(ws)])
    assert result.exit_code == 0, result.output
    again = [line.split("] ")[1].split(" (")[0] for line in result.output.splitlines() if "runs again" in line]
    assert again[0] == "split" and "filter" not in again and "report" in again
    assert not ws.exists()  # a dry run writes nothing


def test_a_dry_run_refuses_what_the_run_would_refuse_only_at_its_last_step(tmp_path):
    """Audit AN: `--dry-run` passed an [export] out URL holding credentials and a workspace path that is a
    file; the real run refused them after every earlier step had run (the export at step 8)."""
    path = write_recipe(tmp_path, BASE + '[export]\nout = "s3://u:CSECRET@bucket/x"\n')
    result = runner.invoke(app, ["run", str(path), "--dry-run", "--workspace", str(tmp_path / "ws")])
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "[export] out s3://***@bucket/x holds credentials" in said, said
    assert "CSECRET" not in said
    a_file = tmp_path / "wsfile"
    a_file.write_text("not a workspace")
    result = runner.invoke(app, ["run", str(write_recipe(tmp_path, BASE)), "--dry-run", "--workspace", str(a_file)])
    assert result.exit_code == 2 and "is a file, not a folder" in result.output, result.output


def test_a_dry_run_names_a_source_path_that_is_not_there(tmp_path):
    path = write_recipe(tmp_path, BASE + '[[sources]]\nkind = "folder"\nfolder = "photos"\nmetadata = "meta.csv"\n'
                        '[[sources]]\nkind = "urls"\npath = "urls.csv"\n')
    ws = tmp_path / "ws"
    (tmp_path / "photos").mkdir()
    result = runner.invoke(app, ["run", str(path), "--dry-run", "--workspace", str(ws)])
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "(ingest folder): metadata" in said and "meta.csv does not exist" in said, said
    assert "fix 'metadata' in the recipe" in said and "(and 1 more missing)" in said
    real = runner.invoke(app, ["run", str(path), "--workspace", str(ws)])  # a real run: the same line, before a step
    assert real.exit_code == 2 and "fix 'metadata' in the recipe" in " ".join(real.output.split())
    assert "[1/" not in real.output and not ws.exists()
    (tmp_path / "meta.csv").write_text("file,label\n", encoding="utf-8")
    (tmp_path / "urls.csv").write_text("url\n", encoding="utf-8")
    result = runner.invoke(app, ["run", str(path), "--dry-run", "--workspace", str(ws)])
    assert result.exit_code == 0, result.output
    assert not ws.exists()


def test_a_source_path_that_is_empty_or_of_the_wrong_kind_is_refused_before_a_step(tmp_path):
    """Audit H: `folder = ""` ingested the recipe's own folder, and `folder` naming a file passed `--dry-run`,
    failing only at step 1 of the real run."""
    (tmp_path / "ok.toml").write_text("")
    blank = write_recipe(tmp_path, BASE + '[[sources]]\nkind = "folder"\nfolder = ""\n')
    result = runner.invoke(app, ["run", str(blank), "--dry-run", "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 2 and "folder is empty; give a path" in " ".join(result.output.split())
    a_file = write_recipe(tmp_path, BASE + '[[sources]]\nkind = "folder"\nfolder = "ok.toml"\n')
    for extra in (["--dry-run"], []):
        result = runner.invoke(app, ["run", str(a_file), *extra, "--workspace", str(tmp_path / "ws")])
        said = " ".join(result.output.split())
        assert result.exit_code == 2 and "ok.toml is a file, not a folder; fix 'folder' in the recipe" in said, said
        assert "[1/" not in result.output
    assert not (tmp_path / "ws").exists()


@pytest.mark.parametrize("labels, expected", [
    ('[[labels]]\nname = "a"\nlat = 95.0\nlon = 0.0\n', "lat must be a number of degrees"),
    ('[[labels]]\nname = "a"\nlat = 1.0\n', "give both lat and lon"),
    ('[[labels]]\nname = "a"\n[[labels]]\nname = "a"\n', "appears twice"),
    ('[[labels]]\nname = "a"\naliases = "b"\n', "aliases must be a list of strings"),
    ('[[labels]]\ndisplay = "A"\n', "#1 needs a name"),
    ('[[labels]]\nname = "a"\ncolor = 1\n', "unknown key 'color'"),
])
def test_bad_labels_are_named(tmp_path, labels, expected):
    path = write_recipe(tmp_path, 'name = "x"\n' + labels)
    with pytest.raises(UsageError, match="label|labels") as caught:
        load_recipe(str(path))
    assert expected in str(caught.value)


def test_a_recipe_needs_sources_and_a_demo_source_needs_the_demo_labels(tmp_path):
    no_sources = write_recipe(tmp_path, 'labels_from = "skylines"\n', "a.toml")
    with pytest.raises(UsageError, match=r"no \[\[sources\]\]"):
        pipeline.plan(load_recipe(str(no_sources)))
    other_labels = write_recipe(tmp_path, 'topic = "t"\n[[labels]]\nname = "a"\n[[sources]]\nkind = "demo"\n', "b.toml")
    with pytest.raises(UsageError, match="labels_from = \"skylines\""):
        pipeline.plan(load_recipe(str(other_labels)))


def test_shipped_recipes_are_valid():
    demo = load_recipe("demo")
    assert [step.name for step in pipeline.plan(demo, train=True)] == [
        "ingest demo", "embed", "filter", "prefilter", "split", "check-leakage", "score", "train", "evaluate",
        "report"]  # embed before the filter: its near-duplicate links read the embeddings
    skylines = load_recipe("skylines")
    assert demo.labels == skylines.labels and demo.topic == skylines.topic == "skyline"
    world = load_recipe("world-skylines")
    kinds = [entry["kind"] for entry in world.sources]
    assert kinds.count("flickr") == kinds.count("commons") == len(skylines.labels)
    assert {entry["label"] for entry in world.sources if entry["kind"] == "commons"} == set(skylines.label_names)
    steps = pipeline.plan(world, train=True)
    assert len(steps) == len(world.sources) + 8 and len({step.name for step in steps}) == len(steps)
    assert {path.stem for path in DATASETS_DIR.glob("*.toml")} >= {"demo", "world-skylines", "skylines"}



def test_api_source_settings_reach_the_api_client_or_the_download():
    from curate.ingest.commons import CommonsOptions, CommonsQuery
    from curate.ingest.flickr import FlickrOptions, FlickrQuery
    from curate.ingest.http import DownloadConfig

    flickr = {"kind": "flickr", "tags": ["chicago"], "retries": 1, "api_retries": 2}
    parts = pipeline._split_keys(flickr, {"query": FlickrQuery, "options": FlickrOptions,
                                          "download": DownloadConfig}, "x")
    assert parts["download"] == {"retries": 1} and parts["options"] == {"api_retries": 2}
    commons = {"kind": "commons", "category": "Skylines", "retry_after_cap_s": 1.0, "api_retry_after_cap_s": 2.0}
    parts = pipeline._split_keys(commons, {"query": CommonsQuery, "options": CommonsOptions,
                                           "download": DownloadConfig}, "x")
    assert parts["download"] == {"retry_after_cap_s": 1.0} and parts["options"] == {"api_retry_after_cap_s": 2.0}

def test_cli_bad_recipe_is_one_line_exit_2(tmp_path):
    path = write_recipe(tmp_path, BASE + "[filter]\nmax_kms = 5\n")
    result = runner.invoke(app, ["run", str(path), "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 2
    assert "max_kms" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    missing = runner.invoke(app, ["run", "no-such-recipe", "--workspace", str(tmp_path / "ws")])
    assert missing.exit_code == 2 and "known recipes" in missing.output
    assert not (tmp_path / "ws" / "catalog.parquet").exists()


# ---------------------------------------------------------------- running

def run_lines(result) -> dict[str, str]:
    """{step name: 'ran' | 'skipped'} from `curate run` output."""
    states = {}
    for line in result.output.splitlines():
        if line.startswith("[") and "] " in line and ":" in line:
            name, _, rest = line.split("] ", 1)[1].partition(":")
            states[name] = "skipped" if "skipped" in rest else "ran"
    return states


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The tiny recipe run once end to end with --train."""
    root = tmp_path_factory.mktemp("pipeline")
    path = write_recipe(root, BASE + TINY_STAGES)
    ws = Workspace(root / "ws")
    result = runner.invoke(app, ["run", str(path), "--workspace", str(ws.root), "--train"])
    assert result.exit_code == 0, result.output
    return path, ws, result


def test_run_does_every_step_and_leaves_a_leak_free_trained_workspace(trained):
    path, ws, result = trained
    assert list(run_lines(result).values()) == ["ran"] * 10
    catalog = read_catalog(ws)
    kept = catalog[catalog["status"] == "kept"]
    assert set(kept["split"]) == {"train", "val", "test"}
    assert kept["topic_score"].notna().all()
    assert find_leakage(catalog).empty
    assert (ws.root / "report" / "index.html").is_file()
    assert str(ws.root / "report" / "index.html") in result.output.replace("\n", "")
    evaluation = json.loads((ws.root / "runs" / "tiny" / "evaluation" / "evaluation.json").read_text())
    assert "uncurated" in evaluation["comparisons"]
    report = json.loads((ws.root / "report" / "report.json").read_text())
    assert "absent" not in report["sections"]["training"]  # the report came after the training


def test_a_second_run_skips_everything(trained):
    path, ws, _ = trained
    before = catalog_sha256(ws)
    again = runner.invoke(app, ["run", str(path), "--workspace", str(ws.root), "--train"])
    assert again.exit_code == 0, again.output
    assert set(run_lines(again).values()) == {"skipped"}
    assert catalog_sha256(ws) == before


def test_changed_settings_rerun_from_that_step_and_an_interrupted_run_resumes(trained, monkeypatch, tmp_path):
    import shutil

    path, trained_ws, _ = trained
    ws = Workspace(tmp_path / "ws")  # a private copy: the trained workspace and its recipe stay as they were
    shutil.copytree(trained_ws.root, ws.root)
    changed = write_recipe(tmp_path, path.read_text() + "[filter]\nmax_km = 3.0\nforce_geo = true\n", "tiny.toml")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline.steps, "_split", interrupted)  # the step actions moved to curate.pipeline.steps
    first = runner.invoke(app, ["run", str(changed), "--workspace", str(ws.root)])
    assert first.exit_code != 0
    states = run_lines(first)
    assert states["ingest demo"] == "skipped" and states["filter"] == "ran" and states["prefilter"] == "ran"
    assert read_catalog(ws)["geo_distance_km"].max() > 3.0  # max_km 3 took effect: far photos are dropped
    after = read_catalog(ws)  # far photos are dropped, unless the prefilter's geo rescue vouched for their label
    kept = after[(after["status"] == "kept") & ~after["geo_rescued"].eq(True)]
    assert (kept["geo_distance_km"].dropna() <= 3.0).all()
    monkeypatch.undo()
    resumed = runner.invoke(app, ["run", str(changed), "--workspace", str(ws.root)])
    assert resumed.exit_code == 0, resumed.output
    states = run_lines(resumed)
    assert [states[name] for name in ("ingest demo", "filter", "embed", "prefilter")] == ["skipped"] * 4
    assert [states[name] for name in ("split", "check-leakage", "score", "report")] == ["ran"] * 4
    assert find_leakage(read_catalog(ws)).empty
    restart = runner.invoke(app, ["run", str(changed), "--workspace", str(ws.root), "--from", "split"])
    assert restart.exit_code == 0, restart.output
    assert run_lines(restart)["filter"] == "skipped" and run_lines(restart)["split"] == "ran"
    bad = runner.invoke(app, ["run", str(changed), "--workspace", str(ws.root), "--from", "nope"])
    assert bad.exit_code == 2 and "steps:" in bad.output


def test_a_dry_run_says_which_steps_a_run_now_would_skip_and_which_it_would_run(trained, tmp_path):
    """Audit BV F-8: `--dry-run` listed the same steps whether every one was done or a change would run the
    filter again. It now says which, and still writes nothing."""
    import shutil

    path, trained_ws, _ = trained
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(trained_ws.root, ws.root)
    before = sorted((p.relative_to(ws.root), p.stat().st_mtime_ns) for p in ws.root.rglob("*") if p.is_file())
    done = runner.invoke(app, ["run", str(path), "--train", "--dry-run", "--workspace", str(ws.root)])
    assert done.exit_code == 0, done.output
    lines = [line for line in done.output.splitlines() if line.startswith("[")]
    assert lines and all(line.endswith(": done in an earlier run, would be skipped") for line in lines), lines
    changed = write_recipe(tmp_path, path.read_text() + "[filter]\nmax_km = 3.0\nforce_geo = true\n", "tiny.toml")
    result = runner.invoke(app, ["run", str(changed), "--train", "--dry-run", "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    said = {line.split("] ")[1].split(":")[0]: line.split(": ", 1)[1] for line in result.output.splitlines()
            if line.startswith("[")}
    assert said["ingest demo"] == "done in an earlier run, would be skipped" and said["filter"] == "would run"
    assert said["report"] == "would run"
    assert sorted((p.relative_to(ws.root), p.stat().st_mtime_ns) for p in ws.root.rglob("*") if p.is_file()) == before


def _upgraded_copy(trained, tmp_path) -> tuple:
    """(the recipe, a copy of the trained workspace whose prefilter report is as the previous version wrote it)."""
    import shutil

    path, trained_ws, _ = trained
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(trained_ws.root, ws.root)
    report = json.loads((ws.reports_dir / "prefilter.json").read_text())
    del report["freshness"]["rules"]
    (ws.reports_dir / "prefilter.json").write_text(json.dumps(report))
    return path, ws


def test_a_run_after_an_upgrade_runs_the_stages_whose_rules_changed(trained, tmp_path):
    """Audit CU MED-3: on a workspace of the previous version `curate run` skipped every step, so the prefilter's
    new warnings never appeared. A stage whose report records older rules runs again, with the steps after it."""
    path, ws = _upgraded_copy(trained, tmp_path)
    result = runner.invoke(app, ["run", str(path), "--train", "--dry-run", "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    said = {line.split("] ")[1].split(":")[0]: line.split(": ", 1)[1] for line in result.output.splitlines()
            if line.startswith("[")}
    assert said["filter"] == said["embed"] == "done in an earlier run, would be skipped"
    assert said["prefilter"] == said["split"] == said["report"] == "would run"
    # audit DA: and why (the first step that runs)
    assert "why step 4 would run: prefilter: prefilter's rules changed since it ran" in " ".join(result.output.split())


def _dry_run(path, ws: Workspace) -> tuple[dict[str, str], str]:
    """({step: what a run would do}, the whole output) of `curate run --train --dry-run`."""
    result = runner.invoke(app, ["run", str(path), "--train", "--dry-run", "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    return {line.split("] ")[1].split(":")[0]: line.split(": ", 1)[1] for line in result.output.splitlines()
            if line.startswith("[")}, result.output


def test_a_run_after_a_review_goes_on_from_the_split_not_from_the_start(trained, tmp_path):
    """Audit CU MED-4: one photo dropped in review, then `curate run`: the catalog had changed "by hand", so every
    step ran again, and the re-run prefilter's held cut flipped on the one photo fewer (113 drops became 0). The
    stages before the split judge the catalog before review: they stay done; a change by hand after the review
    still runs everything."""
    path, trained_ws, _ = trained
    ws = Workspace(tmp_path / "ws")
    subprocess.run(["cp", "-a", str(trained_ws.root), str(ws.root)], check=True)
    kept = read_catalog(ws).query("status == 'kept'")["photo_id"].tolist()
    for n, photo_id in enumerate(kept[:2]):  # two review writes in a row: a chain
        decisions = tmp_path / f"d{n}.jsonl"
        decisions.write_text(json.dumps({"id": f"d{n}", "photo_id": photo_id, "action": "drop", "reviewer": "t",
                                         "at": "2026-12-07T13:00:00+00:00"}) + "\n")
        imported = runner.invoke(app, ["review", "-w", str(ws.root), "--import-decisions", str(decisions)])
        assert imported.exit_code == 0, imported.output
    said, output = _dry_run(path, ws)
    assert "changed after this recipe's last run" not in output
    assert "why step 5 would run: split:" in " ".join(output.split())
    assert [said[name] for name in ("ingest demo", "embed", "filter", "prefilter")] == \
        ["done in an earlier run, would be skipped"] * 4
    assert said["split"] == said["check-leakage"] == said["report"] == "would run"
    from curate.pipeline.runner import changed_by_hand

    assert not changed_by_hand(ws, load_recipe(str(path)))
    write_catalog(ws, read_catalog(ws).assign(title="edited by hand"))  # then a change by hand: all again
    said, output = _dry_run(path, ws)
    assert changed_by_hand(ws, load_recipe(str(path)))
    assert "why step 1 would run: the catalog changed after this recipe's last run" in " ".join(output.split())
    assert said["filter"] == said["prefilter"] == "would run"


def test_a_catalog_changed_by_hand_is_named_before_every_step_runs_again(trained, tmp_path):
    """Audit AF 8: `curate filter --force-quality` by hand, then `curate run`: every step ran again and the forced
    drops were gone, with no line saying why. The run now says so first; an unchanged catalog says nothing."""
    from curate.pipeline.runner import changed_by_hand, run_pipeline
    from curate.recipes import load_recipe

    path, ws, _ = trained
    recipe = load_recipe(str(path))
    assert not changed_by_hand(ws, recipe)
    copy = Workspace(tmp_path / "ws")
    subprocess.run(["cp", "-a", str(ws.root), str(copy.root)], check=True)
    catalog = read_catalog(copy)
    write_catalog(copy, catalog.assign(title="edited by hand"))
    assert changed_by_hand(copy, recipe)
    said = []
    run_pipeline(copy, recipe, [], echo=lambda line: None, warn=said.append)
    assert len(said) == 1 and said[0].startswith("the catalog changed after this recipe's last run here")
    assert "put it in the recipe" in said[0]
    said.clear()
    untouched = Workspace(tmp_path / "untouched")
    subprocess.run(["cp", "-a", str(ws.root), str(untouched.root)], check=True)
    run_pipeline(untouched, recipe, [], echo=lambda line: None, warn=said.append)
    assert said == []


def test_a_flickr_source_in_a_recipe_ingests_from_the_api(tmp_path, monkeypatch):
    from tests.fake_flickr import API_KEY, FakeFlickr, make_photos

    monkeypatch.setenv("NO_PROXY", "127.0.0.0/8,localhost")
    monkeypatch.setenv("FLICKR_API_KEY", API_KEY)
    with FakeFlickr(make_photos(30, tags=("chicago", "skyline"))) as fake:
        path = write_recipe(tmp_path, f'''labels_from = "skylines"
[[sources]]
kind = "flickr"
tags = ["chicago"]
endpoint = "{fake.endpoint}"
calls_per_hour = 36000000
workers = 4
''')
        recipe = load_recipe(str(path))
        ingest = pipeline.plan(recipe)[:1]
        ws = Workspace(tmp_path / "ws")
        outcomes = pipeline.run_pipeline(ws, recipe, ingest, echo=lambda line: None)
    assert [outcome.name for outcome in outcomes] == ["ingest flickr chicago"]
    catalog = read_catalog(ws)
    assert len(catalog) == 30 and set(catalog["label"]) == {"chicago"}  # tags matched to the recipe's labels
    assert catalog["page_url"].str.startswith("https://www.flickr.com/photos/").all()
    assert catalog["license"].notna().all() and catalog["sha256"].notna().all()
    for written in ws.root.rglob("*"):
        if written.is_file():
            assert API_KEY.encode() not in written.read_bytes(), written


def test_a_recipe_whose_photos_lack_its_topic_tag_stops_before_the_embed(tmp_path):
    """Found by an audit: a folder source without tags passed --dry-run, ingested, embedded every photo
    (minutes), then the prefilter stopped for want of tagged photos, naming a CLI flag."""
    from tests.helpers import jpeg_bytes

    for label in ("coast", "forest"):
        (tmp_path / "photos" / label).mkdir(parents=True)
        for k in range(3):
            (tmp_path / "photos" / label / f"{k}.jpg").write_bytes(jpeg_bytes(color=(40 * k, 90, 30)))
    path = write_recipe(tmp_path, 'name = "folder"\ntopic = "urban"\n[[labels]]\nname = "coast"\n[[labels]]\n'
                                  'name = "forest"\n[[sources]]\nkind = "folder"\nfolder = "photos"\n')
    ws = Workspace(tmp_path / "ws")
    result = runner.invoke(app, ["run", str(path), "--workspace", str(ws.root)])
    assert result.exit_code == 2, result.output
    assert "no kept photo carries the tag 'urban' (the recipe's topic" in result.output
    assert "Traceback" not in result.output
    assert read_catalog(ws)["status"].eq("kept").all()  # ingested
    assert not list((ws.root / "cache" / "embeddings").rglob("part-*.parquet"))  # nothing embedded


@pytest.mark.slow
def test_a_recipe_for_photos_without_tags_runs_with_label_issues_only(tmp_path):
    """A folder of class folders (real 15-Scene photos, no tags, no photographers) has no topic: a recipe
    without one stops at --dry-run with one line naming label_issues_only; with it, `curate run` embeds,
    filters, judges every photo for label issues (nothing dropped as off topic, no topic model), splits
    and reports."""
    import shutil

    from curate.stage_reports import load_stage_report

    scenes, classes = scene_folders(tmp_path, 16)  # 3 folds: each fold model sees 10+ of a label
    recipe = ('name = "scenes"\n' + "".join(f'[[labels]]\nname = "{name}"\n' for name in classes)
              + '[[sources]]\nkind = "folder"\nfolder = "photos"\n[embed]\nimage_size = 64\nworkers = 0\n'
              '[prefilter]\nfolds = 3\n')
    ws = Workspace(tmp_path / "ws")
    path = write_recipe(tmp_path, recipe)
    refused = runner.invoke(app, ["run", str(path), "--dry-run", "--workspace", str(ws.root)])
    assert refused.exit_code == 2 and "label_issues_only = true in [prefilter]" in " ".join(refused.output.split())

    path = write_recipe(tmp_path, recipe + "label_issues_only = true\n")
    result = runner.invoke(app, ["run", str(path), "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    assert "no topic (label issues only): 48 photos examined" in " ".join(result.output.split())
    catalog = read_catalog(ws)
    assert (catalog["status"] == "kept").all() and catalog["topic_score"].isna().all()
    assert catalog["is_label_issue"].notna().all() and catalog["split"].notna().all()
    saved = load_stage_report(ws, "prefilter")
    assert saved["topic"] is None and saved["topic_model"] is None
    assert (ws.root / "report" / "index.html").is_file()
    from classify.gate import fit_run_gate  # a run trained on it gets no topic gate, and is told why

    gate = fit_run_gate(ws, tmp_path / "run", catalog, "cpu")
    assert not gate["fitted"] and "--topic TAG`, not --label-issues-only" in gate["reason"]

    # the folder edited (an audit: "0 steps ran" after adding, deleting and moving photos): ingest runs again
    again = runner.invoke(app, ["run", str(path), "--workspace", str(ws.root)])
    assert again.exit_code == 0 and set(run_lines(again).values()) == {"skipped"}
    extra = sorted((scenes / "Coast").glob("*.jpg"))[16]
    shutil.copy(extra, tmp_path / "photos" / "Coast" / extra.name)
    edited = runner.invoke(app, ["run", str(path), "--workspace", str(ws.root)])
    assert edited.exit_code == 0, edited.output
    assert run_lines(edited)["ingest folder"] == "ran" and run_lines(edited)["split"] == "ran"
    assert f"folder:Coast/{extra.name}" in set(read_catalog(ws)["photo_id"])


@pytest.mark.slow
def test_a_changed_split_trains_again_and_sets_the_earlier_run_aside(trained, tmp_path):
    """An audit's second `curate run --train` after a change that reaches training stopped at the train step:
    `runs/<recipe>` already held a trained model and `curate run` has no --out. The earlier run is moved aside
    (never deleted) and a new one trained; evaluate and report then run on it."""
    import shutil

    path, ws, _ = trained
    mine = Workspace(tmp_path / "ws")
    shutil.copytree(ws.root, mine.root)
    changed = write_recipe(tmp_path, path.read_text() + "[split]\ntest = 0.3\n")
    result = runner.invoke(app, ["run", str(changed), "--workspace", str(mine.root), "--train"])
    assert result.exit_code == 0, result.output
    states = run_lines(result)
    assert states["split"] == states["train"] == states["evaluate"] == "ran" and states["filter"] == "skipped"
    [earlier] = [p for p in (mine.root / "runs").iterdir() if p.name.startswith("tiny.earlier-")]
    assert (earlier / "model.json").is_file() and (earlier / "evaluation" / "evaluation.json").is_file()
    assert "the earlier run there moved to" in " ".join(result.output.split())
    fresh = json.loads((mine.root / "runs" / "tiny" / "model.json").read_text())
    assert fresh["catalog_sha256"] != json.loads((earlier / "model.json").read_text())["catalog_sha256"]


def test_a_step_that_can_tell_its_inputs_are_unchanged_is_skipped_after_a_step_before_it_ran(tmp_path):
    """`Step.unchanged` (the train and evaluate steps'): the runner skips such a step when it answers, even though
    a step before it ran again, says why and how to run it anyway, journals it as done, and calls its `keep`;
    `--from` runs it whatever it answers."""
    from curate.pipeline import Unchanged

    ran, kept, lines = [], [], []
    same = {"b": False}

    def step(name: str, settings: dict, unchanged=None) -> pipeline.Step:
        return pipeline.Step(name, settings, lambda ws: ran.append(name) or f"{name} done", unchanged=unchanged)

    def b_unchanged(ws):
        return Unchanged("its inputs are as they were", keep=lambda ws: kept.append("b")) if same["b"] else None

    recipe = load_recipe(str(write_recipe(tmp_path, BASE)))
    ws = Workspace(tmp_path / "ws")

    def run(settings: int, restart_from: str | None = None) -> list[str]:
        ran.clear()
        steps = [step("a", {"x": settings}), step("b", {}, b_unchanged), step("c", {})]
        return [o.status for o in pipeline.run_pipeline(ws, recipe, steps, restart_from, echo=lines.append)]

    assert run(1) == ["ran"] * 3 and ran == ["a", "b", "c"] and not kept
    same["b"] = True
    assert run(2) == ["ran", "skipped", "ran"] and ran == ["a", "c"] and kept == ["b"]
    assert "[2/3] b: skipped: its inputs are as they were; `--from b` runs it again" in lines
    assert run(2) == ["skipped"] * 3 and ran == []  # journalled as done
    assert run(2, restart_from="a") == ["ran"] * 3 and ran == ["a", "b", "c"] and kept == ["b"]


def _model_state(ws: Workspace) -> tuple:
    """(the run's weights, their modification time, the runs/ folder's entries): what a new training changes."""
    weights = ws.root / "runs" / "tiny" / "model.safetensors"
    return weights.read_bytes(), weights.stat().st_mtime_ns, sorted(p.name for p in (ws.root / "runs").iterdir())


@pytest.mark.slow
def test_an_upgrade_that_leaves_what_training_reads_as_it_was_does_not_train_again(trained, tmp_path):
    """An upgrade re-ran the prefilter (its rules changed) to the same decisions, and `curate run --train` trained
    the same model again after it, because the train step followed every step that ran. Training (and its
    evaluation) is skipped when the photos, labels, split and settings it reads are the ones its run was made
    from, saying so and how to train anyway; `--from train` still trains again."""
    path, ws = _upgraded_copy(trained, tmp_path)
    before = _model_state(ws)
    said, _ = _dry_run(path, ws)
    assert said["prefilter"] == "would run"
    assert said["train"].startswith("would run, or be skipped if the steps before it leave what it reads as it is")
    result = runner.invoke(app, ["run", str(path), "--train", "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    states = run_lines(result)
    assert states["prefilter"] == states["split"] == states["report"] == "ran"
    assert states["train"] == states["evaluate"] == "skipped"
    text = " ".join(result.output.split())
    assert f"train: skipped: {ws.root / 'runs' / 'tiny'} was trained on the same" in text
    assert "with the same settings; `--from train` runs it again" in text
    assert _model_state(ws) == before  # no new training, no run set aside
    report = json.loads((ws.root / "report" / "report.json").read_text())
    assert "stale" not in report["sections"]["training"] and "absent" not in report["sections"]["training"]
    again = runner.invoke(app, ["run", str(path), "--train", "--workspace", str(ws.root)])
    assert again.exit_code == 0 and set(run_lines(again).values()) == {"skipped"}, again.output
    forced = runner.invoke(app, ["run", str(path), "--train", "--workspace", str(ws.root), "--from", "train"])
    assert forced.exit_code == 0, forced.output
    assert run_lines(forced)["train"] == run_lines(forced)["evaluate"] == "ran"
    assert "the earlier run there moved to" in " ".join(forced.output.split())
    assert any(p.name.startswith("tiny.earlier-") for p in (ws.root / "runs").iterdir())


@pytest.mark.slow
def test_a_review_that_leaves_the_training_photos_as_they_were_does_not_train_again(trained, tmp_path):
    """A review after a trained run (a reviewer kept a photo that was kept): `curate run --train` ran the steps
    reading the reviewed catalog, and trained again on the same photos. Training and evaluation are now skipped
    (the report does not call the evaluation stale); a review that changes a training photo's label trains again,
    the earlier run set aside (it was resumed: the split alone was compared)."""
    import shutil

    from curate.review.journal import new_decision

    path, trained_ws, _ = trained
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(trained_ws.root, ws.root)
    catalog = read_catalog(ws)
    kept = catalog[(catalog["status"] == "kept") & ~catalog["is_label_issue"].eq(True)]
    decisions = tmp_path / "keep.jsonl"
    decisions.write_text(json.dumps(new_decision(kept["photo_id"].iloc[0], "keep", who="tester")) + "\n")
    start = catalog_sha256(ws)
    assert runner.invoke(app, ["review", "-w", str(ws.root), "--import-decisions", str(decisions)]).exit_code == 0
    assert catalog_sha256(ws) != start
    before = _model_state(ws)
    result = runner.invoke(app, ["run", str(path), "--train", "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    states = run_lines(result)
    assert states["split"] == "skipped" and states["check-leakage"] == states["report"] == "ran"
    assert states["train"] == states["evaluate"] == "skipped"
    assert _model_state(ws) == before
    evaluation = json.loads((ws.root / "runs" / "tiny" / "evaluation" / "evaluation.json").read_text())
    assert evaluation["catalog_sha256"] == catalog_sha256(ws) and evaluation["scored_catalog_sha256"] == start
    report = json.loads((ws.root / "report" / "report.json").read_text())
    assert "stale" not in report["sections"]["training"]
    # a relabel leaves the split as it was, and a finished run was resumed on it: the model of the old label kept
    photo = kept[kept["split"] == "train"].iloc[-1]
    other = sorted(set(kept["label"]) - {photo["label"]})[0]
    decisions.write_text(json.dumps(new_decision(photo["photo_id"], "relabel", label=other, who="tester")) + "\n")
    assert runner.invoke(app, ["review", "-w", str(ws.root), "--import-decisions", str(decisions)]).exit_code == 0
    relabelled = runner.invoke(app, ["run", str(path), "--train", "--workspace", str(ws.root)])
    assert relabelled.exit_code == 0, relabelled.output
    assert run_lines(relabelled)["train"] == run_lines(relabelled)["evaluate"] == "ran"
    assert "the earlier run there moved to" in " ".join(relabelled.output.split())
    assert "resumed" not in relabelled.output


def _relabel_one_train_photo(ws: Workspace, tmp_path) -> None:
    """A review relabels one kept train photo (ids and split stay as they were)."""
    from curate.review.journal import new_decision

    catalog = read_catalog(ws)
    kept = catalog[(catalog["status"] == "kept") & ~catalog["is_label_issue"].eq(True)]
    photo = kept[kept["split"] == "train"].iloc[-1]
    other = sorted(set(kept["label"]) - {photo["label"]})[0]
    decisions = tmp_path / "relabel.jsonl"
    decisions.write_text(json.dumps(new_decision(photo["photo_id"], "relabel", label=other, who="tester")) + "\n")
    assert runner.invoke(app, ["review", "-w", str(ws.root), "--import-decisions", str(decisions)]).exit_code == 0


def _trains_anew(path, ws: Workspace) -> None:
    """`curate run --train` trains a new run, setting the one there aside, not resuming it."""
    result = runner.invoke(app, ["run", str(path), "--train", "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    assert run_lines(result)["train"] == "ran" and "resumed" not in result.output
    assert "the earlier run there moved to" in " ".join(result.output.split())


def test_an_earlier_curates_finished_run_is_trained_anew_after_a_relabel(trained, tmp_path):
    """Review DG 3: a finished run with no record of what it trained on (an earlier curate's) was resumed on the
    same ids and split after a relabel, ended at once with the old label's model, and was then recorded as
    trained on today's labels, so every later run skipped it. It is resumed only on the catalog it trained on."""
    import shutil

    path, trained_ws, _ = trained
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(trained_ws.root, ws.root)
    (ws.root / "runs" / "tiny" / "pipeline-inputs.json").unlink()  # what an earlier curate left
    _relabel_one_train_photo(ws, tmp_path)
    _trains_anew(path, ws)


def _interrupted_copy(trained, tmp_path) -> Workspace:
    """A copy of the trained workspace whose run was cut short after its last epoch's checkpoint: its model.json
    not yet finished, nothing recorded."""
    import shutil

    _, trained_ws, _ = trained
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(trained_ws.root, ws.root)
    run = ws.root / "runs" / "tiny"
    meta = json.loads((run / "model.json").read_text())
    del meta["metrics"]["replicas_in_sync"]  # what a run's model.json holds until its end (RunMeta.finished)
    (run / "model.json").write_text(json.dumps(meta))
    (run / "pipeline-inputs.json").unlink()
    assert (run / "checkpoint.pt").exists()
    return ws


@pytest.mark.slow
def test_an_interrupted_run_resumes_on_its_labels_and_is_trained_anew_after_a_relabel(trained, tmp_path):
    """Review DJ 3: an interrupted run was resumed after a relabel that left ids and split as they were (the
    split alone was compared), then recorded as trained on today's labels though its first epochs learned the
    old ones; every later `curate run --train` skipped it. It is resumed only on the labels it started on."""
    path = trained[0]
    same = _interrupted_copy(trained, tmp_path / "same")
    resumed = runner.invoke(app, ["run", str(path), "--train", "--workspace", str(same.root), "--from", "train"])
    assert resumed.exit_code == 0, resumed.output
    assert run_lines(resumed)["train"] == "ran" and "resumed" in resumed.output
    assert "the earlier run there moved to" not in " ".join(resumed.output.split())

    ws = _interrupted_copy(trained, tmp_path / "relabelled")
    _relabel_one_train_photo(ws, tmp_path)
    _trains_anew(path, ws)


def test_a_toml_date_where_text_is_wanted_is_named_as_written_not_as_python(tmp_path):
    """Audit H: `name = 1979-05-27T07:32:00Z` was refused with `got datetime.datetime(1979, 5, 27, ...)`."""
    path = tmp_path / "dated.toml"
    path.write_text("name = 1979-05-27T07:32:00Z\n")
    result = runner.invoke(app, ["run", str(path), "--dry-run", "--workspace", str(tmp_path / "ws")])
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "name must be a string, got 1979-05-27T07:32:00+00:00 (a TOML date-time)" in said
    assert "datetime.datetime" not in said


def test_a_dry_run_of_a_flickr_recipe_without_an_api_key_is_refused(monkeypatch, tmp_path):
    """Audit AT: `curate run datasets/world-skylines.toml --dry-run` listed 26 steps, exit 0, with no
    FLICKR_API_KEY; the real run then stopped at step 1."""
    from typer.testing import CliRunner

    from curate.cli.app import app

    monkeypatch.delenv("FLICKR_API_KEY", raising=False)
    monkeypatch.setenv("CURATE_FLICKR_CONFIG", str(tmp_path / "none.toml"))
    result = CliRunner().invoke(app, ["run", "world-skylines", "--dry-run", "-w", str(tmp_path / "ws")])
    assert result.exit_code == 2 and "step 1 (ingest flickr" in result.output and "FLICKR_API_KEY" in result.output
    monkeypatch.setenv("FLICKR_API_KEY", "a-key")
    result = CliRunner().invoke(app, ["run", "world-skylines", "--dry-run", "-w", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output


def test_a_run_cut_short_before_its_first_epoch_is_not_kept_as_an_earlier_run(tmp_path, monkeypatch):
    """Audit AR 6: a `curate run --train` interrupted before training's first epoch left a run folder holding
    only trained_on.parquet, which the next run moved aside as `runs/<recipe>.earlier-…`, one more each time."""
    from types import SimpleNamespace

    from classify import steps
    from classify.config import TrainConfig

    run_dir = tmp_path / "runs" / "tiny"
    run_dir.mkdir(parents=True)
    (run_dir / "trained_on.parquet").write_bytes(b"the photos it was to train on")
    (run_dir / ".lock").write_bytes(b"")
    done = SimpleNamespace(meta=lambda: SimpleNamespace(metrics={"val_accuracy": 0.5}))
    monkeypatch.setattr("classify.train.train", lambda ws, run_dir, config, resume: done)
    line = steps.train_step(None, run_dir, TrainConfig())
    assert "moved" not in line and [p.name for p in (tmp_path / "runs").iterdir()] == ["tiny"]
    (run_dir / "model.json").write_text("{}")  # a run that trained: kept, moved aside
    line = steps.train_step(None, run_dir, TrainConfig())
    [earlier] = (tmp_path / "runs").iterdir()  # (the fake training made no new folder)
    assert "the earlier run there moved to" in line and (earlier / "model.json").is_file()


# ---------------------------------------------------------------- recipes without [[labels]] (audit F-7)

FOLDER_ONLY = '[[sources]]\nkind = "folder"\nfolder = "photos"\n'


def test_labels_may_be_left_out_when_every_source_labels_its_photos_itself(tmp_path):
    """Audit F-7: a recipe over label folders had to list each folder as a [[labels]] table, adding nothing."""
    from curate.recipes import labels_by_tags, recipe_from_dict

    folders = recipe_from_dict({"name": "f", "sources": [{"kind": "folder", "folder": "a"},
                                                          {"kind": "folder", "folder": "b", "label_source": "column"},
                                                          {"kind": "scrape", "folders": ["c"]},
                                                          {"kind": "commons", "category": "X", "label": "x"}]})
    assert folders.labels == () and folders.label_names == () and folders.tag_index() == {}
    assert [labels_by_tags(entry) for entry in folders.sources] == [False, False, False, False]
    listed = recipe_from_dict({"name": "g", "labels": [{"name": "Coast", "aliases": ["shore"], "lat": 1.0, "lon": 2.0}],
                               "sources": [{"kind": "folder", "folder": "a"}]})
    assert listed.label_names == ("Coast",) and listed.labels[0].lat == 1.0  # a listed label: as before
    assert load_recipe("world-skylines").labels == load_recipe("skylines").labels
    for data in ({"name": "h"}, {"name": "h", "sources": [{"kind": "flickr", "tags": ["x"]}]},
                 {"name": "h", "sources": [{"kind": "folder", "folder": "a"}, {"kind": "urls", "path": "u.csv"}]},
                 {"name": "h", "sources": [{"kind": "folder", "folder": "a", "label_source": "tags"}]},
                 {"name": "h", "sources": [{"kind": "commons", "category": "X"}]}):
        with pytest.raises(UsageError, match=r"\[\[labels\]\]"):
            recipe_from_dict(data)
    # labels_from a recipe that lists none gives none: a tag source still needs them, and is told why
    write_recipe(tmp_path, 'name = "plain"\n' + FOLDER_ONLY, "plain.toml")
    path = write_recipe(tmp_path, 'labels_from = "plain"\n[[sources]]\nkind = "flickr"\ntags = ["x"]\n', "tagged.toml")
    with pytest.raises(UsageError, match='labels_from = "plain" names a recipe without'):
        load_recipe(str(path))
    assert load_recipe(str(write_recipe(tmp_path, 'labels_from = "plain"\n' + FOLDER_ONLY, "same.toml"))).labels == ()


@pytest.mark.parametrize("source, said", [
    ('kind = "flickr"\ntags = ["coast"]\n', "#2 (flickr) labels its photos by the recipe labels their tags name"),
    ('kind = "urls"\npath = "urls.csv"\n', "#2 (urls) labels its photos by the recipe labels"),
    ('kind = "commons"\ncategory = "Coasts"\n', "#2 (commons) labels its photos by the recipe labels"),
    ('kind = "demo"\n', 'labels_from = "skylines"'),
    ('kind = "folder"\nfolder = "photos"\nlabel_source = "tags"\n', '#2 (folder, label_source = "tags") labels'),
])
def test_a_recipe_without_labels_but_with_a_tag_labelled_source_is_one_line(tmp_path, source, said):
    (tmp_path / "photos").mkdir()
    (tmp_path / "urls.csv").write_text("url\n", encoding="utf-8")
    path = write_recipe(tmp_path, 'name = "mixed"\n' + FOLDER_ONLY + "[[sources]]\n" + source)
    for extra in (["--dry-run"], []):
        result = runner.invoke(app, ["run", str(path), *extra, "--workspace", str(tmp_path / "ws")])
        text = " ".join(result.output.split())
        assert result.exit_code == 2 and said in text, result.output
        assert "needs labels: add a non-empty [[labels]] list" in text and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "ws").exists()


def test_a_recipe_without_labels_cannot_take_its_geo_centres_from_them(tmp_path):
    """center = "recipe" reads [[labels]]' lat/lon; with none listed, no centre is guessed from a folder's name."""
    path = write_recipe(tmp_path, 'name = "f"\n' + FOLDER_ONLY + '[filter]\ncenter = "recipe"\n'
                        '[prefilter]\nlabel_issues_only = true\n')
    (tmp_path / "photos").mkdir()
    with pytest.raises(UsageError, match='center = "recipe" reads each label\'s lat and lon from'):
        pipeline.plan(load_recipe(str(path)))
    result = runner.invoke(app, ["filter", "-w", str(tmp_path / "ws"), "--recipe", str(path), "--center", "recipe"])
    assert result.exit_code == 2 and "--center recipe reads each label's lat and lon" in " ".join(result.output.split())


@pytest.mark.slow
def test_a_folder_recipe_without_labels_takes_the_folder_names(tmp_path):
    """Audit F-7 on real 15-Scene photos: a folder recipe with no [[labels]] passes --dry-run and runs ingest →
    embed → filter → prefilter → split → report, the labels being the folder names as given."""
    import shutil

    scenes, classes = scene_folders(tmp_path, 6)
    path = write_recipe(tmp_path, 'name = "scenes"\n' + FOLDER_ONLY + '[embed]\nimage_size = 64\nworkers = 0\n'
                        '[prefilter]\nlabel_issues_only = true\nfolds = 3\n', "scenes.toml")
    ws = Workspace(tmp_path / "ws")
    dry = runner.invoke(app, ["run", str(path), "--dry-run", "--workspace", str(ws.root)])
    assert dry.exit_code == 0, dry.output
    assert [line.split("] ")[1] for line in dry.output.splitlines() if line.startswith("[")][:1] == \
        ["ingest folder: would run"]
    assert "why step 1 would run: the workspace has no catalog yet" in dry.output
    assert not ws.root.exists()
    result = runner.invoke(app, ["run", str(path), "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    assert "warning:" not in result.output  # no "not among recipe scenes's labels" for each folder
    catalog = read_catalog(ws)
    assert sorted(catalog["label"].unique()) == list(classes) and (catalog["status"] == "kept").all()
    assert catalog["tag_labels"].map(len).eq(0).all() and catalog["split"].notna().all()
    assert (ws.root / "report" / "index.html").is_file()
    # grown by 4 photos a label and run again: the run's lines say that the earlier split's photos stayed and
    # what changed since the last report, as `curate split` and `curate report` do (audit CD: they did not)
    for name in classes:
        for source in sorted((scenes / name).glob("*.jpg"))[6:10]:
            shutil.copy(source, tmp_path / "photos" / name / source.name)
    result = runner.invoke(app, ["run", str(path), "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "kept 18 of the 18 photos of the earlier split where they were; 12 new to the split" in said
    assert "since the last report: photos 18 → 30 (+12); kept 18 → 30 (+12)" in said


def _as_before_recipes_were_recorded(ws: Workspace) -> dict:
    """The filter's report as a curate of before 2026-12-06 wrote it: no recipe, no columns, no rules version."""
    path = ws.reports_dir / "filter.json"
    report = json.loads(path.read_text())
    report.pop("recipe")
    for key in ("columns", "rules"):
        report["freshness"].pop(key)
    path.write_text(json.dumps(report))
    return report


def test_an_older_filter_report_gets_the_recipe_of_the_run_that_wrote_it(trained, tmp_path):
    """Audit DA MED-2: a filter report written before reports named their recipe got `curate filter -w …` as its
    command (status, check-leakage's, export's and evaluate's refusals); following it undid the recipe's settings.
    The run journal whose run wrote the report names the recipe; a filter run by hand gets none."""
    from curate.freshness_workspace import workspace_states

    path, trained_ws, _ = trained
    ws = Workspace(tmp_path / "ws")
    subprocess.run(["cp", "-a", str(trained_ws.root), str(ws.root)], check=True)
    assert json.loads((ws.reports_dir / "filter.json").read_text())["recipe"] == str(path)
    report = _as_before_recipes_were_recorded(ws)
    command = workspace_states(ws)["filter"].command
    assert command.startswith(f"curate filter --recipe {path} "), command
    status = runner.invoke(app, ["status", "-w", str(ws.root), "--json"])
    assert status.exit_code == 0, status.output
    assert f"run `curate filter --recipe {path} " in json.loads(status.output)["stages"]["filter"]["line"]
    # not when another run wrote it: a filter by hand started from the catalog the recipe's last step left
    report["input_catalog_sha256"] = catalog_sha256(ws)
    (ws.reports_dir / "filter.json").write_text(json.dumps(report))
    assert "--recipe" not in workspace_states(ws)["filter"].command
    # nor for a report of a curate that records the recipe: it names none because none was read
    report = json.loads((trained_ws.reports_dir / "filter.json").read_text())
    report.pop("recipe")
    (ws.reports_dir / "filter.json").write_text(json.dumps(report))
    assert "--recipe" not in workspace_states(ws)["filter"].command


def test_an_older_filter_report_gets_no_recipe_when_two_run_journals_answer(trained, tmp_path):
    """The recipe is taken only when one run journal says its run wrote the report (two recipes run on the same
    catalog cannot say which)."""
    from curate.freshness_workspace import workspace_states

    path, trained_ws, _ = trained
    ws = Workspace(tmp_path / "ws")
    subprocess.run(["cp", "-a", str(trained_ws.root), str(ws.root)], check=True)
    _as_before_recipes_were_recorded(ws)
    journal = json.loads((ws.journal_dir / "run-tiny.json").read_text())
    (ws.journal_dir / "run-other.json").write_text(json.dumps({**journal, "recipe": "datasets/other.toml"}))
    assert "--recipe" not in workspace_states(ws)["filter"].command
    (ws.journal_dir / "run-other.json").write_text("{not json")  # an unreadable journal answers nothing
    assert workspace_states(ws)["filter"].command.startswith(f"curate filter --recipe {path}")
