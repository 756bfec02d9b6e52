"""The remembered sizes of stored images (curate.export.sizes): what is recorded is found by the
next plan, an absent image drops what was remembered, images whose 64-bit keys collide keep
their own sizes, and an unreadable file is an empty cache, written anew."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from curate.export.sizes import CACHE_FILE, SizeCache, image_keys


def paths(*names: str) -> np.ndarray:
    return np.array([f"images/{name[:2]}/{name}.jpg" for name in names], dtype=object)


def plan(cache: SizeCache, folder, measured: dict[str, float]) -> None:
    """One plan that asked the store for `measured` (name -> size, NaN: absent) and kept it."""
    folder.mkdir(exist_ok=True)
    cache.begin(folder)
    names = list(measured)
    cache.record(image_keys(paths(*names)), np.array([measured[name] for name in names], dtype=float))
    cache.save()


def sizes(cache: SizeCache, folder, *names: str) -> list[float]:
    folder.mkdir(exist_ok=True)
    cache.begin(folder)
    return cache.lookup(image_keys(paths(*names))).tolist()


def test_what_a_plan_measured_is_known_to_the_next_and_survives_a_new_instance(tmp_path):
    cache = SizeCache(tmp_path / "cache" / CACHE_FILE)
    assert np.isnan(sizes(cache, tmp_path / "p0", "aa1", "bb2")).all()
    plan(cache, tmp_path / "p1", {"aa1": 1234.0, "bb2": 5.0, "cc3": float("nan")})
    plan(cache, tmp_path / "p2", {"dd4": 77.0})  # merged with what the first plan kept
    again = SizeCache(tmp_path / "cache" / CACHE_FILE)
    found = sizes(again, tmp_path / "p3", "bb2", "aa1", "cc3", "dd4", "ee5")
    assert found[:2] == [5.0, 1234.0] and found[3] == 77.0
    assert np.isnan(found[2]) and np.isnan(found[4])  # absent, and never measured
    assert not list((tmp_path / "cache").glob(".*.tmp"))


def test_an_image_found_absent_is_forgotten(tmp_path):
    cache = SizeCache(tmp_path / CACHE_FILE)
    plan(cache, tmp_path / "p1", {"aa1": 10.0, "bb2": 20.0})
    plan(cache, tmp_path / "p2", {"aa1": float("nan")})
    assert np.isnan(sizes(cache, tmp_path / "p3", "aa1")[0])
    assert sizes(cache, tmp_path / "p4", "bb2") == [20.0]


def test_a_plan_that_measured_nothing_writes_nothing(tmp_path):
    cache = SizeCache(tmp_path / CACHE_FILE)
    plan(cache, tmp_path / "p1", {"aa1": 10.0})
    before = (tmp_path / CACHE_FILE).stat().st_mtime_ns
    (tmp_path / "p2").mkdir()
    cache.begin(tmp_path / "p2")
    cache.save()
    assert (tmp_path / CACHE_FILE).stat().st_mtime_ns == before


def test_images_whose_keys_collide_keep_their_own_sizes(tmp_path):
    keys = image_keys(paths(*(f"{n:02d}x" for n in range(6))))
    keys[:, 0] = 7  # every key the same: only the check tells the images apart
    cache = SizeCache(tmp_path / CACHE_FILE)
    (tmp_path / "p1").mkdir()
    cache.begin(tmp_path / "p1")
    cache.record(keys, np.arange(100.0, 106.0))
    cache.save()
    (tmp_path / "p2").mkdir()
    cache.begin(tmp_path / "p2")
    other = image_keys(paths("zzz"))
    other[:, 0] = 7
    found = cache.lookup(np.concatenate([keys[::-1], other]))
    assert found[:-1].tolist() == [105.0, 104.0, 103.0, 102.0, 101.0, 100.0] and np.isnan(found[-1])


def test_distrusted_sizes_are_asked_again(tmp_path):
    cache = SizeCache(tmp_path / CACHE_FILE)
    plan(cache, tmp_path / "p1", {"aa1": 10.0, "bb2": 20.0})
    cache.distrust(paths("aa1")[0])
    found = sizes(cache, tmp_path / "p2", "aa1", "bb2")
    assert np.isnan(found[0]) and found[1] == 20.0
    assert not cache.knows(paths("aa1")[0]) and cache.knows(paths("bb2")[0])
    cache.distrust(everything=True)
    assert np.isnan(sizes(cache, tmp_path / "p3", "aa1", "bb2")).all()


@pytest.mark.parametrize("damage", ["junk", "truncated", "wrong shape"])
def test_an_unreadable_cache_is_an_empty_one_and_is_written_anew(tmp_path, caplog, damage):
    path = tmp_path / CACHE_FILE
    cache = SizeCache(path)
    plan(cache, tmp_path / "p1", {"aa1": 10.0, "bb2": 20.0})
    if damage == "junk":
        path.write_bytes(b"not a cache")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:-20])
    else:
        np.save(path, np.zeros((2, 5), np.uint64))
    with caplog.at_level(logging.WARNING, logger="curate.export.sizes"):
        assert np.isnan(sizes(SizeCache(path), tmp_path / "p2", "aa1", "bb2")).all()
    assert "image size cache" in caplog.text and "unreadable" in caplog.text
    plan(SizeCache(path), tmp_path / "p3", {"bb2": 20.0})
    assert sizes(SizeCache(path), tmp_path / "p4", "bb2") == [20.0]
