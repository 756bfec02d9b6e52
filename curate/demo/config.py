"""The demo collection's knobs: size, seed and every injected noise rate.

All rates are fractions in [0, 1]. Unless said otherwise a rate is measured over the
regular photos, i.e. everything except the sandals photographer's uploads (whose tags
and geotags are fixed by design). Every field is recorded with the ground truth, so a
score computed later always knows which collection it is looking at.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields

from curate.errors import UsageError
from curate.settings_fields import SettingError, setting

BROKEN_KINDS = ("truncated_jpeg", "zero_bytes", "not_an_image", "tiny")

# What the image store says about each kind of broken file (curate.store.BadImage reasons).
BROKEN_DROP_REASON = {
    "truncated_jpeg": "truncated_image",
    "zero_bytes": "empty_file",
    "not_an_image": "not_an_image",
    "tiny": "too_small",
}

MIN_IMAGE_SIDE_PX = 48  # real photos must stay clearly above the store's 32 px floor
MAX_PHOTOS = 1_000_000  # 10x the largest benchmark; far beyond, owner ids and memory run out


@dataclass(frozen=True)
class DemoConfig:
    """Everything that decides the demo collection; same config -> same bytes.

    The default size (3000 photos of 160x120 px) keeps the whole demo pipeline,
    CPU training included, at about ten minutes on two cores.
    """

    photos: int = setting(3000, help="How many photos to generate.")
    seed: int = setting(0, help="Random seed; same seed, same collection.")
    image_width: int = setting(160, flag="--image-size", help="Image width in pixels (on the command line: "
                               "--image-size WIDTHxHEIGHT).")
    image_height: int = setting(120, flag="--image-size", help="Image height in pixels (on the command line: "
                                "--image-size WIDTHxHEIGHT).")

    # Photographers (YFCC100M-like long tail): photos per owner ~ lognormal with this
    # median; sigma 1.65 puts about a quarter of the photos with the top 1% of owners.
    owner_median_photos: float = setting(6.0, help="Median photos per photographer (lognormal).")
    owner_sigma: float = setting(1.65, help="Spread of photos per photographer (lognormal sigma).")
    owner_max_share: float = setting(0.04, help="No regular photographer above this share of the photos.")
    home_city_rate: float = setting(0.8, help="Share of photos taken in the photographer's home city.")

    # Content.
    offtopic_rate: float = setting(0.30, help="Share of street / food / people / indoor photos instead of a skyline.")

    # Geotags: exclusive kinds drawn per photo.
    misgeotag_rate: float = setting(0.05, help="Share of photos with a wrong geotag.")
    misgeotag_far_share: float = setting(0.5, help="Of the wrong geotags: 500-15000 km off; the rest 10-200 km.")
    missing_coords_rate: float = setting(0.01, help="Share of photos without a geotag.")
    invalid_coords_rate: float = setting(0.005, help="Share of photos with NaN text or out-of-range coordinates.")
    city_radius_km: float = setting(3.0, help="Correct geotags fall within this distance of the city's centre.")

    # Tags.
    multi_city_tag_rate: float = setting(0.04, help="Share of photos tagged with a second city.")
    # Mislabelled skylines: the pixels show one city, the single city tag (and a title
    # naming a city) another, and the geotag agrees with the tag, so only the pixels can
    # tell. A share of the regular skylines; drawn among those with one city tag and no
    # mis-geotag, so it can be at most (1 - multi_city_tag_rate) * (1 - misgeotag_rate).
    mislabel_rate: float = setting(0.05, help="Share of skylines whose city tag and geotag name another city.")
    # Taken elsewhere ("tagged Amsterdam, taken in Korea"): the single city tag (and a title)
    # name another city than the pixels show, and the geotag is where the photo was really
    # taken, so the geotag betrays the tag. A share of the regular skylines; drawn among those
    # with one city tag, a correct geotag and no mislabel (`taken_elsewhere_eligible_share`).
    taken_elsewhere_rate: float = setting(0.05, help=(
        "Share of skylines tagged with another city, geotagged where really taken."))
    skyline_tag_rate: float = setting(0.70, help="Share of true skylines tagged skyline.")
    offtopic_skyline_tag_rate: float = setting(0.10, help="Share of off-topic photos tagged skyline.")

    # The sandals photographer: near-identical off-topic photos tagged chicago + skyline.
    sandals_share: float = setting(0.08, help="The sandals photographer's share of the photos.")
    sandals_max: int = setting(400, help="The sandals photographer's most photos.")
    sandals_photos: int | None = setting(None, help=(
        "The sandals photographer's photos exactly (default: sandals-share of the photos, at most sandals-max)."))

    # Near and exact duplicates, broken files (shares of all photos).
    burst_rate: float = setting(0.04, help="Share of photos that are frames of a 3-6 frame burst.")
    exact_dup_rate: float = setting(0.015, help="Share of photos that are byte-identical copies of another.")
    dup_other_owner_share: float = setting(0.4, help="Of the copies: re-uploaded by another photographer.")
    broken_rate: float = setting(0.012, help="Share of broken files, split evenly over the four kinds.")

    def __post_init__(self) -> None:
        if not isinstance(self.photos, int) or self.photos < 1:
            raise SettingError(f"{{photos}} must be a positive whole number, got {self.photos!r}", "photos")
        if self.photos > MAX_PHOTOS:
            raise SettingError(f"{{photos}} above {MAX_PHOTOS:,} is more than the demo generator is built for, "
                               f"got {self.photos}", "photos")
        if self.seed < 0:
            raise SettingError(f"{{seed}} must be 0 or more, got {self.seed}", "seed")
        for name, side in (("image_width", "wide"), ("image_height", "high")):
            if getattr(self, name) < MIN_IMAGE_SIDE_PX:
                raise SettingError(f"{{{name}}} must be at least {MIN_IMAGE_SIDE_PX} px {side}, "
                                   f"got {self.image_width}x{self.image_height}", name)
            if getattr(self, name) > 4096:
                raise SettingError(f"{{{name}}} above 4096 px is not useful for the demo; pick e.g. 320x240", name)
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name.endswith(("_rate", "_share")) and not (0.0 <= value <= 1.0 and math.isfinite(value)):
                raise SettingError(f"{{{item.name}}} must be between 0 and 1, got {value!r}", item.name, as_key=True)
        geotag_total = self.misgeotag_rate + self.missing_coords_rate + self.invalid_coords_rate
        if geotag_total > 1.0:
            raise SettingError(f"{{misgeotag_rate}} + {{missing_coords_rate}} + {{invalid_coords_rate}} add up to "
                               f"{geotag_total:.3f} > 1", "misgeotag_rate", "missing_coords_rate",
                               "invalid_coords_rate", as_key=True)
        if self.mislabel_rate > self.mislabel_eligible_share + 1e-12:
            raise SettingError(f"{{mislabel_rate}} {self.mislabel_rate} is more than the "
                               f"{self.mislabel_eligible_share:.3f} of skylines with one city tag and no mis-geotag; "
                               "lower it, or lower {multi_city_tag_rate} / {misgeotag_rate}",
                               "mislabel_rate", "multi_city_tag_rate", "misgeotag_rate", as_key=True)
        if self.taken_elsewhere_rate > self.taken_elsewhere_eligible_share + 1e-12:
            raise SettingError(f"{{taken_elsewhere_rate}} {self.taken_elsewhere_rate} is more than the "
                               f"{self.taken_elsewhere_eligible_share:.3f} of skylines with one city tag, a correct "
                               "geotag and no mislabel; lower it, or lower the other tag and geotag noise rates",
                               "taken_elsewhere_rate", as_key=True)
        if self.burst_rate + self.exact_dup_rate + self.broken_rate > 0.5:
            raise SettingError("{burst_rate} + {exact_dup_rate} + {broken_rate} must leave at least half the photos "
                               "plain", "burst_rate", "exact_dup_rate", "broken_rate", as_key=True)
        # written so that NaN fails too (every comparison with NaN is false)
        if not (1 <= self.owner_median_photos <= MAX_PHOTOS):
            raise SettingError(f"{{owner_median_photos}} must be between 1 and {MAX_PHOTOS:,}, got "
                               f"{self.owner_median_photos!r}", "owner_median_photos", as_key=True)
        if not (0 <= self.owner_sigma <= 10):
            raise SettingError(f"{{owner_sigma}} must be between 0 and 10, got {self.owner_sigma!r}", "owner_sigma",
                               as_key=True)
        if not (0 < self.city_radius_km <= 1000):
            raise SettingError(f"{{city_radius_km}} must be above 0 and at most 1000 km, got {self.city_radius_km!r}",
                               "city_radius_km", as_key=True)
        if not 0 <= self.sandals_max <= MAX_PHOTOS:
            raise SettingError(f"{{sandals_max}} must be between 0 and {MAX_PHOTOS:,}, got {self.sandals_max!r}",
                               "sandals_max", as_key=True)
        if self.sandals_photos is not None and not 0 <= self.sandals_photos <= self.photos // 2:
            raise SettingError(f"{{sandals_photos}} must be between 0 and half of {{photos}}, "
                               f"got {self.sandals_photos}", "sandals_photos", "photos", as_key=True)

    @property
    def sandals_count(self) -> int:
        """How many photos the sandals photographer uploads (a few hundred at default size)."""
        if self.sandals_photos is not None:
            return self.sandals_photos
        return min(self.sandals_max, int(round(self.sandals_share * self.photos)), self.photos // 2)

    @property
    def mislabel_eligible_share(self) -> float:
        """Share of regular skylines that may be mislabelled: one city tag, no mis-geotag
        (a wrong tag plus a geotag that betrays it would be a mis-geotag, not a label issue)."""
        return (1.0 - self.multi_city_tag_rate) * (1.0 - self.misgeotag_rate)

    @property
    def taken_elsewhere_eligible_share(self) -> float:
        """Share of regular skylines that may be taken elsewhere: one city tag, a correct
        geotag (to betray the tag) and not mislabelled (mislabels take mislabel_rate /
        mislabel_eligible_share of the one-tag skylines with a correct geotag)."""
        correct_geotag = 1.0 - self.misgeotag_rate - self.missing_coords_rate - self.invalid_coords_rate
        not_mislabelled = (1.0 - self.mislabel_rate / self.mislabel_eligible_share if self.mislabel_eligible_share
                           else 1.0)
        return (1.0 - self.multi_city_tag_rate) * correct_geotag * max(0.0, not_mislabelled)

    @property
    def image_size(self) -> tuple[int, int]:
        return self.image_width, self.image_height

    def to_json(self) -> str:
        """A stable JSON form, stored with the ground truth."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DemoConfig:
        """The config recorded by `to_json`. A setting added after the file was written takes
        the value that reproduces the old generator (e.g. no mislabelled photos)."""
        known = {item.name for item in fields(cls)}
        values = {**_BEFORE_IT_EXISTED, **json.loads(text)}
        return cls(**{k: v for k, v in values.items() if k in known})


# Settings added later, with the value that matches collections generated before them.
_BEFORE_IT_EXISTED = {"mislabel_rate": 0.0, "taken_elsewhere_rate": 0.0}


def parse_image_size(text: str) -> tuple[int, int]:
    """'160x120' -> (160, 120); anything else is a UsageError.

    >>> parse_image_size("320X240")
    (320, 240)
    """
    parts = str(text).lower().replace("×", "x").split("x")
    try:
        width, height = (int(part) for part in parts)
    except ValueError:
        raise UsageError(f"--image-size must look like WIDTHxHEIGHT, e.g. 160x120; got {text!r}") from None
    return width, height
