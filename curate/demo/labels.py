"""The labels a generated collection is drawn over, as one frozen table of arrays.

The demo builds it from a recipe's located labels (`CityTable.from_recipe`); a scrape
builds it from its label folders (`curate.scrape.metadata.label_table`), with its own
photographer shares, tag spellings and sandals label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curate.demo import vocab
from curate.demo.tags import TagTable
from curate.recipes import Recipe

SANDALS_NAME = "chicago"  # the label the sandals photographer tags in the demo


@dataclass(frozen=True, eq=False)
class CityTable:
    """One entry per label: `names`, `displays` (as titles spell them), centre `lat`/`lon`,
    `weights` (the share of photographers at home there, summing to 1); `tags` spells them
    and `sandals_name` is the label the sandals photographer tags (the first one if absent)."""

    names: np.ndarray
    displays: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    weights: np.ndarray
    tags: TagTable
    sandals_name: str = SANDALS_NAME

    @classmethod
    def build(cls, names, displays, lat, lon, weights=None, tags: TagTable | None = None,
              sandals_name: str = SANDALS_NAME) -> CityTable:
        """A table from per-label sequences. `weights` (any scale) default to the demo's city
        shares (`vocab.CITY_WEIGHTS`, equal for other names); `tags` to the demo's spellings.

        >>> table = CityTable.build(["a", "b"], ["A", "B"], [0, 1], [0, 1], weights=[1, 3])
        >>> table.weights.tolist(), table.index("b"), table.index("zzz")
        ([0.25, 0.75], 1, 0)
        """
        if weights is None:
            default = 1.0 / len(names)
            weights = [vocab.CITY_WEIGHTS.get(name, default) for name in names]
        weights = np.asarray(weights, dtype=np.float64)
        return cls(names=np.array(names, dtype=object), displays=np.array(displays, dtype=object),
                   lat=np.asarray(lat, dtype=np.float64), lon=np.asarray(lon, dtype=np.float64),
                   weights=weights / weights.sum(), tags=tags or TagTable(tuple(names)), sandals_name=sandals_name)

    @classmethod
    def from_recipe(cls, recipe: Recipe) -> CityTable:
        """The recipe's labels that have coordinates (at least two)."""
        located = [label for label in recipe.labels if label.lat is not None and label.lon is not None]
        if len(located) < 2:
            raise ValueError(f"recipe {recipe.name} needs at least two labels with lat/lon for the demo")
        return cls.build([lb.name for lb in located], [lb.display for lb in located],
                         [lb.lat for lb in located], [lb.lon for lb in located])

    def index(self, name: str) -> int:
        """The position of label `name`, 0 when the table has no such label."""
        return int(np.flatnonzero(self.names == name)[0]) if name in set(self.names) else 0

    def __len__(self) -> int:
        return len(self.names)
