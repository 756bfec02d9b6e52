"""The demo generator's working tables (curate.demo.slots): frozen dataclasses of arrays,
one entry per owner or slot, handed from step to step without a step changing the tables
it was given. The generated collections themselves are checked in test_demo.py and
test_scrape.py."""

import dataclasses

import numpy as np
import pytest

from curate.demo import DemoConfig
from curate.demo.labels import CityTable
from curate.demo.metadata import draw_mislabels, draw_owners, draw_slot_content, impose_structure
from curate.demo.slots import Owners, SlotContent, Slots, Structure
from curate.recipes import load_recipe
from curate.scrape import EDIT_KINDS, ScrapeConfig
from curate.scrape.metadata import draw_edit_copies, label_table
from curate.scrape.sources import ScrapeSources, SourceFile

CONTENT_FIELDS = [field.name for field in dataclasses.fields(SlotContent)]


def tables(config: DemoConfig) -> tuple[Owners, Slots, Structure]:
    rng = np.random.default_rng([config.seed, 1])
    cities = CityTable.from_recipe(load_recipe("skylines"))
    owners = draw_owners(rng, config, cities, config.photos - config.sandals_count)
    slots = draw_slot_content(rng, config, cities, owners, np.random.default_rng([config.seed, 2]))
    return owners, slots, impose_structure(rng, config, slots, owners)


def test_each_step_hands_on_a_frozen_table_with_one_entry_per_slot():
    owners, slots, structure = tables(DemoConfig(photos=400, seed=3))
    assert int(owners.count.sum()) == len(slots.owner) == 400
    assert owners.n_regular == 400 - DemoConfig(photos=400, seed=3).sandals_count
    for table in (slots.content, structure.content):
        assert {len(getattr(table, name)) for name in CONTENT_FIELDS} == {400}
    with pytest.raises(dataclasses.FrozenInstanceError):
        structure.owner = slots.owner


def test_every_slot_shows_the_content_of_its_source_slot():
    _, slots, structure = tables(DemoConfig(photos=600, seed=4, burst_rate=0.1, exact_dup_rate=0.05))
    assert (structure.src != np.arange(600)).sum() > 30  # bursts and copies do point elsewhere
    for name in CONTENT_FIELDS:
        np.testing.assert_array_equal(getattr(structure.content, name),
                                      getattr(slots.content, name)[structure.src], err_msg=name)


def test_edited_copies_show_their_original_and_leave_the_given_structure_alone():
    config = ScrapeConfig(folders=("x",), offtopic=("y",), topic="city", photos=600, seed=2, near_dup_rate=0.15)
    _, _, structure = tables(config.as_demo_config())
    before = {name: getattr(structure.content, name).copy() for name in CONTENT_FIELDS}
    owner_before = structure.owner.copy()
    edited, edits = draw_edit_copies(np.random.default_rng(7), config, structure)
    copies = np.flatnonzero(np.isin(edits.edit_kind, EDIT_KINDS))
    others = np.setdiff1d(np.arange(600), copies)
    assert len(copies) > 50
    for name in CONTENT_FIELDS:
        np.testing.assert_array_equal(getattr(structure.content, name), before[name], err_msg=name)
        shown = getattr(edited.content, name)
        np.testing.assert_array_equal(shown[copies], before[name][edits.root[copies]], err_msg=name)
        np.testing.assert_array_equal(shown[others], before[name][others], err_msg=name)
    np.testing.assert_array_equal(structure.owner, owner_before)
    own_or_original = (edited.owner[copies] == owner_before[copies]) | (
        edited.owner[copies] == owner_before[edits.root[copies]])
    assert own_or_original.all() and (edited.owner[others] == owner_before[others]).all()


def test_a_scrape_label_table_weights_labels_by_folder_size_and_stays_frozen():
    files = {name: tuple(SourceFile("/f", f"{name}/{i}.jpg") for i in range(size))
             for name, size in (("harbour", 10), ("market", 30))}
    table = label_table(ScrapeSources(("harbour", "market"), files, ()), None, "city")
    assert table.weights.tolist() == [0.25, 0.75] and table.sandals_name == "market"
    assert table.tags.words[table.tags.skyline_code] == "city"
    with pytest.raises(dataclasses.FrozenInstanceError):
        table.weights = np.ones(2) / 2


def test_wrong_city_tags_are_written_into_a_new_content_not_the_given_one():
    config = DemoConfig(photos=600, seed=5, mislabel_rate=0.1)
    _, slots, _ = tables(DemoConfig(photos=600, seed=5, mislabel_rate=0.0, taken_elsewhere_rate=0.0))
    given = slots.content
    codes_before = given.tag_codes.copy()
    cities = CityTable.from_recipe(load_recipe("skylines"))
    drawn = draw_mislabels(np.random.default_rng(11), config, cities, given, slots.sandals)
    np.testing.assert_array_equal(given.tag_codes, codes_before)
    assert not given.mislabelled.any()
    changed = drawn.mislabelled
    assert changed.sum() > 10
    assert (drawn.tagged_city[changed] != given.city[changed]).all()
    assert (drawn.tag_codes[changed, 0] != codes_before[changed, 0]).all()
    np.testing.assert_array_equal(drawn.tag_codes[~changed], codes_before[~changed])
