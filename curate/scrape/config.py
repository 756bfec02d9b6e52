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
from curate.settings_fields import SettingError, setting

# The demo generator's names of the shared settings that the scrape names otherwise.
_SCRAPE_NAME = {"home_city_rate": "home_label_rate", "city_radius_km": "label_radius_km",
                "multi_city_tag_rate": "multi_label_tag_rate", "skyline_tag_rate": "topic_tag_rate",
                "offtopic_skyline_tag_rate": "offtopic_topic_tag_rate"}

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

    folders: tuple[str, ...] = setting(help="Clean labelled folder(s): one subfolder of photos per label.")
    topic: str = setting(help="The topic tag (e.g. urban, landmark).")
    offtopic: tuple[str, ...] = setting((), help="Folders of off-topic photos (searched recursively).")
    labels: tuple[str, ...] = setting((), help="Label subfolders to use (default: all, or the recipe's labels).")
    photos: int = setting(2000, help="How many photos the scrape has.")
    seed: int = setting(0, help="Random seed; same seed and folders, same scrape.")

    # Photographers and content.
    owner_median_photos: float = setting(6.0, help="Median photos per photographer (lognormal).")
    owner_sigma: float = setting(1.65, help="Spread of photos per photographer (lognormal sigma).")
    owner_max_share: float = setting(0.04, help="No regular photographer above this share of the photos.")
    home_label_rate: float = setting(0.8, help="Share of photos of the photographer's home label.")
    offtopic_rate: float = setting(0.30, help="Share of off-topic photos (needs off-topic folders).")

    # Geotags around each label's centre (recipe coordinates, else a synthetic centre).
    misgeotag_rate: float = setting(0.05, help="Share of photos with a wrong geotag.")
    misgeotag_far_share: float = setting(0.5, help="Of the wrong geotags: 500-15000 km off; the rest 10-200 km.")
    missing_coords_rate: float = setting(0.01, help="Share of photos without a geotag.")
    invalid_coords_rate: float = setting(0.005, help="Share of photos with text or out-of-range coordinates.")
    label_radius_km: float = setting(3.0, help="Correct geotags lie within this distance of the label's centre.")

    # Tags.
    multi_label_tag_rate: float = setting(0.04, help="Share of photos tagged with a second label.")
    mislabel_rate: float = setting(0.05, help="Share of on-topic photos with the tags (and geotag) of another label.")
    taken_elsewhere_rate: float = setting(0.05, help=(
        "Share of on-topic photos tagged with another label, geotagged where really taken."))
    topic_tag_rate: float = setting(0.70, help="Share of on-topic photos with the topic tag.")
    offtopic_topic_tag_rate: float = setting(0.10, help="Share of off-topic photos with the topic tag.")

    # The sandals photographer: near-identical edits of one off-topic photo, one label + topic.
    sandals_share: float = setting(0.08, help="The sandals photographer's share of the photos.")
    sandals_max: int = setting(400, help="The sandals photographer's most photos.")
    sandals_photos: int | None = setting(None, help=(
        "The sandals photographer's photos exactly (default: sandals_share of the photos, at most sandals_max)."))

    # Duplicates and broken files (shares of all photos).
    burst_rate: float = setting(0.04, help="Share of photos that are frames of a burst.")
    exact_dup_rate: float = setting(0.015, help="Share of photos that are byte-identical copies of another.")
    dup_other_owner_share: float = setting(0.4, help="Of the copies: re-uploaded by another photographer.")
    near_dup_rate: float = setting(0.10, help="Share of photos that are edited copies of another.")
    max_copies_per_photo: int = setting(3, help="Most edited copies of one photo, each with another edit kind.")
    edit_kinds: tuple[str, ...] = setting(EDIT_KINDS, help=f"Edits a copy is made with: {', '.join(EDIT_KINDS)}.")
    broken_rate: float = setting(0.012, help="Share of broken files, split evenly over the four kinds.")

    def __post_init__(self) -> None:
        if not self.folders:
            raise SettingError("give at least one FOLDER of label subfolders ({folders})", "folders")
        if not str(self.topic).strip():
            raise SettingError("{topic} must name the topic tag, e.g. urban", "topic")
        if not isinstance(self.photos, int) or not 1 <= self.photos <= MAX_PHOTOS:
            raise SettingError(f"{{photos}} must be a whole number from 1 to {MAX_PHOTOS:,}, got {self.photos!r}",
                               "photos")
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name.endswith(("_rate", "_share")) and not (isinstance(value, int | float)
                                                                 and math.isfinite(value) and 0 <= value <= 1):
                raise SettingError(f"{{{item.name}}} must be between 0 and 1, got {value!r}", item.name, as_key=True)
        unknown = [kind for kind in self.edit_kinds if kind not in EDIT_KINDS]
        if unknown:
            raise SettingError(f"unknown edit kind {unknown[0]!r} in {{edit_kinds}}; known: {', '.join(EDIT_KINDS)}",
                               "edit_kinds", as_key=True)
        if self.near_dup_rate > 0 and not self.edit_kinds:
            raise SettingError("{near_dup_rate} > 0 needs at least one edit kind in {edit_kinds}",
                               "near_dup_rate", "edit_kinds", as_key=True)
        if self.max_copies_per_photo < 1:
            raise SettingError(f"{{max_copies_per_photo}} must be at least 1, got {self.max_copies_per_photo}",
                               "max_copies_per_photo", as_key=True)
        if self.offtopic_rate > 0 and not self.offtopic:
            raise SettingError("{offtopic_rate} > 0 needs off-topic pixels: give {offtopic} folders (or set "
                               "{offtopic_rate} to 0)", "offtopic_rate", "offtopic")
        if (self.burst_rate + self.exact_dup_rate + self.broken_rate + self.near_dup_rate) > 0.5:
            raise SettingError("{burst_rate} + {exact_dup_rate} + {near_dup_rate} + {broken_rate} must leave half the "
                               "photos plain", "burst_rate", "exact_dup_rate", "near_dup_rate", "broken_rate",
                               as_key=True)
        try:
            self.as_demo_config()  # the shared rates' own checks
        except SettingError as exc:  # named as the scrape names them
            names = [_SCRAPE_NAME.get(name, name) for name in exc.names]
            template = exc.template
            for demo_name, name in _SCRAPE_NAME.items():
                template = template.replace("{" + demo_name + "}", "{" + name + "}")
            raise SettingError(template, *names, as_key=exc.as_key) from None

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
