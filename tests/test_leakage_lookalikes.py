"""`curate check-leakage`'s look-alikes across the split (curate.leakage_lookalikes): val/test photos whose nearest
train photo has a high embedding cosine without sharing an owner, cluster or exact group are listed for review,
not counted as leaks (audit DF: tiled watermarks and 9:16 crops the filter missed crossed the split unseen)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from curate.embed_cache import EmbeddingCache
from curate.filters import verify
from curate.leakage_lookalikes import NO_EMBEDDINGS_NOTE, find_lookalikes, workspace_lookalikes
from curate.settings_fields import SettingError
from curate.workspace import Workspace
from tests.test_split import cli, make_catalog, write_ws

DIM = 16


def unit(seed: int, near: np.ndarray | None = None, noise: float = 0.0) -> np.ndarray:
    """A random unit vector, or one `noise` away from `near`."""
    rng = np.random.default_rng(seed)
    vector = rng.normal(size=DIM) if near is None else near + noise * rng.normal(size=DIM)
    return vector / np.linalg.norm(vector)


def catalog() -> pd.DataFrame:
    """Train: a (owner o1), b (o1), c (o3, cluster k); test: t1 (o2, a's look-alike), t2 (o4, far from all);
    val: v1 (o5, b's copy but in b's exact-duplicate group: already joined)."""
    return make_catalog([
        {"source_id": "a", "owner_id": "o1", "label": "red", "split": "train"},
        {"source_id": "b", "owner_id": "o1", "label": "red", "split": "train", "exact_dup_group": "g"},
        {"source_id": "c", "owner_id": "o3", "label": "black", "split": "train"},
        {"source_id": "t1", "owner_id": "o2", "label": "red", "split": "test"},
        {"source_id": "t2", "owner_id": "o4", "label": "black", "split": "test"},
        {"source_id": "v1", "owner_id": "o5", "label": "red", "split": "val", "exact_dup_group": "g"},
    ])


def vectors() -> dict[str, np.ndarray]:
    a, b = unit(1), unit(2)
    return {"a": a, "b": b, "c": unit(3), "t1": unit(4, a, 0.05), "t2": unit(5), "v1": unit(6, b, 0.05)}


def embed(root, frame: pd.DataFrame, chosen: dict[str, np.ndarray], backbone: str = verify.EMBEDDING_BACKBONE):
    """Put `chosen` (source_id -> vector) in the workspace's embedding cache under each photo's sha256."""
    rows = frame.set_index("source_id").loc[list(chosen)]
    EmbeddingCache(Workspace(root), backbone).append(rows["sha256"].tolist(), np.stack(list(chosen.values())),
                                                     np.ones(len(chosen), bool))


def test_find_lookalikes_lists_a_cross_split_pair_outside_every_group():
    frame, found_vectors = catalog(), vectors()
    matrix = np.stack([found_vectors[name] for name in frame["source_id"]]).astype(np.float32)
    found = find_lookalikes(frame, matrix, 0.9)
    assert found["photo_id"].tolist() == ["t:t1"]  # v1 shares b's exact group: find_leakage's, not listed
    row = found.iloc[0]
    assert (row["split"], row["label"], row["train_photo_id"], row["train_label"]) == ("test", "red", "t:a", "red")
    assert row["cosine"] >= 0.9
    assert find_lookalikes(frame, matrix, 0.9999).empty  # below the cosine: nothing


def test_a_pair_in_one_near_duplicate_cluster_or_of_one_owner_is_not_a_lookalike():
    frame, found_vectors = catalog(), vectors()
    matrix = np.stack([found_vectors[name] for name in frame["source_id"]]).astype(np.float32)
    for column, value in (("near_dup_cluster", "k"), ("owner_id", "o1")):
        joined = frame.copy()
        joined[column] = joined[column].astype(object)
        joined.loc[joined["source_id"].isin(["a", "t1"]), column] = value
        assert find_lookalikes(joined, matrix, 0.9).empty, column


def test_only_the_closest_train_photo_is_listed_and_dropped_photos_are_not_compared():
    frame, found_vectors = catalog(), vectors()
    found_vectors["c"] = unit(7, found_vectors["t1"], 0.01)  # closer to t1 than a is
    matrix = np.stack([found_vectors[name] for name in frame["source_id"]]).astype(np.float32)
    found = find_lookalikes(frame, matrix, 0.9)
    assert found[["photo_id", "train_photo_id"]].values.tolist() == [["t:t1", "t:c"]]
    dropped = frame.copy()
    dropped.loc[dropped["source_id"] == "c", "status"] = "dropped"
    assert find_lookalikes(dropped, matrix, 0.9)["train_photo_id"].tolist() == ["t:a"]


def test_check_leakage_lists_lookalikes_for_review_and_still_exits_0(tmp_path):
    frame = catalog()
    root = write_ws(tmp_path, frame)
    embed(root, frame, vectors())
    result = cli("check-leakage", "-w", root, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["count"] == 0
    assert [(row["photo_id"], row["split"], row["train_photo_id"]) for row in payload["look_alikes"]] == [
        ("t:t1", "test", "t:a")]
    assert payload["look_alikes"][0]["label"] == "red" and payload["look_alikes"][0]["cosine"] >= 0.9
    human = cli("check-leakage", "-w", root)
    assert human.exit_code == 0, human.output
    assert "1 val/test photo looks like a train photo (cosine >= 0.9) without being in one cluster" in human.output
    assert "t:t1" in human.output
    off = cli("check-leakage", "-w", root, "--lookalike-cosine", "off", "--json")
    assert off.exit_code == 0 and "look_alikes" not in json.loads(off.stdout)
    strict = cli("check-leakage", "-w", root, "--lookalike-cosine", "0.9999", "--json")
    assert json.loads(strict.stdout)["look_alikes"] == []


def test_check_leakage_without_embeddings_says_curate_embed_enables_the_check(tmp_path):
    root = write_ws(tmp_path, catalog())
    result = cli("check-leakage", "-w", root)
    assert result.exit_code == 0, result.output
    assert "`curate embed` (its default backbone) enables the check" in " ".join(result.output.split())
    assert "no leakage" in result.output


def test_other_backbones_vectors_and_missing_vectors(tmp_path):
    frame = catalog()
    root = write_ws(tmp_path, frame)
    embed(root, frame, vectors(), backbone="resnet18")  # another scale of cosines: not read
    assert workspace_lookalikes(Workspace(root), 0.9).notes == [NO_EMBEDDINGS_NOTE]
    chosen = vectors()
    del chosen["t2"]
    embed(root, frame, chosen)
    found = workspace_lookalikes(Workspace(root), 0.9)
    assert found.pairs["photo_id"].tolist() == ["t:t1"] and found.checked == 2
    assert found.notes and found.notes[0].startswith("1 val/test photo has no embedding")
    skipped = workspace_lookalikes(Workspace(root), 0.9, max_photos=3)
    assert skipped.pairs is None and "not checked: 6 kept photos" in skipped.notes[0]


@pytest.mark.parametrize("value", ["0", "1.5", "maybe", True])
def test_a_bad_lookalike_cosine_is_refused(value, tmp_path):
    from curate.pipeline.settings import LeakageSettings

    with pytest.raises(SettingError, match="lookalike.cosine must be a cosine"):
        LeakageSettings(lookalike_cosine=value)
    if isinstance(value, str):
        result = cli("check-leakage", "-w", write_ws(tmp_path, catalog()), "--lookalike-cosine", value)
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert "--lookalike-cosine must be a cosine in (0, 1], or off" in result.output


def test_a_catalog_over_the_limit_is_counted_not_held_in_memory(tmp_path, monkeypatch):
    """Review DP: check-leakage reads a large catalog out of core (audit AW3); the look-alike check skips one of more
    than max_photos kept split photos, so it must not gather them all first (20M rows of 8 columns) to say so."""
    from curate import catalog_batches

    frame = catalog()
    root = write_ws(tmp_path, frame)
    embed(root, frame, vectors())
    whole = catalog_batches.CatalogFile.batches

    def row_by_row(self, columns):  # one-row batches, as a catalog of many row groups would come
        for batch in whole(self, columns):
            yield from (batch.iloc[[k]] for k in range(len(batch)))

    gathered = []
    concat = pd.concat

    def spy(parts, *args, **kwargs):
        parts = list(parts)
        gathered.append(sum(len(part) for part in parts))
        return concat(parts, *args, **kwargs)

    monkeypatch.setattr(catalog_batches.CatalogFile, "batches", row_by_row)
    monkeypatch.setattr(pd, "concat", spy)
    skipped = workspace_lookalikes(Workspace(root), 0.9, max_photos=3)
    assert skipped.pairs is None and "not checked: 6 kept photos with a split, over 3" in skipped.notes[0]
    assert max(gathered, default=0) <= 3  # at most max_photos rows were ever gathered
    found = workspace_lookalikes(Workspace(root), 0.9, max_photos=6)  # at the limit: checked as before
    assert found.pairs["photo_id"].tolist() == ["t:t1"]


def test_a_split_without_val_or_test_photos_says_so_instead_of_none_of_0(tmp_path):
    """Review DP F7: with no val/test photos the summary read "none of the 0 val/test photos has a train photo"."""
    frame = catalog()
    frame["split"] = frame["split"].where(frame["status"] != "kept", "train")
    root = write_ws(tmp_path, frame)
    embed(root, frame, vectors())
    found = workspace_lookalikes(Workspace(root), 0.9)
    assert found.pairs is None and found.summary() is None
    assert found.notes == ["look-alikes across the split not checked: the split has no val or test photos"]


def test_curate_runs_check_leakage_step_says_how_many_look_alikes_and_where_to_see_them(tmp_path):
    """The look-alike list was `curate check-leakage`'s alone: a recipe run said "no owner, near-duplicate cluster
    or exact image spans two splits" and nothing of the test photo that looks like a train photo."""
    from curate.pipeline.runner import StepSummary
    from curate.pipeline.steps import _against_settings, _check_leakage

    frame = catalog()
    root = write_ws(tmp_path, frame)
    embed(root, frame, vectors())
    said = _check_leakage(Workspace(root), None, 0.9)
    assert isinstance(said, StepSummary) and said.line.startswith("no owner, near-duplicate cluster")
    assert said.warnings == ("1 val/test photo looks like a train photo (cosine >= 0.9) without being in one cluster: "
                             "review them (a copy the filter missed leaks; two photos of one landmark or model do "
                             "not); not counted as leaks; `curate check-leakage` lists them",)
    assert _check_leakage(Workspace(root), None, None) == said.line  # off: the line alone
    assert _against_settings(None) == {} and _against_settings(None, 0.95) == {"lookalike_cosine": 0.95}


def test_no_lookalike_says_how_near_the_closest_pair_came_to_the_cut(tmp_path):
    """Audit DY F8: "no look-alikes" hid a pair of one kitchen at 0.886 under the 0.90 cut; the check now gives the
    highest cosine outside every group down to NEAREST_BAND under the cut, in its summary, --json and saved report."""
    from curate.leakage_lookalikes import NEAREST_BAND, REPORT

    frame, chosen = catalog(), vectors()
    root = write_ws(tmp_path, frame)
    embed(root, frame, chosen)
    found = workspace_lookalikes(Workspace(root), 0.9)  # found at the cut: the nearest is the first pair
    closest = float(found.pairs["cosine"].iloc[0])  # t1 and its train look-alike a, then under a stricter cut
    assert found.nearest == closest
    cut = round(closest + 0.01, 3)
    assert cut - NEAREST_BAND < closest < cut
    strict = workspace_lookalikes(Workspace(root), cut)
    assert strict.pairs.empty and strict.nearest == closest
    assert strict.summary().endswith(f"outside its groups; the nearest is {closest:.3f} (`--lookalike-cosine "
                                     f"{np.floor(closest * 100) / 100:g}` lists it)")
    human = cli("check-leakage", "-w", root, "--lookalike-cosine", str(cut))
    assert human.exit_code == 0 and f"the nearest is {closest:.3f}" in " ".join(human.output.split())
    saved = json.loads((Workspace(root).reports_dir / f"{REPORT}.json").read_text())["look_alikes"]
    assert saved["count"] == 0 and saved["nearest_cosine"] == closest
    assert saved["nearest_from"] == round(cut - NEAREST_BAND, 3)
    as_json = json.loads(cli("check-leakage", "-w", root, "--lookalike-cosine", str(cut), "--json").stdout)
    assert as_json["look_alikes"] == [] and as_json["look_alike_nearest_cosine"] == closest
    joined = frame.assign(owner_id=frame["owner_id"].mask(frame["source_id"] == "t1", "o1"))  # t1 a's owner's
    (tmp_path / "far").mkdir()
    far_root = write_ws(tmp_path / "far", joined)
    embed(far_root, joined, chosen)
    far = workspace_lookalikes(Workspace(far_root), 0.9)  # nothing else within the band: said so
    assert far.pairs.empty and far.nearest is None
    assert far.summary().endswith(f"outside its groups; none even at >= {0.9 - NEAREST_BAND:g}")


def test_the_cut_the_nearest_line_suggests_lists_the_nearest_pair(tmp_path):
    """Review EE: the nearest cosine is shown to 3 places, and the cut it suggested was that value floored to 2,
    so a pair at 0.8797 read "the nearest is 0.880 (`--lookalike-cosine 0.88` lists it)" and 0.88 listed nothing."""
    frame, chosen = catalog(), vectors()
    a = chosen["a"]
    other = unit(9)
    other = other - other.dot(a) * a
    other /= np.linalg.norm(other)
    chosen["t1"] = 0.8797 * a + np.sqrt(1 - 0.8797 ** 2) * other  # t1's cosine with a: 0.8797, shown as 0.880
    root = write_ws(tmp_path, frame)
    embed(root, frame, chosen)
    summary = workspace_lookalikes(Workspace(root), 0.9).summary()
    assert "the nearest is 0.880 (`--lookalike-cosine " in summary
    cut = float(summary.split("--lookalike-cosine ")[1].split("`")[0])
    listed = workspace_lookalikes(Workspace(root), cut).pairs
    assert listed["photo_id"].tolist() == ["t:t1"], (summary, cut)


def test_a_check_that_finds_look_alikes_searches_once_at_the_cut(tmp_path, monkeypatch):
    """Review EE: the nearest cosine is shown only where no pair reaches the cut, but every check searched 0.05
    under it, and the search's cost grows with the candidates it must verify (a large collection mostly has pairs
    at the cut). A check that finds pairs searches once, at the cut, with the same result; one that finds none
    searches again under it."""
    from curate.filters import embed_neighbours
    from curate.leakage_lookalikes import NEAREST_BAND

    searched = []
    search = embed_neighbours.cosine_pairs

    def recorded(vectors, min_cosine, **options):
        searched.append(min_cosine)
        return search(vectors, min_cosine, **options)

    monkeypatch.setattr(embed_neighbours, "cosine_pairs", recorded)
    frame, chosen = catalog(), vectors()
    root = write_ws(tmp_path, frame)
    embed(root, frame, chosen)
    found = workspace_lookalikes(Workspace(root), 0.9)
    assert searched == [0.9] and len(found.pairs) and found.nearest == float(found.pairs["cosine"].iloc[0])
    searched.clear()
    strict = workspace_lookalikes(Workspace(root), 0.9999)
    assert searched == [0.9999, round(0.9999 - NEAREST_BAND, 3)] and strict.pairs.empty
    assert strict.nearest == found.nearest
