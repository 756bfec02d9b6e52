"""Copies shared by photographers must not leave a label unjudged (the all-real-photos audit, 2026-12-05, and
the overlap match after it): the label model's folds join photographers through near-duplicate copies as the
split does, and when that leaves photos unjudged the folds keep each copy set with its main photographer
instead (`curate.split.copy_owner_groups`); the split still keeps the chains."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.prefilter.stage import PrefilterConfig, prefilter_catalog
from curate.split import copy_owner_groups, split_groups
from tests.helpers import examples
from tests.test_split import UnionFind, make_catalog

DIM = 16


def chained_collection(chain: bool, seed: int = 0):
    """(catalog, vectors, planted): labels a, b, c of 60 photos by 12 photographers each, one planted
    mislabel apiece (a photo of the next label by an outsider). With `chain`, label a's photographers each
    share one near-duplicate copy with the next (a re-post: a pair of photos in one cluster), which joins
    all 12 of them, and the intruder, into one group."""
    rng = np.random.default_rng(seed)
    rows, vectors, planted = [], [], []

    def add(label, owner, direction, cluster=None):
        rows.append({"label": label, "owner_id": owner, "image_path": f"i{len(rows)}.jpg", "tags": [],
                     "near_dup_cluster": cluster})
        vectors.append(np.eye(DIM)[direction] + 0.35 * rng.normal(size=DIM))
        planted.append(False)

    for k, label in enumerate("abc"):
        for i in range(60):
            owner, turn = i % 12, i // 12  # five photos per photographer
            cluster = None
            if chain and label == "a" and turn == 0 and owner < 11:
                cluster = f"copy{owner}"  # the first photo of photographer n ...
            if chain and label == "a" and turn == 1 and owner > 0:
                cluster = f"copy{owner - 1}"  # ... and the second of photographer n + 1: one re-posted picture
            add(label, f"{label}-owner{owner:02d}", k, cluster)
        add(label, f"intruder-{label}", (k + 1) % 3, "copy0" if chain and label == "a" else None)
        planted[-1] = True
    return make_catalog(rows), np.asarray(vectors, np.float32), np.array(planted)


def judge(catalog, vectors):
    n = len(catalog)
    config = PrefilterConfig(topic=None, label_issues_only=True)
    return prefilter_catalog(catalog, vectors, np.ones(n, bool), np.ones(n, bool), config)


def test_copies_chaining_a_labels_photographers_no_longer_leave_it_unjudged():
    catalog, vectors, planted = chained_collection(chain=True)
    label_a = (catalog["label"] == "a").to_numpy()
    assert len(np.unique(split_groups(catalog, "owner")[label_a])) == 1  # the split's chain: one group
    result, report = judge(catalog, vectors)
    assert result["is_label_issue"].notna().all()  # every photo judged
    flagged = result["is_label_issue"].astype(bool).to_numpy()
    assert flagged[planted].all() and flagged[label_a].sum() <= 3  # a's intruder found, a's own photos kept
    rows = {row["label"]: row for row in report.per_label}
    assert rows["a"]["unjudged"] == 0 and rows["a"]["agreement"] > 0.9
    [note] = [n for n in report.notes if n.startswith("label issues: near-duplicate copies")]
    assert "(a 61 of 61 photos)" in note and "61 more photos were judged" in note
    assert "the split still keeps such photographers together" in note
    assert not [n for n in report.notes if n.startswith("label issues not judged")]


def test_without_chains_the_folds_are_the_splits_and_no_note_is_made():
    catalog, vectors, planted = chained_collection(chain=False)
    result, report = judge(catalog, vectors)
    assert result["is_label_issue"].notna().all()
    assert result["is_label_issue"].astype(bool).to_numpy()[planted].all()
    assert not [n for n in report.notes if "copies" in n]


def test_a_chain_the_loose_groups_cannot_help_keeps_the_splits_groups():
    """Photos unjudged for another reason (a label of 11 photos: no fold model sees 10 of them) do not switch
    the grouping: the loose groups judge no more, so the note is the usual `not judged` one."""
    catalog, vectors, _ = chained_collection(chain=False)
    extra = make_catalog([{"label": "d", "owner_id": f"d{i}", "image_path": f"d{i}.jpg", "tags": [],
                           "source_id": f"d{i}"} for i in range(11)])
    catalog = pd.concat([catalog, extra], ignore_index=True)
    vectors = np.vstack([vectors, np.eye(DIM)[[5] * 11] + 0.1])
    _, report = judge(catalog, vectors)
    assert not [n for n in report.notes if "copies" in n]
    [note] = [n for n in report.notes if n.startswith("label issues not judged")]
    assert "d 11 of 11" in note


owners = st.one_of(st.none(), st.sampled_from(["o1", "o2", "o3", "o4"]))
clusters = st.one_of(st.none(), st.sampled_from(["x", "y", "z"]))


@settings(max_examples=examples(60), deadline=None)
@given(st.lists(st.tuples(owners, clusters, clusters), min_size=1, max_size=25))
def test_copy_owner_groups_keep_copies_together_and_refine_the_split(cells):
    catalog = make_catalog([{"owner_id": o, "near_dup_cluster": c, "exact_dup_group": e and f"e{e}", "label": "l"}
                            for o, c, e in cells])
    loose, chained = copy_owner_groups(catalog), split_groups(catalog, "owner")
    copies = UnionFind(len(cells))  # copy sets, worked out here
    for key in ("near_dup_cluster", "exact_dup_group"):
        for _, members in catalog.groupby(key).groups.items():
            for other in members[1:]:
                copies.union(int(members[0]), int(other))
    for i in range(len(cells)):
        for j in range(len(cells)):
            if copies.find(i) == copies.find(j):
                assert loose[i] == loose[j]  # a copy set is never split
            if loose[i] == loose[j]:
                assert chained[i] == chained[j]  # every loose group lies inside one split group
    # a photographer none of whose photos is in a copy set shared with another photographer stays whole
    owner = catalog["owner_id"]
    for name in owner.dropna().unique():
        theirs = np.flatnonzero((owner == name).to_numpy())
        shared = {copies.find(int(i)) for i in theirs}
        others = [j for j in range(len(cells)) if owner.iloc[j] != name and copies.find(j) in shared]
        if not others:
            assert len(set(loose[theirs])) == 1


def test_a_rescue_candidate_inherits_the_fold_of_its_photographer_in_the_loose_groups():
    """A geo or topic rescue candidate is scored by its group's fold model: with the loose groups, the group of
    its own photographer (B), not the one chain that a copy shared by A and B makes of both."""
    from curate.prefilter.folds import inherited_folds

    cells = [("A", "x")] + [("A", None)] * 4 + [("B", "x")] + [("B", None)] * 3  # the copy set x is A's (5 photos)
    catalog = make_catalog([{"owner_id": owner, "near_dup_cluster": cluster, "label": "l"} for owner, cluster in cells])
    rows, fold, candidate = np.arange(8), np.array([0] * 6 + [1] * 2), np.array([8])  # B's own photos in fold 1
    assert inherited_folds(catalog, rows, fold, candidate, 5, 0, copy_owner_groups).tolist() == [1]
    assert inherited_folds(catalog, rows, fold, candidate, 5, 0).tolist() == [0]  # the split's chain: A's fold


def test_the_sandals_photographer_is_still_scored_by_models_that_never_saw_his_sandals():
    """The talk's case inside a chain: a photographer tags 25 photos that look like label b `a` (his sandals
    tagged Chicago) and re-posts one of owner03's pictures, which joins him to label a's chained
    photographers. The loose groups give the re-post to owner03 (two of the copy set's three photos) and keep
    his photos in one group, so no fold model that scores one of them trained on another: they are flagged.
    Folds that spread his photos (one group per photo) teach `a` = his look and pass most of them."""
    catalog, vectors, _ = chained_collection(chain=True)
    rng = np.random.default_rng(1)
    owner03 = np.flatnonzero((catalog["owner_id"] == "a-owner03").to_numpy())[2:4]  # two of his unlinked photos
    catalog.loc[owner03, "near_dup_cluster"] = "repost"
    rows = [{"label": "a", "owner_id": "sandals", "image_path": f"s{i}.jpg", "tags": [], "source_id": f"s{i}",
             "near_dup_cluster": "repost" if i == 0 else None} for i in range(26)]
    sandals = np.vstack([vectors[owner03[0]]] + [np.eye(DIM)[1] + 0.35 * rng.normal(size=DIM) for _ in range(25)])
    catalog = pd.concat([catalog, make_catalog(rows)], ignore_index=True)
    vectors = np.vstack([vectors, sandals.astype(np.float32)])
    is_sandal = (catalog["owner_id"] == "sandals").to_numpy() & (catalog["near_dup_cluster"] != "repost").to_numpy()
    assert is_sandal.sum() == 25
    label_a = (catalog["label"] == "a").to_numpy()
    assert len(np.unique(split_groups(catalog, "owner")[label_a])) == 1  # the chain takes him in as well
    loose = copy_owner_groups(catalog)
    assert len(np.unique(loose[is_sandal])) == 1  # his sandals: one group, so one fold
    assert loose[owner03[0]] == loose[np.flatnonzero(catalog["near_dup_cluster"] == "repost")].max()

    result, report = judge(catalog, vectors)
    assert result["is_label_issue"].notna().all()  # every photo judged, his included
    flagged = result["is_label_issue"].astype(bool).to_numpy()
    assert flagged[is_sandal].mean() >= 0.8
    assert flagged[label_a & ~is_sandal].sum() <= 4  # a's own skylines (and the re-post) kept


def test_copies_of_a_flagged_photo_under_its_label_share_the_flag():
    """Confident learning flags the least self-confident photos of a class first: an intruder's copy whose pixels
    moved (a resize, a re-save) can fall just short and stay unflagged beside its flagged original (the
    2026-12-05 audit A: img_0063 flagged, its 10 % resize img_0348 not). Copies under one label share the
    verdict; a copy filed under another label keeps its own."""
    catalog, vectors, planted = chained_collection(chain=False)
    intruder = int(np.flatnonzero(planted & (catalog["label"] == "a").to_numpy())[0])
    catalog.loc[intruder, "near_dup_cluster"] = "copy"
    extra = catalog.iloc[[intruder, intruder]].copy()
    extra["photo_id"] = ["resized", "elsewhere"]
    extra["image_path"] = ["resized.jpg", "elsewhere.jpg"]
    extra["label"] = ["a", "b"]  # the same wrong label; the same picture filed under its right label
    catalog = pd.concat([catalog, extra], ignore_index=True)
    ambiguous = 0.4 * np.eye(DIM)[0] + 0.6 * np.eye(DIM)[1]  # more b than a, not enough to be flagged alone
    vectors = np.vstack([vectors, ambiguous, vectors[intruder]]).astype(np.float32)
    result, _ = judge(catalog, vectors)
    flagged = result["is_label_issue"].astype(bool).to_numpy()
    quality = result["label_quality"].to_numpy()
    assert flagged[intruder] and quality[-2] > quality[intruder]
    assert flagged[-2]  # the resized copy under the same wrong label: flagged with its original
    assert not flagged[-1]  # the copy under "b" agrees with its pixels
    alone = catalog.copy()
    alone.loc[len(alone) - 2, "near_dup_cluster"] = None  # not a copy: judged on its own pixels
    assert not judge(alone, vectors)[0]["is_label_issue"].astype(bool).to_numpy()[-2]
    believed = vectors.copy()
    believed[-2] = np.eye(DIM)[0]  # a cluster member the model sees as an `a` (two crops of one scene): its own verdict
    assert not judge(catalog, believed)[0]["is_label_issue"].astype(bool).to_numpy()[-2]
