"""The scrape benchmark's knobs: which real folders, how many photos, every noise rate.

A scrape turns a clean labelled folder of real photos into a Flickr-like scrape with
known mistakes (see `curate.scrape`). Its metadata model is the demo generator's
(`curate.demo.metadata`): the same long-tail photographers, tags, geotags and noise
kinds. `ScrapeConfig.as_demo_config()` hands those shared rates to the demo's functions
under their demo names; the scrape's own names speak of labels and a topic tag, not
cities and skylines. Every field is recorded with the ground truth.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields

from curate.demo.config import DemoConfig
from curate.errors import UsageError

# Edits a near-duplicate copy is made with (one per copy); "crop" covers 2-10 %, and the
# scorecard reports crops up to and beyond 5 % apart.
EDIT_KINDS = ("jpeg", "downscale", "crop", "brightness_contrast", "rotation", "flip", "watermark", "greyscale")
BURST = "burst"  # burst frames: the same scene shifted by up to 3 %
EXACT_COPY = "exact_copy"  # byte-identical re-upload
SANDALS = "sandals"  # the sandals photographer's near-identical uploads
LARGE_CROP = 0.05  # crops beyond this share of a side are reported apart (issue J's)
MAX_PHOTOS = 200_000


@dataclass(frozen=True)
class ScrapeConfig:
    """Everything that decides a scrape collection; same config and folders -> same bytes.

    folders: folders of label subfolders (photos found recursively under each label);
    labels: the label subfolders to use (empty: all); offtopic: folders whose photos
    (recursively) are the off-topic pixels; topic: the topic tag.
    """

    folders: tuple[str, ...]
    topic: str
    offtopic: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    photos: int = 2000
    seed: int = 0

    # Photographers and content.
    owner_median_photos: float = 6.0
    owner_sigma: float = 1.65
    owner_max_share: float = 0.04
    home_label_rate: float = 0.8  # photos of the owner's home label
    offtopic_rate: float = 0.30  # off-topic pixels (needs --offtopic folders)

    # Geotags around each label's centre (recipe coordinates, else a synthetic centre).
    misgeotag_rate: float = 0.05
    misgeotag_far_share: float = 0.5
    missing_coords_rate: float = 0.01
    invalid_coords_rate: float = 0.005
    label_radius_km: float = 3.0

    # Tags.
    multi_label_tag_rate: float = 0.04
    mislabel_rate: float = 0.05  # pixels of one label, tags (and geotag) of another
    taken_elsewhere_rate: float = 0.05  # tags of another label, geotag where really taken
    topic_tag_rate: float = 0.70  # on on-topic photos
    offtopic_topic_tag_rate: float = 0.10  # on off-topic photos

    # The sandals photographer: near-identical edits of one off-topic photo, one label + topic.
    sandals_share: float = 0.08
    sandals_max: int = 400
    sandals_photos: int | None = None

    # Duplicates and broken files (shares of all photos).
    burst_rate: float = 0.04
    exact_dup_rate: float = 0.015
    dup_other_owner_share: float = 0.4
    near_dup_rate: float = 0.10  # edited copies of other photos
    max_copies_per_photo: int = 3  # each with another edit kind (at most as many as edit_kinds)
    edit_kinds: tuple[str, ...] = EDIT_KINDS
    broken_rate: float = 0.012

    def __post_init__(self) -> None:
        if not self.folders:
            raise UsageError("give at least one FOLDER of label subfolders")
        if not str(self.topic).strip():
            raise UsageError("--topic must name the topic tag, e.g. --topic urban")
        if not isinstance(self.photos, int) or not 1 <= self.photos <= MAX_PHOTOS:
            raise UsageError(f"--photos must be a whole number from 1 to {MAX_PHOTOS:,}, got {self.photos!r}")
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name.endswith(("_rate", "_share")) and not (isinstance(value, int | float)
                                                                 and math.isfinite(value) and 0 <= value <= 1):
                raise UsageError(f"scrape setting {item.name} must be between 0 and 1, got {value!r}")
        unknown = [kind for kind in self.edit_kinds if kind not in EDIT_KINDS]
        if unknown:
            raise UsageError(f"unknown edit kind {unknown[0]!r}; known: {', '.join(EDIT_KINDS)}")
        if self.near_dup_rate > 0 and not self.edit_kinds:
            raise UsageError("near_dup_rate > 0 needs at least one edit kind")
        if self.max_copies_per_photo < 1:
            raise UsageError(f"max_copies_per_photo must be at least 1, got {self.max_copies_per_photo}")
        if self.offtopic_rate > 0 and not self.offtopic:
            raise UsageError("offtopic_rate > 0 needs off-topic pixels: pass --offtopic DIR (or set offtopic_rate 0)")
        if (self.burst_rate + self.exact_dup_rate + self.broken_rate + self.near_dup_rate) > 0.5:
            raise UsageError("burst + exact duplicate + near-duplicate + broken rates must leave half the photos plain")
        self.as_demo_config()  # the shared rates' own checks

    def as_demo_config(self) -> DemoConfig:
        """The shared metadata settings under the demo generator's names."""
        return DemoConfig(
            photos=self.photos, seed=self.seed, owner_median_photos=self.owner_median_photos,
            owner_sigma=self.owner_sigma, owner_max_share=self.owner_max_share, home_city_rate=self.home_label_rate,
            offtopic_rate=self.offtopic_rate, misgeotag_rate=self.misgeotag_rate,
            misgeotag_far_share=self.misgeotag_far_share, missing_coords_rate=self.missing_coords_rate,
            invalid_coords_rate=self.invalid_coords_rate, city_radius_km=self.label_radius_km,
            multi_city_tag_rate=self.multi_label_tag_rate, mislabel_rate=self.mislabel_rate,
            taken_elsewhere_rate=self.taken_elsewhere_rate, skyline_tag_rate=self.topic_tag_rate,
            offtopic_skyline_tag_rate=self.offtopic_topic_tag_rate, sandals_share=self.sandals_share,
            sandals_max=self.sandals_max, sandals_photos=self.sandals_photos, burst_rate=self.burst_rate,
            exact_dup_rate=self.exact_dup_rate, dup_other_owner_share=self.dup_other_owner_share,
            broken_rate=self.broken_rate)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ScrapeConfig:
        values = json.loads(text)
        for name in ("folders", "offtopic", "labels", "edit_kinds"):
            if name in values:
                values[name] = tuple(values[name])
        known = {item.name for item in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})
