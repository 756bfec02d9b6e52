"""An older stage report (no `columns` recorded) is judged against several column sets; a catalog in memory is
viewed, sorted and hashed once for all of them and each set's fingerprint composed (review DB MED-3: up to ~100
full fingerprints, 149 s at 1M rows). The composed fingerprints are the direct ones, set by set."""

from __future__ import annotations

import itertools
import random

import pytest
from helpers import demo_workspace

from curate import fingerprints
from curate.workspace import read_catalog


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    ws = demo_workspace(tmp_path_factory.mktemp("compose") / "ws", photos=80,
                        commands=(("filter", "--recipe", "skylines"), ("split",)))
    return read_catalog(ws)


def subsets(columns: list[str], rng: random.Random, count: int = 12):
    yield list(columns)
    rest = columns[1:]  # photo_id stays: the fingerprints sort by it
    for _ in range(count):
        yield [columns[0], *[c for c in rest if rng.random() < 0.6]]


@pytest.mark.parametrize("stage", ["ingest", "filter", "prefilter", "split"])
def test_composed_output_fingerprints_are_the_direct_ones(catalog, stage):
    default = fingerprints.output_columns(stage)
    direct = []
    composed = fingerprints._composed(catalog, default, fingerprints._output_view, lambda columns: direct.append(
        columns) or fingerprints.output_fingerprint(catalog, stage, None, columns), stage)
    for columns in subsets(default, random.Random(stage)):
        assert composed(columns) == fingerprints.output_fingerprint(catalog, stage, None, columns), columns
    assert not direct  # every subset was composed, none computed again


@pytest.mark.parametrize("stage", ["embed", "filter", "prefilter", "split"])
def test_composed_input_fingerprints_are_the_direct_ones(catalog, stage):
    default = fingerprints.input_columns(stage)
    composed = fingerprints._composed(catalog, default, fingerprints._input_view,
                                      lambda columns: fingerprints.input_fingerprint(catalog, stage, (), columns),
                                      stage)
    for columns in subsets(default, random.Random(stage)):
        assert composed(columns) == fingerprints.input_fingerprint(catalog, stage, (), columns), columns


def test_a_set_beyond_the_default_or_in_another_order_is_computed_directly(catalog):
    default = fingerprints.output_columns("filter")
    asked = []

    def direct(columns):
        asked.append(columns)
        return fingerprints.output_fingerprint(catalog, "filter", None, columns)

    composed = fingerprints._composed(catalog, default, fingerprints._output_view, direct, "filter")
    other = [default[0], "label", *default[1:3]]
    swapped = [default[0], default[2], default[1]]
    for columns in (other, swapped):
        assert composed(columns) == fingerprints.output_fingerprint(catalog, "filter", None, columns)
    assert asked == [other, swapped]


def test_an_older_report_is_still_matched_over_its_columns(catalog):
    """The judgement itself, through the composer: a report recorded over today's columns less some all-empty added
    ones matches; one recorded over other values does not."""
    stage = "filter"
    default = fingerprints.output_columns(stage)
    added = [c for c in default if c in fingerprints.ADDED_BEFORE_RECORDED][:3]
    catalog = catalog.copy()
    catalog[added] = None  # as a later command writes the columns an older version lacked: all empty
    empty = sorted(fingerprints._empty_columns(catalog, tuple(added)))
    assert len(empty) == 3
    for left_out in itertools.islice(itertools.chain.from_iterable(
            itertools.combinations(empty, n) for n in range(1, len(empty) + 1)), 6):
        then = [c for c in default if c not in left_out]
        record = {"output": fingerprints.output_fingerprint(catalog, stage, None, then)}
        assert fingerprints.output_as_recorded(record, catalog, stage)
    assert not fingerprints.output_as_recorded({"output": "0" * 16}, catalog, stage)
