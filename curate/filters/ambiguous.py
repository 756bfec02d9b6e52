"""Photos whose tags name two or more recipe labels (`tag_labels`, set at ingest; no label given by a folder
or column): dropped as ambiguous_label, unless they are so many that the labels, not the photos, look wrong.

A few photos tagged "paris" and "london" are mistakes or trip albums. Many, or most of one label, mean a
label that is also an everyday tag ("street" beside "london street bus": audit AB lost 60 % of london that
way) or labels that are not exclusive (real Flickr Ferraris tagged "red" and "black wheels": 22 % of the
collection). Then the drops are held, with the rule for copies under two labels (`duplicates.conflicts_held`:
10 or more photos, and over 10 % of the labelled photos or over half of a label of 10 or more): the photos
stay kept without a label (training and export leave them out) and a warning names
the label pairs and how to settle them. Both engines count the same from the pairs' photo counts.
"""

from __future__ import annotations

import pandas as pd

from curate.filters import duplicates

SEPARATOR = "+"
# A label whose photos (those naming it) nearly all name another label too looks nested in it, a kind of it
# (audit N1: 93 of the 98 photos naming ferrari also named car); said in the held warning, for labels of
# duplicates.MIN_HELD photos or more (fewer are too few to tell a kind from a coincidence).
NESTED_SHARE = 0.9


def pair_names(tag_labels: pd.Series) -> pd.Series:
    """Each photo's named labels as one text, in recipe order (`london+street`), as the DuckDB engine writes it."""
    return tag_labels.map(lambda names: SEPARATOR.join(map(str, names)))


def label_table(labelled: pd.Series, pairs: pd.Series) -> pd.DataFrame:
    """Per label: `photos` (kept photos with the label, plus the ambiguous ones naming it) and `conflicting`
    (the ambiguous ones naming it), from the kept labelled photos' label counts and the ambiguous photos'
    counts per `pair_names` text; the columns `duplicates.conflicts_held` reads.

    >>> label_table(pd.Series({"london": 20, "paris": 50}), pd.Series({"london+street": 30, "paris+london": 10}))
            photos  conflicting
    london      60           40
    paris       60           10
    street      30           30
    """
    named = pd.Series(pairs.index.str.split(SEPARATOR), index=pairs.index).explode()
    per_label = pd.Series(pairs.reindex(named.index).to_numpy(), index=named.to_numpy()).groupby(level=0).sum()
    table = pd.DataFrame({"labelled": labelled, "conflicting": per_label}).fillna(0).astype("int64")
    table["photos"] = table["labelled"] + table["conflicting"]
    return table[["photos", "conflicting"]].sort_index()


def held(labelled: pd.Series, pairs: pd.Series, force: bool) -> bool:
    """Whether the ambiguous photos are so many that their drops are held (see the module docstring): each
    photo counted once (audit AC: counted once per label it names, 5 photos made "10 or more").

    >>> held(pd.Series({"paris": 100, "london": 100}), pd.Series({"london+paris": 5}), force=False)
    False
    >>> held(pd.Series({"paris": 40, "london": 40}), pd.Series({"london+paris": 10}), force=False)
    True
    """
    photos = int(pairs.sum())
    if force or photos < duplicates.MIN_HELD:
        return False
    table = label_table(labelled, pairs)
    most = (table["photos"] >= duplicates.MIN_HELD) & (table["conflicting"] > 0.5 * table["photos"])
    return bool(photos > duplicates.MAX_CONFLICT_SHARE * (int(labelled.sum()) + photos) or most.any())


def pairs_text(pairs: pd.Series, limit: int = 4) -> str:
    """`london+street 30, paris+london 10` (most photos first), with how many more pairs."""
    ordered = pairs.sort_index().sort_values(ascending=False, kind="stable")
    text = ", ".join(f"{names} {count:,}" for names, count in ordered.head(limit).items())
    return text + (f" and {len(ordered) - limit:,} more" if len(ordered) > limit else "")


def nested_labels(labelled: pd.Series, pairs: pd.Series) -> pd.DataFrame:
    """The labels nested in another: label, within (the other label), both (photos naming the two), photos
    (photos naming `label`: `label_table`'s), for labels of duplicates.MIN_HELD photos or more of which
    NESTED_SHARE or more also name `within`; the most nested first, one row per label (its likeliest parent).

    >>> nested_labels(pd.Series({"car": 62, "ferrari": 5}), pd.Series({"car+ferrari": 93})).values.tolist()
    [['ferrari', 'car', 93, 98]]
    """
    photos = label_table(labelled, pairs)["photos"]
    together: dict[tuple[str, str], int] = {}
    for names, count in pairs.items():  # one row per distinct set of named labels, not per photo
        named = list(dict.fromkeys(str(names).split(SEPARATOR)))
        for label in named:
            for other in named:
                if other != label:
                    together[label, other] = together.get((label, other), 0) + int(count)
    table = pd.DataFrame([(label, other, both, int(photos.get(label, 0))) for (label, other), both in together.items()],
                         columns=["label", "within", "both", "photos"])
    table = table[(table["photos"] >= duplicates.MIN_HELD) & (table["both"] >= NESTED_SHARE * table["photos"])]
    table = table.assign(share=table["both"] / table["photos"]).sort_values(
        ["share", "label", "within"], ascending=[False, True, True], kind="stable")
    return table.drop_duplicates("label")[["label", "within", "both", "photos"]].reset_index(drop=True)


def nested_text(labelled: pd.Series, pairs: pd.Series, limit: int = 3) -> str:
    """"; nested labels: …" for the held warning: each nested label (`nested_labels`), its parent and counts,
    and the fix ("" when none). Two labels each nested in the other name the same photos: said once.

    >>> nested_text(pd.Series({"car": 62, "ferrari": 0}), pd.Series({"car+ferrari": 93})).split("; ")[1]
    'nested labels: every photo naming ferrari also names car (93 of 93): ferrari looks like a kind of car'
    """
    table = nested_labels(labelled, pairs)
    pairs_of = set(zip(table["label"], table["within"]))
    clauses = []
    for row in table.itertuples():
        if (row.within, row.label) in pairs_of:  # each within the other: the same photos under two names
            if row.label < row.within:
                clauses.append(f"{row.label} and {row.within} name nearly the same photos ({row.both:,} of "
                               f"{row.photos:,} naming {row.label}): they look like one label twice")
            continue
        said = (f"every photo naming {row.label} also names {row.within}" if row.both == row.photos else
                f"{row.both / row.photos:.0%} of the photos naming {row.label} also name {row.within}")
        clauses.append(f"{said} ({row.both:,} of {row.photos:,}): {row.label} looks like a kind of {row.within}")
    if not clauses:
        return ""
    more = f"; and {len(clauses) - limit:,} more" if len(clauses) > limit else ""
    return (f"; nested labels: {'; '.join(clauses[:limit])}{more}; keep one of the two labels in the recipe, or "
            "give the photos one label each")


def lines(labelled: pd.Series, pairs: pd.Series, is_held: bool) -> tuple[list[str], list[str]]:
    """(notes, warnings) on the ambiguous photos: what was dropped, by label pair, or why the drops are held
    and how to settle them (shared by both engines)."""
    total = int(pairs.sum())
    if not total:
        return [], []
    table = label_table(labelled, pairs)
    share = table["conflicting"] / table["photos"].clip(lower=1)
    if not is_held:  # a label too small to hold (under 10 photos) can still lose most of them: named (audit AC)
        most = share[share > 0.5].sort_index().sort_values(ascending=False, kind="stable")
        named = "; most of " + ", ".join(f"{label} ({table.at[label, 'conflicting']:,} of "
                                         f"{table.at[label, 'photos']:,})" for label in most.index[:6]) \
            if len(most) else ""
        return [f"{total:,} photos dropped as ambiguous_label: their tags name two or more labels "
                f"({pairs_text(pairs)}){named}"], []
    worst = share.sort_index().sort_values(ascending=False, kind="stable").index[0]
    return [], [f"held: {total:,} photos have tags naming two or more labels ({pairs_text(pairs)}; "
                f"{share[worst]:.0%} of the photos naming {worst}): that many looks like a label that is also an "
                "everyday tag or labels that are not exclusive, not mistakes, so they are kept without a label "
                "(training and export leave them out); "
                "--force-ambiguous drops them as ambiguous_label; to label them, narrow the recipe's labels and "
                f"aliases and ingest again, or give labels by folder or column{nested_text(labelled, pairs)}"]
