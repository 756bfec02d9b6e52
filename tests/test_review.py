"""`curate review`: decisions applied as a pure function, stored atomically, and surviving re-runs."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from typer.testing import CliRunner

from curate import schema
from curate.cli.app import app
from curate.errors import UsageError
from curate.records import apply_drops, reset_stage
from curate.review.apply import active_decisions, apply_decisions
from curate.review.journal import append_decisions, new_decision, read_decisions, reviews_path
from curate.workspace import Workspace, read_catalog, write_catalog
from tests.helpers import start_server

runner = CliRunner()
FAKE_EMBEDDINGS = "fake-embeddings"


# ------------------------------------------------------------------ builders

def tiny_catalog() -> pd.DataFrame:
    """Four photos: a and b kept, c dropped by the filter (geo), d dropped at ingest (broken)."""
    frame = pd.DataFrame({
        "photo_id": ["t:a", "t:b", "t:c", "t:d"], "source": "t", "source_id": ["a", "b", "c", "d"],
        "tags": [["x"]] * 4, "tag_labels": [[]] * 4, "label": ["rome", "paris", "rome", "rome"],
        "status": ["kept", "kept", "dropped", "dropped"],
        "drop_reason": [None, None, "geo_outlier", "truncated_image"],
        "drop_stage": [None, None, "filter", "ingest"]})
    return schema.to_pandas(schema.conform(frame))


def decision(photo_id: str, action: str, **fields) -> dict:
    return new_decision(photo_id, action, who="tester", **fields)


serve = start_server

def fake_embeddings(ws: Workspace, seed: int = 0) -> None:
    """Embeddings that carry the demo's truth (true label, on topic) plus noise, so the prefilter
    flags the planted mislabels and off-topic photos without running a CNN."""
    from curate.embed import EmbeddingCache
    from curate.ingest.demo import read_truth

    truth, _ = read_truth(ws)
    catalog = read_catalog(ws).merge(truth[["photo_id", "true_label", "is_on_topic"]], on="photo_id", how="left")
    rows = catalog[catalog["sha256"].notna()].drop_duplicates("sha256")
    labels = sorted(rows["true_label"].dropna().unique())
    rng = np.random.default_rng(seed)
    onehot = np.array([[float(label == name) for name in labels] for label in rows["true_label"]])
    topic = rows["is_on_topic"].fillna(False).astype(float).to_numpy()[:, None]
    vectors = np.hstack([3 * onehot, 3 * topic, rng.normal(0, 0.4, (len(rows), 8))]).astype(np.float32)
    EmbeddingCache(ws, FAKE_EMBEDDINGS).append(rows["sha256"].tolist(), vectors, np.ones(len(rows), bool))


def prefilter_args(root: Path) -> list[str]:
    return ["prefilter", "--workspace", str(root), "--topic", "skyline", "--folds", "3",
            "--embeddings", FAKE_EMBEDDINGS]


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory) -> Workspace:
    """A small demo workspace: ingest, filter, prefilter (fake embeddings), split."""
    from tests.helpers import demo_workspace

    ws = demo_workspace(tmp_path_factory.mktemp("review"), photos=160, seed=5, size=(64, 48))
    fake_embeddings(ws)
    for args in (prefilter_args(ws.root), ["split", "--workspace", str(ws.root)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    return ws


# ------------------------------------------------------------------ the pure function

def test_a_kept_photo_a_later_stage_drops_again_keeps_the_earlier_drop_it_overrode():
    """A reviewer keeps the filter's geo outlier t:c; a re-run prefilter, seeing it kept, drops it as off topic.
    Applied again, the decision records the filter's drop (the one a catalog without decisions holds: the
    prefilter would never have seen the photo), so `before_review` and the filter's freshness read it."""
    from curate.review.apply import before_review

    catalog = apply_decisions(tiny_catalog(), [decision("t:c", "keep")])
    rerun = catalog.copy()
    rerun.loc[2, ["status", "drop_reason", "drop_stage"]] = ["dropped", "off_topic", "prefilter"]
    again = apply_decisions(rerun, [decision("t:c", "keep")]).set_index("photo_id")
    assert again.loc["t:c", "status"] == "kept"
    assert (again.loc["t:c", "review_overrode_stage"], again.loc["t:c", "review_overrode_reason"]) == \
        ("filter", "geo_outlier")
    automatic = before_review(again.reset_index()).set_index("photo_id")
    assert (automatic.loc["t:c", "drop_stage"], automatic.loc["t:c", "drop_reason"]) == ("filter", "geo_outlier")


def test_keep_wins_over_a_stage_that_drops_again():
    catalog = tiny_catalog()
    decisions = [decision("t:c", "keep"), decision("t:d", "keep")]
    kept = apply_decisions(catalog, decisions)
    row = kept.set_index("photo_id").loc["t:c"]
    assert row["status"] == "kept" and pd.isna(row["drop_reason"]) and row["review_status"] == "kept"
    assert (row["review_overrode_stage"], row["review_overrode_reason"]) == ("filter", "geo_outlier")
    assert kept.set_index("photo_id").loc["t:d", "status"] == "dropped"  # no image: a keep cannot revive it
    # the filter re-runs with a threshold that drops t:a and t:c again
    rerun = apply_drops(reset_stage(kept, "filter"), pd.Series([None, None, "geo_outlier", None]).where(
        pd.Series([False, False, True, False])), "filter")
    rerun = apply_drops(rerun, pd.Series(["geo_outlier", None, None, None]), "filter")
    again = apply_decisions(rerun, decisions).set_index("photo_id")
    assert again.loc["t:c", "status"] == "kept"
    assert again.loc["t:a", "status"] == "dropped"  # nobody decided about t:a: the threshold stands
    assert catalog["status"].tolist() == ["kept", "kept", "dropped", "dropped"]  # input not mutated


def test_drop_and_relabel_and_idempotence():
    catalog = tiny_catalog()
    decisions = [decision("t:a", "drop"), decision("t:b", "relabel", label="rome"), decision("t:c", "drop")]
    once = apply_decisions(catalog, decisions)
    by_id = once.set_index("photo_id")
    assert (by_id.loc["t:a", "status"], by_id.loc["t:a", "drop_reason"], by_id.loc["t:a", "drop_stage"]) == \
        ("dropped", "reviewed", "review")
    # already dropped by the filter: the reviewer's drop stands, the filter's is kept beside it
    assert (by_id.loc["t:c", "drop_reason"], by_id.loc["t:c", "drop_stage"]) == ("reviewed", "review")
    assert (by_id.loc["t:c", "review_overrode_stage"], by_id.loc["t:c", "review_overrode_reason"]) == \
        ("filter", "geo_outlier")
    assert (by_id.loc["t:b", "label"], by_id.loc["t:b", "label_before_review"]) == ("rome", "paris")
    twice = apply_decisions(once, decisions)
    pd.testing.assert_frame_equal(once, twice)


def test_a_keep_a_rerun_no_longer_needs_leaves_no_stale_override_behind():
    """Audit AF 1: --force-quality dropped a dark photo, a reviewer kept it, the filter ran again held (not
    dropping it): the photo still "overrode" quality:dark, and undoing the keep dropped it for a reason the
    filter no longer gave while its siblings stayed kept. A stage's re-run now forgets the drops it no longer
    makes; one it makes again is recorded anew."""
    forced = tiny_catalog()
    forced.loc[0, ["status", "drop_reason", "drop_stage"]] = ["dropped", "quality:dark", "filter"]  # t:a
    keep = decision("t:a", "keep")
    kept = apply_decisions(forced, [keep])
    assert kept.loc[0, ["status", "review_overrode_reason"]].tolist() == ["kept", "quality:dark"]
    held = apply_decisions(reset_stage(kept.copy(), "filter"), [keep], recomputed=("filter", "prefilter"))
    assert held.loc[0, "status"] == "kept" and pd.isna(held.loc[0, "review_overrode_reason"])
    undone = apply_decisions(held, [keep, decision("t:a", "undo", undoes=keep["id"])])
    assert undone.loc[0, "status"] == "kept" and pd.isna(undone.loc[0, "drop_reason"])
    again = reset_stage(kept.copy(), "filter")  # the re-run drops it again, for another reason
    again.loc[0, ["status", "drop_reason", "drop_stage"]] = ["dropped", "quality:blurry", "filter"]
    again = apply_decisions(again, [keep], recomputed=("filter", "prefilter"))
    assert again.loc[0, ["status", "review_overrode_reason"]].tolist() == ["kept", "quality:blurry"]
    assert apply_decisions(kept, [keep]).loc[0, "review_overrode_reason"] == "quality:dark"  # no re-run: kept


def test_the_ambiguous_queue_shows_held_and_dropped_photos_whose_tags_name_two_labels():
    """Audit AC 6: photos the filter held as ambiguous stay kept without a label and looked like untagged ones
    to every queue. The `ambiguous` queue shows them (held ones first, then those dropped as ambiguous), not the
    untagged photos, nor copies filed under two labels (audit AI: "tags name  (dropped as ambiguous)"); a
    reviewer's relabel gives one its label and keeps it, and survives a re-application."""
    from curate.review.queues import automatic_view, build_queue

    frame = pd.DataFrame({
        "photo_id": ["t:held", "t:gone", "t:bare", "t:rome", "t:copy"], "source": "t",
        "source_id": ["h", "g", "b", "r", "c"], "tags": [["x"]] * 5,
        "tag_labels": [["paris", "rome"], ["paris", "oslo", "rome"], [], ["rome"], []],
        "label": [None, None, None, "rome", "oslo"], "status": ["kept", "dropped", "kept", "kept", "dropped"],
        "drop_reason": [None, "ambiguous_label", None, None, "ambiguous_label"],
        "drop_stage": [None, "filter", None, None, "filter"]})  # t:copy: a copy filed under two labels
    catalog = schema.to_pandas(schema.conform(frame))
    view = automatic_view(catalog)
    queue = build_queue(view, "ambiguous")
    assert view["photo_id"].to_numpy()[queue.positions].tolist() == ["t:held", "t:gone"]
    assert queue.why[0] == "tags name paris, rome (held: kept without a label)"
    assert queue.why[1] == "tags name paris, oslo, rome (dropped as ambiguous)"
    decisions = [decision("t:held", "relabel", label="rome"), decision("t:gone", "relabel", label="oslo")]
    once = apply_decisions(catalog, decisions).set_index("photo_id")
    assert once.loc["t:held", ["label", "status"]].tolist() == ["rome", "kept"]
    assert once.loc["t:gone", ["label", "status"]].tolist() == ["oslo", "kept"]
    again = apply_decisions(once.reset_index(), decisions).set_index("photo_id")
    assert again.loc["t:held", "label"] == "rome"
    assert len(build_queue(automatic_view(once.reset_index()), "ambiguous")) == 2  # still found after deciding


def test_a_duplicates_card_names_the_labels_its_copies_disagree_on():
    """Audit AL: copies of one image filed under two labels (dropped as ambiguous_label) read "dropped copy of a
    cluster of 2 (ambiguous_label)" and nothing said the labels disagree: keeping both trains one picture under
    two labels. The card names the labels; a cluster under one label says nothing more."""
    from curate.review.queues import automatic_view, build_queue

    frame = pd.DataFrame({
        "photo_id": ["t:f", "t:h", "t:a", "t:b"], "source": "t", "source_id": ["f", "h", "a", "b"],
        "tags": [["x"]] * 4, "tag_labels": [[]] * 4, "label": ["Forest", "Highway", "Coast", "Coast"],
        "status": ["dropped", "dropped", "kept", "dropped"],
        "drop_reason": ["ambiguous_label", "ambiguous_label", None, "near_duplicate"],
        "drop_stage": ["filter", "filter", None, "filter"], "exact_dup_group": ["g1", "g1", None, None],
        "near_dup_cluster": [None, None, "n1", "n1"]})
    view = automatic_view(schema.to_pandas(schema.conform(frame)))
    queue = build_queue(view, "duplicates")
    why = dict(zip(view["photo_id"].to_numpy()[queue.positions], queue.why))
    assert set(why) == {"t:f", "t:h", "t:a", "t:b"}
    assert why["t:f"] == ("dropped copy of a cluster of 2 (ambiguous_label); the copies' labels disagree: Forest, "
                          "Highway (keep the copy whose label is right, or relabel)")
    assert why["t:a"] == "kept copy of a cluster of 2 (kept)" and "disagree" not in why["t:b"]


def test_a_card_offers_the_models_label_only_where_it_differs_from_the_photos():
    """Audit AG: a photo flagged as unlike its label's photos usually gets its own label as the model's best
    guess; its card offered `suggested <own label> (s)`, and `s` relabelled it to itself. The card now shows a
    suggestion (and arms `s`) only where it differs, and shows the label fit."""
    from curate.review.page import card

    state = {"status": "kept", "label": "Coast", "review_status": None}
    same = card(0, {"photo_id": "t:a", "label": "Coast", "suggested_label": "Coast", "label_fit": -5.25}, "why",
                state, [])
    assert 'data-suggested=""' in same and "suggested <b>" not in same
    assert "<dt>label_fit</dt><dd>-5.25</dd>" in same
    other = card(1, {"photo_id": "t:b", "label": "Coast", "suggested_label": "Forest"}, "why", state, [])
    assert 'data-suggested="Forest"' in other and "suggested <b>Forest</b> (s)" in other


def test_a_card_offers_no_label_for_a_photo_unlike_its_label():
    """Audit EG F3: a shoe filed as yellow, unlike its label's photos (label fit -4.9), got "suggested black (s)":
    the review queue itself says no label fits such a photo, so the card offers no suggestion and `s` is not armed;
    a photo just above the alarm keeps its suggestion."""
    from curate.prefilter.outliers import UNLIKE_Z
    from curate.review.page import card

    state = {"status": "kept", "label": "yellow", "review_status": None}
    shoe = card(0, {"photo_id": "t:s", "label": "yellow", "suggested_label": "black", "label_fit": -UNLIKE_Z - 1.4},
                "why", state, [])
    assert 'data-suggested=""' in shoe and "suggested <b>" not in shoe
    near = card(1, {"photo_id": "t:n", "label": "yellow", "suggested_label": "red", "label_fit": -UNLIKE_Z + 0.1},
                "why", state, [])
    assert 'data-suggested="red"' in near and "suggested <b>red</b> (s)" in near


def test_a_drop_gives_one_reason_whether_or_not_a_stage_dropped_the_photo_first():
    """The audit's case: keep, then drop, of a photo a later stage drops. Live (the stage ran before
    the decisions) and re-run (the decisions applied before the stage ran) agree on the reason."""
    catalog = tiny_catalog()
    decisions = [decision("t:a", "keep"), decision("t:a", "drop")]
    # live: the stage dropped t:a, then the reviewer decided
    live = apply_decisions(apply_drops(catalog, pd.Series(["off_topic", None, None, None]), "prefilter"), decisions)
    # re-run: the decisions were applied first, so the stage never saw t:a as kept
    rerun = apply_decisions(catalog, decisions)
    rerun = apply_decisions(apply_drops(rerun, pd.Series([None] * 4).where(rerun["status"] == "kept"), "prefilter"),
                            decisions)
    for frame in (live, rerun):
        row = frame.set_index("photo_id").loc["t:a"]
        assert (row["status"], row["drop_reason"], row["drop_stage"]) == ("dropped", "reviewed", "review")
    # undoing the drop (and the keep) gives the stage's drop back
    undo = [decision("t:a", "undo", undoes=d["id"]) for d in decisions]
    back = apply_decisions(live, decisions + undo).set_index("photo_id").loc["t:a"]
    assert (back["status"], back["drop_reason"], back["drop_stage"]) == ("dropped", "off_topic", "prefilter")
    assert pd.isna(back["review_overrode_stage"]) and pd.isna(back["review_status"])


def test_undo_takes_a_decision_back_and_an_undone_undo_restores_it():
    catalog = tiny_catalog()
    keep = decision("t:c", "keep")
    relabel = decision("t:b", "relabel", label="rome")
    undo_keep = decision("t:c", "undo", undoes=keep["id"])
    undone = apply_decisions(catalog, [keep, relabel, undo_keep]).set_index("photo_id")
    assert (undone.loc["t:c", "status"], undone.loc["t:c", "drop_reason"]) == ("dropped", "geo_outlier")
    assert pd.isna(undone.loc["t:c", "review_status"]) and undone.loc["t:b", "label"] == "rome"
    redo = decision("t:c", "undo", undoes=undo_keep["id"])
    assert [d["id"] for d in active_decisions([keep, relabel, undo_keep, redo])] == [keep["id"], relabel["id"]]
    redone = apply_decisions(catalog, [keep, relabel, undo_keep, redo]).set_index("photo_id")
    assert redone.loc["t:c", "status"] == "kept"
    # undoing everything gives the automatic catalog back, applied on top of the reviewed one
    all_undone = [keep, relabel, decision("t:c", "undo", undoes=keep["id"]),
                  decision("t:b", "undo", undoes=relabel["id"])]
    back = apply_decisions(apply_decisions(catalog, [keep, relabel]), all_undone)
    columns = ["status", "label", "drop_reason"]
    assert back[columns].equals(apply_decisions(catalog, [])[columns])
    assert back["label"].tolist() == catalog["label"].tolist()


# ------------------------------------------------------------------ reviews.jsonl

def test_keep_on_an_ingest_drop_is_refused_and_left_out_of_a_batch(tmp_path):
    """An ingest drop has no usable image: 'keep' on it answered as if it worked (audit of the review loop)."""
    from curate.review.session import ReviewSession

    ws = Workspace(tmp_path / "ws")
    write_catalog(ws, tiny_catalog())
    session = ReviewSession(ws, user="tester")
    with pytest.raises(UsageError, match="t:d has no usable image .truncated_image"):
        session.decide(["t:d"], "keep")
    recorded = session.decide(["t:c", "t:d"], "keep")
    assert [d["photo_id"] for d in recorded] == ["t:c"]
    session.close()
    assert [d["photo_id"] for d in read_decisions(ws)] == ["t:c"]
    assert read_catalog(ws).set_index("photo_id").loc["t:d", "status"] == "dropped"


def test_appends_from_several_processes_lose_and_tear_no_line(tmp_path):
    from tests.review_workers import append_many  # a light module: each spawned child imports it

    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=append_many, args=(str(tmp_path), w, 150)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
        assert process.exitcode == 0
    decisions = read_decisions(Workspace(tmp_path))  # every line parses
    assert sorted(d["photo_id"] for d in decisions) == sorted(f"t:{w}-{i}" for w in range(4) for i in range(150))


def test_a_bad_line_is_one_clear_error(tmp_path):
    ws = Workspace(tmp_path)
    append_decisions(ws, [decision("t:a", "keep")])
    with open(reviews_path(ws), "a") as handle:
        handle.write('{"id": "x", "photo_id": "t:a", "action": "explode"}\n')
    with pytest.raises(Exception, match="line 2: unknown action 'explode'"):
        read_decisions(ws)


# ------------------------------------------------------------------ decisions survive the stages

def test_decisions_survive_filter_and_prefilter_reruns_and_only_later_stages_go_stale(demo_ws, tmp_path):
    from curate.freshness_workspace import workspace_states
    from curate.review.session import ReviewSession
    from curate.stage_reports import load_stage_report

    root = tmp_path / "ws"
    subprocess.run(["cp", "-a", str(demo_ws.root), str(root)], check=True)
    ws = Workspace(root)
    catalog = read_catalog(ws)
    geo = catalog.loc[catalog["drop_reason"] == "geo_outlier", "photo_id"].iloc[0]
    off_topic = catalog.loc[catalog["drop_reason"] == "off_topic", "photo_id"].iloc[0]
    issue = catalog.loc[catalog["is_label_issue"].fillna(False).astype(bool)].iloc[0]
    kept = catalog.loc[(catalog["status"] == "kept") & (catalog["photo_id"] != issue["photo_id"]), "photo_id"].iloc[0]
    new_label = next(name for name in sorted(catalog["label"].dropna().unique()) if name != issue["label"])

    session = ReviewSession(ws, user="tester")
    session.decide([geo, off_topic], "keep")
    session.decide([issue["photo_id"]], "relabel", new_label)
    session.decide([kept], "drop")
    session.close()

    def check() -> None:
        now = read_catalog(ws).set_index("photo_id")
        assert now.loc[geo, "status"] == "kept" and now.loc[off_topic, "status"] == "kept"
        assert now.loc[issue["photo_id"], "label"] == new_label
        assert (now.loc[kept, "status"], now.loc[kept, "drop_reason"]) == ("dropped", "reviewed")

    check()
    states = workspace_states(ws)
    assert (states["filter"].state, states["prefilter"].state, states["split"].state) == ("fresh", "fresh", "stale")
    for args, stage in ((["filter", "--workspace", str(root), "--recipe", "skylines"], "filter"),
                        (prefilter_args(root), "prefilter")):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        check()
        # audit AF 3: the stage's counts include the drops a keep overrides; a note reconciles them
        note = next(n for n in load_stage_report(ws, stage)["notes"] if n.startswith("a reviewer's keep overrides"))
        now = read_catalog(ws)
        overrides = now.loc[(now["status"] == "kept") & (now["review_overrode_stage"] == stage),
                            "review_overrode_reason"].value_counts()
        assert overrides.sum() >= 1 and f"overrides {overrides.sum()} of this run's drops (" in note
        assert all(f"{reason} {n}" in note for reason, n in overrides.items())
    assert workspace_states(ws)["prefilter"].state == "fresh"


def test_a_drop_undone_after_a_stage_ran_makes_that_stage_stale(demo_ws, tmp_path):
    """Audit AL: a reviewer dropped a photo, the filter re-ran with other settings (a stage never judges a photo
    a reviewer dropped), then the drop was undone: the photo was back as kept, `curate status` called the filter
    fresh, and it was split and exported, though the filter as now set drops it. A stage's run records the
    photos it did not judge; one of them back from a review drop makes that stage stale until it runs again."""
    from curate.freshness_workspace import workspace_states
    from curate.review.session import ReviewSession

    root = tmp_path / "ws"
    subprocess.run(["cp", "-a", str(demo_ws.root), str(root)], check=True)
    ws = Workspace(root)
    catalog = read_catalog(ws)
    chosen = catalog.loc[catalog["status"] == "kept", "photo_id"].iloc[0]
    session = ReviewSession(ws, user="tester")
    session.decide([chosen], "drop")
    session.close()
    filtered = runner.invoke(app, ["filter", "--workspace", str(root), "--recipe", "skylines", "--max-km", "3"])
    assert filtered.exit_code == 0, filtered.output
    assert workspace_states(ws)["filter"].state == "fresh"
    session = ReviewSession(ws, user="tester")
    session.undo(chosen)
    session.close()
    assert read_catalog(ws).set_index("photo_id").loc[chosen, "status"] == "kept"
    states = workspace_states(ws)
    assert states["filter"].state == "stale", states["filter"]
    assert "a reviewer's drop undone since filter ran: filter has not judged 1 photo the drop held" in \
        states["filter"].reasons
    assert states["prefilter"].state == states["split"].state == "stale"
    again = runner.invoke(app, ["filter", "--workspace", str(root), "--recipe", "skylines", "--max-km", "3"])
    assert again.exit_code == 0, again.output
    assert workspace_states(ws)["filter"].state == "fresh"
    # a drop still in force is no reason: the stage's last run did not judge it, and need not
    session = ReviewSession(ws, user="tester")
    session.decide([chosen], "drop")
    session.close()
    assert workspace_states(ws)["filter"].state == "fresh"


def test_a_workspace_that_cannot_be_locked_is_said_not_taken_for_a_running_command(demo_ws, tmp_path, monkeypatch):
    """Audit AN: on a read-only workspace every decision was answered "a curate command is changing this
    workspace right now ... try again in a moment" (409), for ever: the lock could not be taken for want of
    permission, and that read as another command holding it. The real reason comes back now."""
    from curate.review import session as session_module
    from curate.review.session import ReviewSession, StageRunning

    root = tmp_path / "ws"
    subprocess.run(["cp", "-a", str(demo_ws.root), str(root)], check=True)
    session = ReviewSession(Workspace(root), user="tester")
    photo = session.catalog["photo_id"].iloc[0]

    @contextlib.contextmanager
    def read_only(ws):
        raise UsageError(f"cannot create or lock the workspace {ws.root} (Permission denied); pass --workspace "
                         "with a folder you can write to")
        yield  # pragma: no cover

    monkeypatch.setattr(session_module, "exclusive", read_only)
    try:
        with pytest.raises(UsageError, match="Permission denied") as raised:
            session.decide([photo], "drop")
        assert not isinstance(raised.value, StageRunning)
    finally:
        monkeypatch.undo()
        session.close()


# ------------------------------------------------------------------ the app over HTTP

@pytest.fixture()
def served(demo_ws, tmp_path):
    from curate.review.app import create_app
    from curate.review.session import ReviewSession

    root = tmp_path / "ws"
    subprocess.run(["cp", "-a", str(demo_ws.root), str(root)], check=True)
    session = ReviewSession(Workspace(root), user="tester")
    made = {}

    def start(**kwargs):
        made["app"] = create_app(session, **kwargs)
        made["server"], made["thread"], url = serve(made["app"])
        return session, made["app"], url

    yield start
    if "server" in made:
        made["server"].should_exit = True
        made["thread"].join(10)
    session.close()


def test_concurrent_posts_from_two_tabs_lose_no_decision(served):
    session, app_, url = served()
    catalog = session.catalog
    ids = catalog["photo_id"].tolist()[:60]
    headers = {"X-CSRF-Token": app_.state.csrf}

    def post(pid: str) -> int:
        return requests.post(f"{url}/api/decide", json={"photo_ids": [pid], "action": "keep", "queue": "geo"},
                             headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(8) as pool:  # two tabs, four requests in flight each
        codes = list(pool.map(post, ids))
    assert codes == [200] * len(ids)
    lines = reviews_path(session.ws).read_text().splitlines()
    assert sorted(json.loads(line)["photo_id"] for line in lines) == sorted(ids)
    assert session.flush()
    assert (read_catalog(session.ws).set_index("photo_id").loc[ids, "review_status"] == "kept").all()


def test_a_relabel_to_a_new_label_is_answered_with_a_note(served):
    """A typo in the label box made a class of one photo without a word (audit of the review loop)."""
    session, app_, url = served()
    pid = session.catalog["photo_id"].iloc[0]
    known = sorted(session.catalog["label"].dropna().unique())
    headers = {"X-CSRF-Token": app_.state.csrf}
    typo = requests.post(f"{url}/api/decide", json={"photo_ids": [pid], "action": "relabel", "label": "Banana"},
                         headers=headers, timeout=30).json()
    assert "'Banana' is a new label" in typo["message"]
    other = next(name for name in known if name != session.catalog["label"].iloc[0])
    fine = requests.post(f"{url}/api/decide", json={"photo_ids": [pid], "action": "relabel", "label": other},
                         headers=headers, timeout=30).json()
    assert "new label" not in fine["message"]


def test_csrf_token_is_required_on_every_post(served):
    session, app_, url = served()
    pid = session.catalog["photo_id"].iloc[0]
    body = {"photo_ids": [pid], "action": "drop"}
    assert requests.post(f"{url}/api/decide", json=body, timeout=30).status_code == 403
    guessed = requests.post(f"{url}/api/decide", json=body, headers={"X-CSRF-Token": "guess"}, timeout=30)
    assert guessed.status_code == 403
    assert not reviews_path(session.ws).exists()
    page = requests.get(f"{url}/?queue=geo", timeout=30)
    token = json.loads(page.text.split('<script id="config" type="application/json">')[1].split("</script>")[0])["csrf"]
    ok = requests.post(f"{url}/api/decide", json=body, headers={"X-CSRF-Token": token}, timeout=30)
    assert ok.status_code == 200 and ok.json()["state"][pid]["status"] == "dropped"


def lying_chunked_post(url: str, csrf: str, body: bytes) -> str:
    """The status line of a POST /api/decide that declares `Content-Length: 10` and sends `body` chunked (which
    the server's HTTP parser follows), sent on a raw socket as audit J did."""
    import socket
    from urllib.parse import urlsplit

    where = urlsplit(url)
    head = (f"POST /api/decide HTTP/1.1\r\nHost: {where.netloc}\r\nX-CSRF-Token: {csrf}\r\n"
            "Content-Type: application/json\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n")
    with socket.create_connection((where.hostname, where.port), timeout=60) as connection:
        try:
            connection.sendall(head.encode())
            for start in range(0, len(body), 1 << 20):
                chunk = body[start:start + (1 << 20)]
                connection.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            connection.sendall(b"0\r\n\r\n")
        except OSError:  # the server answered and closed before the whole body was sent: what is wanted
            pass
        answer = b""
        while b"\r\n" not in answer:
            data = connection.recv(65536)
            if not data:
                break
            answer += data
    return answer.split(b"\r\n")[0].decode("latin-1")


def test_bad_requests_get_one_line_and_large_bodies_are_refused_unread(served):
    """Audits E and F: a malformed JSON body or `?page=abc` was answered with the framework's list of errors
    (which the page showed as "[object Object]"), a `text/plain` body was read as JSON, and a 200 MB body grew
    the server by 420 MB before it was refused."""
    from curate.review.app import MAX_BODY_BYTES

    session, app_, url = served()
    headers = {"X-CSRF-Token": app_.state.csrf, "Content-Type": "application/json"}
    broken = requests.post(f"{url}/api/decide", data='{"photo_ids": [', headers=headers, timeout=30)
    assert broken.status_code == 422 and broken.json()["detail"].startswith("the request body is not valid JSON")
    missing = requests.post(f"{url}/api/decide", json={"photo_ids": ["x"]}, headers=headers, timeout=30)
    assert missing.json()["detail"] == "the JSON field `action` is missing"
    wrong = requests.post(f"{url}/api/decide", json={"photo_ids": "x", "action": "drop"}, headers=headers, timeout=30)
    assert wrong.status_code == 422
    assert wrong.json()["detail"].startswith("the JSON field `photo_ids` is invalid: input should be")
    page = requests.get(f"{url}/?page=abc", timeout=30)
    assert page.status_code == 422
    assert page.json()["detail"].startswith("the query parameter `page` is invalid: input should be")
    plain = requests.post(f"{url}/api/decide", data=json.dumps({"photo_ids": ["x"], "action": "drop"}),
                          headers={**headers, "Content-Type": "text/plain"}, timeout=30)
    assert plain.status_code == 415 and "application/json" in plain.json()["detail"]
    big = b'{"photo_ids": ["' + b"a" * MAX_BODY_BYTES + b'"], "action": "drop"}'
    refused = requests.post(f"{url}/api/decide", data=big, headers=headers, timeout=60)
    assert refused.status_code == 413 and "byte limit" in refused.json()["detail"]
    assert "413" in lying_chunked_post(url, app_.state.csrf, big)  # audit J: read whole before, 103 MB grew 341 MB
    pid = session.catalog["photo_id"].iloc[0]
    control = requests.post(f"{url}/api/decide", json={"photo_ids": [pid], "action": "relabel", "label": "a\u0000b"},
                            headers=headers, timeout=30)
    assert control.status_code == 400 and "control characters" in control.json()["detail"]
    odd = requests.post(f"{url}/api/decide", json={"photo_ids": ["x"], "action": "drop", "queue": "nope"},
                        headers=headers, timeout=30)
    assert odd.status_code == 400 and odd.json()["detail"].startswith("unknown queue 'nope'")
    assert not reviews_path(session.ws).exists()  # nothing decided by any of them
    fine = requests.post(f"{url}/api/decide", json={"photo_ids": [pid], "action": "drop"}, headers=headers, timeout=30)
    assert fine.status_code == 200


def test_another_host_needs_the_token_on_every_request(served):
    session, _, url = served(host="0.0.0.0", token="s3cret-token")
    assert requests.get(f"{url}/", timeout=30).status_code == 403
    assert requests.get(f"{url}/?token=wrong", timeout=30).status_code == 403
    assert requests.get(f"{url}/thumb/{session.catalog['photo_id'].iloc[0]}", timeout=30).status_code == 403
    with requests.Session() as browser:
        first = browser.get(f"{url}/?token=s3cret-token&queue=geo", timeout=30)
        assert first.status_code == 200 and "curate review" in first.text
        assert browser.get(f"{url}/?queue=off_topic", timeout=30).status_code == 200  # the cookie carries it


def test_loopback_server_refuses_other_host_names(served):
    _, _, url = served()
    assert requests.get(f"{url}/", headers={"Host": "attacker.example:80"}, timeout=30).status_code == 403
    assert requests.get(f"{url}/", timeout=30).status_code == 200


def test_no_decision_is_written_while_a_stage_holds_the_workspace(served):
    session, app_, url = served()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys; from pathlib import Path; from curate.workspace import Workspace, exclusive\n"
        f"with exclusive(Workspace(Path({str(session.ws.root)!r}))):\n"
        "    print('held', flush=True); sys.stdin.readline()")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        answer = requests.post(f"{url}/api/decide", json={"photo_ids": [session.catalog["photo_id"].iloc[0]],
                               "action": "drop"}, headers={"X-CSRF-Token": app_.state.csrf}, timeout=30)
        assert answer.status_code == 409 and "paused" in answer.json()["detail"]
        assert 'id="busy" class="busy">' in requests.get(f"{url}/", timeout=30).text
        assert not reviews_path(session.ws).exists()
    finally:
        holder.communicate("\n", timeout=30)
    assert requests.get(f"{url}/", timeout=30).text.count('id="busy" class="busy" hidden') == 1


def test_queues_pages_and_thumbnails(served):
    session, _, url = served()
    for queue in ("label_issues", "off_topic", "geo", "duplicates", "owners", "quality", "recovered", "ambiguous"):
        assert requests.get(f"{url}/?queue={queue}", timeout=30).status_code == 200
    page = requests.get(f"{url}/?queue=geo", timeout=30).text
    geo = read_catalog(session.ws)
    worst = geo[geo["drop_reason"] == "geo_outlier"].sort_values("geo_distance_km", ascending=False)["photo_id"]
    assert page.index(f'data-photo-id="{worst.iloc[0]}"') < page.index(f'data-photo-id="{worst.iloc[-1]}"')
    thumb = requests.get(f"{url}/thumb/{worst.iloc[0]}", timeout=30)
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
    assert requests.get(f"{url}/thumb/nope:1", timeout=30).status_code == 404
    assert requests.get(f"{url}/?queue=nope", timeout=30).status_code == 400


# ------------------------------------------------------------------ CLI

def test_export_import_round_trip(demo_ws, tmp_path):
    from curate.review.session import ReviewSession

    first, second = tmp_path / "a", tmp_path / "b"
    for root in (first, second):
        subprocess.run(["cp", "-a", str(demo_ws.root), str(root)], check=True)
    session = ReviewSession(Workspace(first), user="tester")
    ids = session.catalog["photo_id"].tolist()
    session.decide(ids[:3], "drop")
    session.decide([ids[5]], "relabel", "tokyo")
    session.undo()
    session.decide([ids[6]], "relabel", "tokyo")
    session.close()
    out = tmp_path / "decisions.jsonl"
    assert runner.invoke(app, ["review", "-w", str(first), "--export-decisions", str(out)]).exit_code == 0
    result = runner.invoke(app, ["review", "-w", str(second), "--import-decisions", str(out)])
    assert result.exit_code == 0 and "imported 6 decisions" in result.output, result.output
    columns = ["photo_id", "status", "label", "drop_reason", "review_status", "review_label"]
    pd.testing.assert_frame_equal(read_catalog(Workspace(first))[columns], read_catalog(Workspace(second))[columns])
    again = runner.invoke(app, ["review", "-w", str(second), "--import-decisions", str(out)])
    assert "imported 0 decisions (6 already here)" in again.output
    assert len(read_decisions(Workspace(second))) == 6
    # the first import changed photos (later stages stale); the second changed nothing and says so
    assert "photos changed: later stages are stale now (`curate status` says which" in " ".join(result.output.split())
    assert "the catalog did not change" in again.output and "stale" not in again.output
    # decisions about photos this workspace lacks, and an undo of an unknown decision, are named
    stray = tmp_path / "stray.jsonl"
    stray.write_text(json.dumps({"id": "s1", "photo_id": "folder:Gone/nothere.jpg", "action": "keep"}) + "\n"
                     + json.dumps({"id": "s2", "photo_id": ids[0], "action": "undo", "undoes": "nope"}) + "\n")
    odd = runner.invoke(app, ["review", "-w", str(second), "--import-decisions", str(stray)])
    assert odd.exit_code == 0, odd.output
    assert "1 names a photo this workspace does not hold" in odd.output
    assert "1 undoes a decision this workspace does not know" in odd.output


def _float_id_workspaces(tmp_path: Path, monkeypatch) -> dict[str, list[str]]:
    """Two workspaces made from one folder whose sidecar CSV has the ids pandas writes as floats: `upgraded`, ingested
    before such ids were read as integers (it keeps `folder:5301234000.0`), and `new` (`folder:5301234000`); each
    one's photo ids, in the same order."""
    from tests.test_metadata_reread import _as_before, _float_id_sidecar
    from tests.test_spreadsheet_metadata import _ingest, _photos

    sidecar = _float_id_sidecar(tmp_path, _photos(tmp_path / "photos", 3))
    with monkeypatch.context() as before:
        _as_before(before)
        upgraded = sorted(_ingest(tmp_path, sidecar, ws_name="upgraded")[1]["photo_id"])
    new = sorted(_ingest(tmp_path, sidecar, ws_name="new")[1]["photo_id"])
    assert [photo_id + ".0" for photo_id in new] == upgraded  # the ids differ so, or this test tests nothing
    return {"upgraded": upgraded, "new": new}


@pytest.mark.parametrize("decided_in, imported_to", [("upgraded", "new"), ("new", "upgraded")])
def test_an_imported_decision_applies_to_the_photo_whose_id_differs_only_by_a_trailing_point_zero(
        tmp_path, monkeypatch, decided_in, imported_to):
    """Audit CU MED-1: decisions exported from a workspace that keeps pandas' float ids (`folder:2911718073.0`)
    named photos a new workspace from the same folder (`folder:2911718073`) does not hold, and the import said they
    would apply "if it comes back", which they never would; the other way round too. They are recorded under the
    workspace's own id and applied, the line says so, a true stranger is still named, and a second import of the
    same file adds nothing."""
    ids = _float_id_workspaces(tmp_path, monkeypatch)
    given, held, root = ids[decided_in], ids[imported_to], tmp_path / imported_to
    stranger = "folder:5301239999" + (".0" if decided_in == "upgraded" else "")
    incoming = tmp_path / "in.jsonl"
    incoming.write_text("".join(json.dumps(d) + "\n" for d in (
        decision(given[0], "relabel", label="street"), decision(given[1], "drop"), decision(stranger, "keep"))))
    result = runner.invoke(app, ["review", "-w", str(root), "--import-decisions", str(incoming)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "2 matched a photo whose id differs only by a trailing '.0'" in said, said
    assert f"{given[0]} as {held[0]}" in said and f"{given[1]} as {held[1]}" in said
    assert "1 names a photo this workspace does not hold" in said
    catalog = read_catalog(Workspace(root)).set_index("photo_id")
    assert catalog.loc[held[0], "label"] == "street" and catalog.loc[held[0], "status"] == schema.KEPT
    assert catalog.loc[held[1], "status"] == schema.DROPPED and catalog.loc[held[2], "status"] == schema.KEPT
    assert [d["photo_id"] for d in read_decisions(Workspace(root))] == [held[0], held[1], stranger]
    again = runner.invoke(app, ["review", "-w", str(root), "--import-decisions", str(incoming)])
    assert again.exit_code == 0 and "imported 0 decisions (3 already here)" in again.output, again.output
    assert "matched" not in again.output and "the catalog did not change" in again.output
    assert len(read_decisions(Workspace(root))) == 3


def test_an_imported_decision_is_not_moved_to_one_of_two_photos_its_id_could_mean(tmp_path):
    """A workspace can hold both `folder:7` and `folder:7.0` (a sidecar whose ids are text the user wrote): a
    decision naming one of them applies to it, one naming `folder:7.00` could mean either and is not moved; a
    `folder:8.0` where only `folder:8` is held is."""
    from tests.test_spreadsheet_metadata import _ingest, _photos

    names = _photos(tmp_path / "photos", 3)
    sidecar = tmp_path / "meta.csv"
    sidecar.write_text("file,photo_id\n" + "".join(f"{name},{source_id}\n"
                                                   for name, source_id in zip(names, ["7", "7.0", "8"])))
    _, catalog = _ingest(tmp_path, sidecar)
    assert sorted(catalog["photo_id"]) == ["folder:7", "folder:7.0", "folder:8"]
    root = tmp_path / "ws"
    incoming = tmp_path / "in.jsonl"
    incoming.write_text("".join(json.dumps(d) + "\n" for d in (
        decision("folder:7.00", "drop"), decision("folder:7.0", "relabel", label="street"),
        decision("folder:8.0", "drop"))))
    result = runner.invoke(app, ["review", "-w", str(root), "--import-decisions", str(incoming)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "1 matched a photo whose id differs only by a trailing '.0'" in said and "(folder:8.0 as folder:8)" in said
    assert "1 names a photo this workspace does not hold" in said
    assert [d["photo_id"] for d in read_decisions(Workspace(root))] == ["folder:7.00", "folder:7.0", "folder:8"]
    catalog = read_catalog(Workspace(root)).set_index("photo_id")
    assert catalog.loc["folder:7", "status"] == schema.KEPT and pd.isna(catalog.loc["folder:7", "label"])
    assert catalog.loc["folder:7.0", "label"] == "street" and catalog.loc["folder:8", "status"] == schema.DROPPED


def test_a_decision_recorded_under_a_point_zero_id_before_imports_matched_them_applies(tmp_path, monkeypatch):
    """Review CZ MED-2: decisions an earlier import recorded under the other form of the id (before imports
    matched them) were skipped by every later import as already there, and never applied. They apply where the
    workspace's decisions are applied, and the import line no longer counts them as strangers."""
    from curate.review.journal import apply_workspace_decisions

    ids = _float_id_workspaces(tmp_path, monkeypatch)
    ws = Workspace(tmp_path / "new")
    recorded = decision(ids["upgraded"][0], "drop")  # as the import of the day before recorded it
    (ws.root / "reviews.jsonl").write_text(json.dumps(recorded) + "\n")
    write_catalog(ws, apply_workspace_decisions(ws, read_catalog(ws)))
    assert read_catalog(ws).set_index("photo_id").loc[ids["new"][0], "status"] == schema.DROPPED
    incoming = tmp_path / "in.jsonl"
    incoming.write_text(json.dumps(recorded) + "\n")
    again = runner.invoke(app, ["review", "-w", str(ws.root), "--import-decisions", str(incoming)])
    assert again.exit_code == 0, again.output
    assert "does not hold" not in again.output and "imported 0 decisions (1 already here)" in again.output


@pytest.mark.parametrize("args, needle, code", [
    (["--queue", "nope"], "unknown --queue 'nope'", 2),
    (["--import-decisions", "missing.jsonl"], "no such file", 2),
    (["--port", "70000"], "--port must be 1-65535", 2),
    (["-w", "AFILE"], "is a file, not a folder", 2),  # audit AN: "no catalog at AFILE/catalog.parquet"
    (["--import-decisions", "BAD"], "line 1 is not JSON", 3),
])
def test_bad_arguments_are_one_line(demo_ws, tmp_path, args, needle, code):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    a_file = tmp_path / "afile"
    a_file.write_text("not a workspace")
    args = [str(bad) if a == "BAD" else str(a_file) if a == "AFILE" else a for a in args]
    result = runner.invoke(app, ["review", "-w", str(demo_ws.root), *args])
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], result.output


@pytest.mark.parametrize("label", ["coast\u0000", "coast\nforest", "x" * 300, "coast\u2028forest", "a\u0085b"])
def test_an_import_holding_a_label_the_app_refuses_is_refused_whole(demo_ws, tmp_path, label):
    """Audit AN: `--import-decisions` took relabels to labels holding a NUL, a newline or 300 characters, which
    the review app refuses, into the catalog, the CSV export and model.json. Such a file is refused in one line
    naming the decision, and nothing of it is imported."""
    root = tmp_path / "ws"
    subprocess.run(["cp", "-a", str(demo_ws.root), str(root)], check=True)
    photos = read_catalog(Workspace(root))["photo_id"].tolist()[:2]
    incoming = tmp_path / "in.jsonl"
    incoming.write_text("".join(json.dumps(d) + "\n" for d in (decision(photos[0], "drop"),
                                                                 decision(photos[1], "relabel", label=label))))
    result = runner.invoke(app, ["review", "-w", str(root), "--import-decisions", str(incoming)])
    assert result.exit_code == 3, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "nothing was imported" in lines[0] and photos[1] in lines[0], result.output
    assert read_decisions(Workspace(root)) == []


def test_a_journal_line_holding_a_line_separator_still_reads(tmp_path):
    """Audit AO: a label with U+2028 was written raw (json.dumps, ensure_ascii=False) and read back with
    str.splitlines(), which splits on it: every filter and prefilter run then failed on "line 1 is not JSON".
    Lines end at "\\n" only."""
    ws = Workspace(tmp_path)
    ws.root.mkdir(exist_ok=True)
    odd = decision("t:a", "relabel", label="coast\u2028forest")
    reviews_path(ws).write_text(json.dumps(odd, ensure_ascii=False) + "\n" + json.dumps(decision("t:b", "drop"))
                                + "\n", encoding="utf-8")
    assert [d["photo_id"] for d in read_decisions(ws)] == ["t:a", "t:b"]


def test_an_imported_label_is_stripped_as_the_app_strips_it(demo_ws, tmp_path):
    """Audit AO: the app strips a relabel's label, the import did not, so " Forest " became a class of its own."""
    root = tmp_path / "ws"
    subprocess.run(["cp", "-a", str(demo_ws.root), str(root)], check=True)
    photo = read_catalog(Workspace(root))["photo_id"].iloc[0]
    incoming = tmp_path / "in.jsonl"
    incoming.write_text(json.dumps(decision(photo, "relabel", label=" tokyo ")) + "\n")
    result = runner.invoke(app, ["review", "-w", str(root), "--import-decisions", str(incoming)])
    assert result.exit_code == 0, result.output
    assert [d["label"] for d in read_decisions(Workspace(root))] == ["tokyo"]


def test_an_imported_label_in_nfd_is_the_nfc_label_and_a_new_label_is_named(demo_ws, tmp_path):
    """Audit CG: "São Paulo" typed in NFD made a second label that printed the same (two export folders, one on
    macOS), and the import never said it had made a new label, as the app does."""
    from curate.review.session import ReviewSession

    root = tmp_path / "ws"
    subprocess.run(["cp", "-a", str(demo_ws.root), str(root)], check=True)
    catalog = read_catalog(Workspace(root))
    photos = catalog.loc[catalog["status"] == "kept", "photo_id"].tolist()
    incoming = tmp_path / "in.jsonl"
    incoming.write_text("".join(json.dumps(decision(photo, "relabel", label="Sa\u0303o Paulo")) + "\n"
                                for photo in photos[:2]))
    result = runner.invoke(app, ["review", "-w", str(root), "--import-decisions", str(incoming)])
    assert result.exit_code == 0, result.output
    assert {d["label"] for d in read_decisions(Workspace(root))} == {"S\u00e3o Paulo"}
    said = " ".join(result.output.split())
    assert "note: 1 new label, not in the catalog before: 'S\u00e3o Paulo'" in said
    session = ReviewSession(Workspace(root), user="tester")  # the app: the same label, however it is typed
    session.decide(photos[2:3], "relabel", "Sa\u0303o Paulo")
    session.close()
    labels = set(read_catalog(Workspace(root))["label"].dropna())
    assert "S\u00e3o Paulo" in labels and "Sa\u0303o Paulo" not in labels
    again = tmp_path / "again.jsonl"  # a label the catalog holds already is not new
    again.write_text(json.dumps(decision(photos[3], "relabel", label="S\u00e3o Paulo")) + "\n")
    result = runner.invoke(app, ["review", "-w", str(root), "--import-decisions", str(again)])
    assert result.exit_code == 0 and "new label" not in result.output


def test_report_shows_what_was_reviewed(demo_ws, tmp_path):
    from curate.review.session import ReviewSession

    root = tmp_path / "ws"
    subprocess.run(["cp", "-a", str(demo_ws.root), str(root)], check=True)
    before = runner.invoke(app, ["report", "-w", str(root), "--max-gallery", "2"])
    assert before.exit_code == 0, before.output
    assert json.loads((root / "report" / "report.json").read_text())["sections"]["review"]["absent"]
    session = ReviewSession(Workspace(root), user="tester")
    catalog = session.catalog
    geo = catalog.loc[catalog["drop_reason"] == "geo_outlier", "photo_id"].tolist()[:2]
    kept = catalog.loc[catalog["status"] == "kept", "photo_id"].tolist()[:3]
    session.decide(geo, "keep")
    session.decide(kept[:1], "drop")
    session.decide(kept[1:], "relabel", "tokyo-review")
    session.close()
    assert runner.invoke(app, ["report", "-w", str(root), "--max-gallery", "2"]).exit_code == 0
    section = json.loads((root / "report" / "report.json").read_text())["sections"]["review"]
    assert (section["reviewed"], section["kept"], section["dropped"], section["relabelled"]) == (5, 4, 1, 2)
    assert section["overrode"] == {"filter: geo_outlier": 2}
    assert sum(r["photos"] for r in section["relabels"]) == 2
    assert {r["to"] for r in section["relabels"]} == {"tokyo-review"}
    page = (root / "report" / "index.html").read_text()
    assert 'id="review"' in page and "tokyo-review" in page


def test_the_app_never_overwrites_a_catalog_a_stage_wrote_meanwhile(demo_ws, tmp_path):
    from curate.review.session import ReviewSession
    from curate.workspace import write_catalog

    root = tmp_path / "ws"
    subprocess.run(["cp", "-a", str(demo_ws.root), str(root)], check=True)
    ws = Workspace(root)
    session = ReviewSession(ws, user="tester", flush_delay_s=60)
    first = session.catalog["photo_id"].iloc[0]
    session.decide([first], "drop")
    stage_catalog = read_catalog(ws).assign(title="written by a stage")
    hold = session._hold_workspace

    @contextlib.contextmanager
    def stage_finishes_first():  # a stage wrote the catalog and let go of the lock just before the app took it
        write_catalog(ws, stage_catalog)
        with hold():
            yield

    session._hold_workspace = stage_finishes_first
    assert not session.flush()  # not written: the stage's catalog is read again instead
    session._hold_workspace = hold
    assert session.flush()
    session.close()
    now = read_catalog(ws)
    assert (now["title"] == "written by a stage").all()
    assert now.set_index("photo_id").loc[first, "review_status"] == "dropped"


def test_sigterm_right_after_a_decision_still_writes_it_into_the_catalog(demo_ws, tmp_path):
    """An audit's `kill -TERM` half a second after a drop left the decision in reviews.jsonl but not in the
    catalog (uvicorn stops on SIGTERM, then sends it again, and Python's default ended the process before the
    catalog was written); a split then put the dropped photo in train. SIGTERM now leaves as Ctrl-C does."""
    import signal
    import socket
    import time

    root = tmp_path / "ws"
    subprocess.run(["cp", "-a", str(demo_ws.root), str(root)], check=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "curate.cli.app", "review", "-w", str(root), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            with contextlib.suppress(requests.ConnectionError):
                page = requests.get(f"{url}/?queue=label_issues", timeout=5)
                break
            time.sleep(0.1)
        token = json.loads(page.text.split('<script id="config" type="application/json">')[1]
                           .split("</script>")[0])["csrf"]
        kept = read_catalog(Workspace(root))
        photo = kept.loc[kept["status"] == "kept", "photo_id"].iloc[0]
        answer = requests.post(f"{url}/api/decide", json={"photo_ids": [photo], "action": "drop"},
                               headers={"X-CSRF-Token": token}, timeout=30)
        assert answer.status_code == 200, answer.text
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
    catalog = read_catalog(Workspace(root)).set_index("photo_id")
    assert catalog.loc[photo, "status"] == "dropped"
    assert [d["photo_id"] for d in read_decisions(Workspace(root))] == [photo]


def test_review_writes_are_recorded_so_a_run_tells_them_from_a_change_by_hand(demo_ws, tmp_path):
    """`curate.review.writes`: the app's flushes and an import each record (catalog before, after); only a chain
    of such writes links the catalog a run left to today's."""
    from curate.review.session import ReviewSession
    from curate.review.writes import note_write, reviewed_since
    from curate.workspace import catalog_sha256

    root = tmp_path / "ws"
    subprocess.run(["cp", "-a", str(demo_ws.root), str(root)], check=True)
    ws = Workspace(root)
    start = catalog_sha256(ws)
    session = ReviewSession(ws, user="tester", flush_delay_s=0.0)
    photo = session.catalog.loc[session.catalog["status"] == "kept", "photo_id"].iloc[0]
    session.decide([photo], "drop")
    assert session.flush()
    session.close()
    after_app = catalog_sha256(ws)
    assert after_app != start and reviewed_since(ws, start, after_app)
    incoming = tmp_path / "in.jsonl"
    incoming.write_text(json.dumps(decision(photo, "relabel", label="street")) + "\n")
    assert runner.invoke(app, ["review", "-w", str(root), "--import-decisions", str(incoming)]).exit_code == 0
    assert reviewed_since(ws, start, catalog_sha256(ws)) and reviewed_since(ws, after_app, catalog_sha256(ws))
    # the same import again changes nothing, and must not break the chain (review DB: it linked the catalog to itself)
    assert runner.invoke(app, ["review", "-w", str(root), "--import-decisions", str(incoming)]).exit_code == 0
    assert reviewed_since(ws, start, catalog_sha256(ws))
    assert not reviewed_since(ws, catalog_sha256(ws), start)  # not backwards
    assert not reviewed_since(ws, start, start)  # nothing reviewed
    write_catalog(ws, read_catalog(ws).assign(title="by hand"))
    assert not reviewed_since(ws, start, catalog_sha256(ws))
    note_write(ws, "b", "a")
    note_write(ws, "a", "b")  # a loop in a hand-edited file ends
    assert not reviewed_since(ws, "c", "a")


def test_a_flush_waits_for_the_background_writer_it_overlaps(demo_ws, tmp_path, monkeypatch):
    """A fresh clone's suite (2026-12-07): the background writer took the decisions and was still writing when the
    caller's flush found nothing left to write and returned, so the caller read the catalog without them."""
    import threading
    import time

    from curate.review import session as session_module
    from curate.review.session import ReviewSession

    root = tmp_path / "ws"
    subprocess.run(["cp", "-a", str(demo_ws.root), str(root)], check=True)
    writing = threading.Event()
    real_write = session_module.write_catalog

    def slow_write(ws, catalog):
        writing.set()
        time.sleep(0.5)  # the background writer is mid-write when the caller flushes
        real_write(ws, catalog)

    monkeypatch.setattr(session_module, "write_catalog", slow_write)
    session = ReviewSession(Workspace(root), user="tester", flush_delay_s=0.0)
    photo = session.catalog.loc[session.catalog["status"] == "kept", "photo_id"].iloc[0]
    session.decide([photo], "relabel", "flushed-label")
    assert writing.wait(10)  # the background writer has the decision and is writing it
    assert session.flush()
    assert read_catalog(Workspace(root)).set_index("photo_id").loc[photo, "label"] == "flushed-label"
    session.close()


def test_an_imported_older_decision_does_not_beat_a_newer_local_one():
    """Audit EL HIGH-1: importing appends another workspace's decisions to the journal; the latest made must win,
    not the last in the file, or two workspaces holding the same decisions disagree about a photo."""
    from curate.review.apply import decided_state

    local_drop = {"id": "d1", "action": "drop", "photo_id": "folder:7", "when": "2026-12-08T01:34:55.000+00:00"}
    imported_relabel = {"id": "r1", "action": "relabel", "photo_id": "folder:7", "label": "white",
                        "when": "2026-12-08T01:34:52.000+00:00"}
    here = decided_state([local_drop, imported_relabel])
    there = decided_state([imported_relabel, local_drop])
    assert here.loc["folder:7", "status"] == "dropped"
    assert here.loc["folder:7"].to_dict() == there.loc["folder:7"].to_dict()
