"""The 9:16 portrait-crop search (`curate.filters.portraits`): the windows-only search and the column-wide parse
give what the search over every strip hash and the per-value parse gave (kept here as the reference: these
equivalence tests pass on the code before them by design), and the new ways in fail on it."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curate.filters import neardup, portraits
from curate.filters.portraits import OWN_PREFIX, StripHashes, parse_strip_phashes, portrait_candidates


def reference_candidates(strips: StripHashes, max_bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`portrait_candidates` of commit c23407e: one search over every strip hash, window<->window pairs dropped."""
    empty = np.zeros(0, np.int64)
    if not strips.portrait.any() or strips.portrait.all():
        return empty, empty, empty
    x, y = neardup.near_duplicate_pairs(strips.hashes, max_bits)
    keep = (strips.portrait[x] != strips.portrait[y]) & (strips.owners[x] != strips.owners[y])
    x, y = x[keep], y[keep]
    x, y = np.where(strips.portrait[x], x, y), np.where(strips.portrait[x], y, x)
    portrait, landscape = strips.owners[x], strips.owners[y]
    bits = neardup.hamming_distance(strips.hashes[x], strips.hashes[y]).astype(np.int64)
    order = np.lexsort((bits, landscape, portrait))
    portrait, landscape, bits = portrait[order], landscape[order], bits[order]
    pair = portrait * (int(strips.owners.max()) + 1) + landscape
    once = np.concatenate([[True], pair[1:] != pair[:-1]]) if len(pair) else np.zeros(0, bool)
    portrait, landscape, bits = portrait[once], landscape[once], bits[once]
    order = np.argsort(bits, kind="stable")
    return portrait[order], landscape[order], bits[order]


def reference_parse(values) -> StripHashes:
    """`parse_strip_phashes` of commit c23407e: one value at a time."""
    hashes, owners, portrait = [], [], []
    for position, value in enumerate(values):
        if not isinstance(value, str):
            continue
        own = value.startswith(OWN_PREFIX)
        tokens = [value[len(OWN_PREFIX):]] if own else value.split()
        try:
            parsed = [int(token, 16) for token in tokens if len(token) == 16]
        except ValueError:
            continue
        if len(parsed) != len(tokens):
            continue
        hashes += parsed
        owners += [position] * len(parsed)
        portrait += [own] * len(parsed)
    return StripHashes(np.array(hashes, dtype=np.uint64), np.array(owners, dtype=np.int64),
                       np.array(portrait, dtype=bool))


def clustered_strips(seed: int, images: int, share: float) -> StripHashes:
    """Strip hashes near a few centres (so pairs within a few bits abound, window<->window ones too): portraits
    (one own hash) and landscapes (1-8 windows), a random sparse mask on each hash."""
    rng = np.random.default_rng(seed)
    portrait = rng.random(images) < share
    counts = np.where(portrait, 1, rng.integers(1, 9, images))
    owners = np.repeat(np.arange(images), counts)
    centres = rng.integers(0, 2**64, 4, dtype=np.uint64)
    masks = np.zeros(len(owners), np.uint64)
    for _ in range(int(rng.integers(1, 10))):
        masks |= (rng.random(len(owners)) < 0.5).astype(np.uint64) << np.uint64(rng.integers(0, 64))
    return StripHashes(centres[rng.integers(0, 4, len(owners))] ^ masks, owners.astype(np.int64), portrait[owners])


def assert_same(found, expected) -> None:
    assert [values.tolist() for values in found] == [values.tolist() for values in expected]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), images=st.integers(1, 150), share=st.floats(0.0, 1.0),
       max_bits=st.integers(0, 16))
def test_the_search_finds_what_the_search_over_every_strip_hash_found(seed, images, share, max_bits):
    strips = clustered_strips(seed, images, share)
    assert_same(portrait_candidates(strips, max_bits), reference_candidates(strips, max_bits))


@pytest.mark.parametrize("blocks", [2, 3, 5, 11])
def test_any_block_count_gives_the_same_pairs(blocks):
    for seed in range(3):
        strips = clustered_strips(seed, 150, 0.2)
        assert_same(portrait_candidates(strips, 10, blocks=blocks), reference_candidates(strips, 10))


def test_the_search_never_pairs_windows_with_windows(monkeypatch):
    """At a million images the search over every strip hash met (and threw away) millions of window<->window pairs
    (docs/benchmarks.md, "Portrait-crop search at a million images"): the portraits alone look now."""
    strips = clustered_strips(1, 300, 0.1)
    expected = reference_candidates(strips, 10)
    assert len(expected[0])

    def every_pair(*args, **kwargs):
        raise AssertionError("a search over every strip hash")

    monkeypatch.setattr(neardup, "near_duplicate_pairs", every_pair)
    assert_same(portrait_candidates(strips, 10), expected)


hex16 = st.text("0123456789abcdefABCDEF", min_size=16, max_size=16)
token = st.one_of(hex16, st.text("0123456789abcdefxyz _-+", min_size=0, max_size=18))
value = st.one_of(
    st.none(), st.just(float("nan")), st.integers(0, 9),
    hex16.map(lambda digits: OWN_PREFIX + digits),
    st.lists(hex16, min_size=1, max_size=6).map(" ".join),
    st.lists(token, min_size=0, max_size=4).map(lambda parts: "  ".join(parts)),
    st.tuples(st.sampled_from(["", OWN_PREFIX, " ", "\t"]), st.lists(token, max_size=3).map(" ".join),
              st.sampled_from(["", " ", "\n"])).map("".join),
)


@settings(max_examples=150, deadline=None)
@given(values=st.lists(value, max_size=30))
def test_the_column_wide_parse_reads_what_the_per_value_parse_read(values):
    def readable(text):  # the per-value parse fails on a negative hex token; neither writer makes one
        return not (isinstance(text, str) and "-" in text)

    values = [text if readable(text) else None for text in values]
    found, expected = parse_strip_phashes(values), reference_parse(values)
    for got, want in zip(found, expected):
        assert got.dtype == want.dtype and got.tolist() == want.tolist()


def test_an_arrow_column_is_parsed_as_it_is():
    """The DuckDB engine hands its batches' Arrow strings over as they are (no Python string per value)."""
    values = ["own:00000000000000ff", None, "0000000000000001 000000000000000A", "x",
              "00000000000000ff  0000000000000002"]
    for column, read in ((pa.array(values, pa.string()), values), (pa.array(values, pa.large_string()), values),
                         (pa.array(values, pa.string_view()), values),
                         (pa.chunked_array([values[:2], values[2:]], pa.string()), values),
                         (pa.array(values, pa.string()).slice(1), values[1:])):
        found, expected = parse_strip_phashes(column), reference_parse(read)
        assert [part.tolist() for part in found] == [part.tolist() for part in expected]
    assert parse_strip_phashes(pa.array(values, pa.string())).hashes.tolist() == [255, 1, 10, 255, 2]


def test_a_search_too_wide_to_enumerate_says_so():
    from curate.errors import UsageError

    strips = clustered_strips(0, 50, 0.3)
    with pytest.raises(UsageError, match="bit patterns"):
        portraits.portrait_candidates(strips, 10, blocks=1)
