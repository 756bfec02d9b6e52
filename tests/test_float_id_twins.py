"""`float_id_twins` finds a decision's '.0' twin by looking the few forms it could take up among the held ids
(review DB LOW-3: rewriting every held id cost 1.6 s at 1M ids on every stage run): the same answers as the
definition, rewriting every held id, on generated ids."""

from __future__ import annotations

import re

import pandas as pd
from helpers import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.review.apply import FLOAT_ID_TAIL, float_id_twins


def by_definition(photo_ids, held_ids) -> dict[str, str]:
    held = set(held_ids)
    twins: dict[str, list[str]] = {}
    for held_id in held:
        twins.setdefault(re.sub(FLOAT_ID_TAIL, r"\1", held_id), []).append(held_id)
    found = {}
    for photo_id in set(photo_ids) - held:
        matches = twins.get(re.sub(FLOAT_ID_TAIL, r"\1", photo_id), [])
        if len(matches) == 1:
            found[photo_id] = matches[0]
    return found


ids = st.builds(lambda source, number, tail: f"{source}:{number}{tail}",
                st.sampled_from(["folder", "flickr", "x"]), st.sampled_from(["1", "12", "-3", "07", "a", "1.5"]),
                st.sampled_from(["", ".0", ".00", ".000", ".0x", ".1"]))


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(ids, max_size=12), st.lists(ids, max_size=20), st.booleans())
def test_the_twins_found_are_those_of_the_definition(photo_ids, held_ids, as_series):
    held = pd.Series(held_ids, dtype=object) if as_series else held_ids
    assert float_id_twins(photo_ids, held) == by_definition(photo_ids, held_ids)


def test_twins_among_many_held_ids():
    held = pd.Series([f"folder:{i}" for i in range(200_000)] + ["folder:777777.0"], dtype=object)
    assert float_id_twins(["folder:12.0", "folder:777777", "folder:x.0", "folder:77"], held) == {
        "folder:12.0": "folder:12", "folder:777777": "folder:777777.0"}
