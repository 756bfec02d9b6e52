"""What ingest tells the user about a recipe's labels when the tags name them (every source: the engine asks,
curate.ingest.engine): a declared label that no photo's tags name, with the common tags that look like it.
Pure functions over the catalog's `tags` and `tag_labels`; no I/O."""

from __future__ import annotations

import math
from collections import Counter
from itertools import chain

import pandas as pd

from curate.recipes import Recipe, squash
from curate.records import clean_text, one_label
from curate.stage_reports import names_text

MIN_LOOKALIKE_CHARS = 4  # a shorter spelling has no look-alikes
LOOKALIKE_CANDIDATES = 2000  # the most common keys of tags that no label matches, searched for look-alikes


def labels_by_tags(records: pd.DataFrame, recipe: Recipe | None) -> bool:
    """Whether the photos of a source's `records` get their labels from the recipe labels their tags name: a
    recipe that lists labels, and no label given by the source itself (a label folder, a label column).

    >>> from curate.recipes import Label
    >>> recipe = Recipe("r", (Label("Oslo", "Oslo"),))
    >>> labels_by_tags(pd.DataFrame({"tags": ["oslo"]}), recipe), labels_by_tags(pd.DataFrame({"label": ["x"]}), recipe)
    (True, False)
    """
    if recipe is None or not recipe.labels:
        return False
    return "label" not in records or bool(clean_text(records["label"].map(one_label)).isna().all())


def unnamed_label_warnings(tags: pd.Series, tag_labels: pd.Series, recipe: Recipe) -> list[str]:
    """One line naming the recipe's labels that no photo's `tag_labels` holds, with, for each, the common tags
    that look like one of its spellings (a typo, a letter more: `olso` for `Oslo`), else none.

    >>> from curate.recipes import Label
    >>> recipe = Recipe("r", (Label("Oslo", "Oslo"), Label("Paris", "Paris")))
    >>> unnamed_label_warnings(pd.Series([["olso", "fjord"], ["paris"]]), pd.Series([[], ["Paris"]]), recipe)[0][:63]
    "recipe label named by no photo's tags: Oslo (tags like it: olso"
    """
    named = set(chain.from_iterable(labels for labels in tag_labels if _is_list(labels)))
    missing = [label for label in recipe.labels if label.name not in named]
    if not missing:
        return []
    lookalikes = _lookalike_tags(tags, recipe)
    described = []
    for label in missing:
        like = lookalikes(label)
        described.append(label.name + (f" (tags like it: {names_text(like, 3)})" if like else ""))
    one = len(missing) == 1
    later = (f" (recipe {recipe.name} has {len(recipe.sources)} sources: another may name "
             f"{'it' if one else 'them'} when it is ingested)" if len(recipe.sources) > 1 else "")
    return [f"recipe label{'' if one else 's'} named by no photo's tags: {names_text(described)}{later}; check "
            f"{'its' if one else 'their'} spelling and aliases against the most common tags (curate status): a "
            "tag names a label when it equals one of its spellings but for case, spaces and punctuation"]


def _lookalike_tags(tags: pd.Series, recipe: Recipe):
    """A function giving, for a label, the common tags (with their photo counts) that no label matches and
    whose key is close to one of the label's keys."""
    index = recipe.tag_index()
    counts = Counter(chain.from_iterable(set(row) for row in tags if _is_list(row)))
    by_key: dict[str, list[str]] = {}
    for tag, _ in counts.most_common():
        key = squash(tag)
        if key not in index and len(by_key) < LOOKALIKE_CANDIDATES:
            by_key.setdefault(key, []).append(tag)
    keys = list(by_key)

    def lookalikes(label) -> list[str]:
        spellings = label.match_keys()
        close = {key for key in keys if any(looks_like(key, spelling) for spelling in spellings)}
        found = sorted((tag for key in close for tag in by_key[key]), key=lambda tag: (-counts[tag], tag))
        return [f"{tag} {counts[tag]:,}" for tag in found[:3]]

    return lookalikes


def looks_like(key: str, spelling: str) -> bool:
    """Whether two keys are a typo apart: one letter left out, added, changed or two swapped (two such edits
    for a spelling of 7 letters or more), and not equal.

    >>> looks_like("olso", "oslo"), looks_like("osloo", "oslo"), looks_like("stjohn", "stjohns")
    (True, True, True)
    >>> looks_like("rom", "oslo"), looks_like("oslo", "oslo"), looks_like("b", "c")
    (False, False, False)
    """
    allowed = 1 if len(spelling) < 7 else 2
    if key == spelling or abs(len(key) - len(spelling)) > allowed or len(spelling) < MIN_LOOKALIKE_CHARS:
        return False  # (one edit from a 1-3 letter spelling is every short tag: review CO, label `C`)
    previous, row = None, list(range(len(spelling) + 1))  # optimal string alignment distance, row by row
    for i, char in enumerate(key, 1):
        current = [i] + [0] * len(spelling)
        for j, other in enumerate(spelling, 1):
            current[j] = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + (char != other))
            if previous is not None and j > 1 and char == spelling[j - 2] and key[i - 2] == other:
                current[j] = min(current[j], previous[j - 2] + 1)
        previous, row = row, current
    return row[-1] <= allowed


def _is_list(value: object) -> bool:
    """Whether a catalog cell holds a list of values (a list or an array), not a missing one."""
    return value is not None and not (isinstance(value, float) and math.isnan(value)) and not isinstance(value, str)
