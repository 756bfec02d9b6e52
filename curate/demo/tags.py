"""Tags of the demo collection, drawn as integer codes into one vocabulary.

Each photo has up to eight tag slots: its city (in a realistic spelling), up to five
generic tags (weakly related to the content), maybe a second city (an ambiguous photo)
and maybe the `skyline` tag. Codes keep everything in NumPy until the very end, where
one pyarrow list array turns them into per-photo tag lists.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from curate.demo import vocab
from curate.demo.slots import TagDraw

_GENERIC_SLOTS = 5
_KIND_TAG_SHARE = 0.6  # generic tags drawn from the content's own words, else common words


class TagTable:
    """The vocabulary and its code blocks: city spellings, skyline, kind tags, common tags."""

    def __init__(self, city_names: tuple[str, ...], spellings: dict | None = None,
                 topic_tag: str = vocab.SKYLINE_TAG):
        """`spellings`: (spelling, frequency) options per label (default: the demo's city
        spellings, else the bare name); `topic_tag`: the word the topic slot holds."""
        table = vocab.CITY_SPELLINGS if spellings is None else spellings
        spellings = [table.get(name, ((name, 1),)) for name in city_names]
        width = max(len(s) for s in spellings)
        words: list[str] = []
        self.city_offset = np.zeros(len(city_names), dtype=np.int64)
        self.city_cum = np.ones((len(city_names), width))
        for i, options in enumerate(spellings):
            self.city_offset[i] = len(words)
            weights = np.array([w for _, w in options], dtype=float)
            self.city_cum[i, : len(options)] = np.cumsum(weights) / weights.sum()
            words.extend(spelling for spelling, _ in options)
        self.skyline_code = len(words)
        words.append(topic_tag)
        kind_width = max(len(t) for t in vocab.KIND_TAGS)
        self.kind_codes = np.zeros((len(vocab.KIND_TAGS), kind_width), dtype=np.int64)
        self.kind_sizes = np.array([len(t) for t in vocab.KIND_TAGS])
        for k, tags in enumerate(vocab.KIND_TAGS):
            codes = np.arange(len(words), len(words) + len(tags))
            self.kind_codes[k] = np.resize(codes, kind_width)
            words.extend(tags)
        self.common_codes = np.arange(len(words), len(words) + len(vocab.COMMON_TAGS))
        words.extend(vocab.COMMON_TAGS)
        self.words = words
        # generic words that spell the topic tag (a scrape's topic "city") are left out, so the
        # truth's topic_tagged is exactly "carries the topic tag"
        self._topic_twins = [i for i, word in enumerate(words) if word == topic_tag and i != self.skyline_code]

    def draw(self, rng: np.random.Generator, config, kind: np.ndarray, city: np.ndarray,
             sandals: np.ndarray) -> TagDraw:
        """Tag codes per photo (`tag_codes`, -1 = empty slot) plus the truth flags
        `multi_city` and `skyline_tagged`."""
        n, n_cities = len(kind), len(self.city_offset)
        codes = np.full((n, 3 + _GENERIC_SLOTS), -1, dtype=np.int64)
        codes[:, 0] = self.spell(rng, city)
        codes[sandals, 0] = self.city_offset[city[sandals]]  # he always types the plain name: "chicago"
        multi = (rng.random(n) < config.multi_city_tag_rate) & ~sandals
        other_city = (city + 1 + rng.integers(0, n_cities - 1, n)) % n_cities
        codes[multi, 1] = self.spell(rng, other_city)[multi]
        skyline_rate = np.where(kind == vocab.SKYLINE, config.skyline_tag_rate, config.offtopic_skyline_tag_rate)
        skyline_rate[sandals] = 1.0
        skyline_tagged = rng.random(n) < skyline_rate
        codes[skyline_tagged, 2] = self.skyline_code
        codes[:, 3:] = self.generic(rng, kind)
        return TagDraw(tag_codes=codes, multi_city=multi, skyline_tagged=skyline_tagged)

    def spell(self, rng: np.random.Generator, city: np.ndarray) -> np.ndarray:
        """A spelling code per photo, drawn with the spellings' frequencies."""
        u = rng.random(len(city))
        choice = (self.city_cum[city] <= u[:, None]).sum(axis=1)
        return self.city_offset[city] + choice

    def generic(self, rng: np.random.Generator, kind: np.ndarray) -> np.ndarray:
        """0-5 generic tags per photo, mostly words that fit the content."""
        n = len(kind)
        count = rng.integers(0, _GENERIC_SLOTS + 1, n)
        pick = (rng.random((n, _GENERIC_SLOTS)) * self.kind_sizes[kind][:, None]).astype(np.int64)
        from_kind = self.kind_codes[kind[:, None], pick]
        from_common = self.common_codes[rng.integers(0, len(self.common_codes), (n, _GENERIC_SLOTS))]
        codes = np.where(rng.random((n, _GENERIC_SLOTS)) < _KIND_TAG_SHARE, from_kind, from_common)
        codes[np.arange(_GENERIC_SLOTS)[None, :] >= count[:, None]] = -1
        if self._topic_twins:
            codes[np.isin(codes, self._topic_twins)] = -1
        return codes

    def to_lists(self, codes: np.ndarray) -> pd.Series:
        """Per-photo tag lists (as arrays of str), built in one pyarrow call."""
        present = codes >= 0
        offsets = np.concatenate([[0], np.cumsum(present.sum(axis=1))]).astype(np.int32)
        words = pa.DictionaryArray.from_arrays(pa.array(codes[present].astype(np.int32)),
                                               pa.array(self.words, pa.string())).dictionary_decode()
        return pa.ListArray.from_arrays(pa.array(offsets), words).to_pandas()
