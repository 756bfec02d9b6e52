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

    photos: int = 3000
    seed: int = 0
    image_width: int = 160
    image_height: int = 120

    # Photographers (YFCC100M-like long tail): photos per owner ~ lognormal with this
    # median; sigma 1.65 puts about a quarter of the photos with the top 1% of owners.
    owner_median_photos: float = 6.0
    owner_sigma: float = 1.65
    owner_max_share: float = 0.04  # no regular owner above this share of the photos
    home_city_rate: float = 0.8  # photos taken in the owner's home city

    # Content.
    offtopic_rate: float = 0.30  # street / food / people / indoor instead of a skyline

    # Geotags: exclusive kinds drawn per photo.
    misgeotag_rate: float = 0.05
    misgeotag_far_share: float = 0.5  # of the mis-geotags: 500-15000 km off; the rest 10-200 km
    missing_coords_rate: float = 0.01
    invalid_coords_rate: float = 0.005  # half NaN text, half out of range
    city_radius_km: float = 3.0  # correct geotags fall within this distance of the true centre

    # Tags.
    multi_city_tag_rate: float = 0.04
    # Mislabelled skylines: the pixels show one city, the single city tag (and a title
    # naming a city) another, and the geotag agrees with the tag, so only the pixels can
    # tell. A share of the regular skylines; drawn among those with one city tag and no
    # mis-geotag, so it can be at most (1 - multi_city_tag_rate) * (1 - misgeotag_rate).
    mislabel_rate: float = 0.05
    # Taken elsewhere ("tagged Amsterdam, taken in Korea"): the single city tag (and a title)
    # name another city than the pixels show, and the geotag is where the photo was really
    # taken, so the geotag betrays the tag. A share of the regular skylines; drawn among those
    # with one city tag, a correct geotag and no mislabel (`taken_elsewhere_eligible_share`).
    taken_elsewhere_rate: float = 0.05
    skyline_tag_rate: float = 0.70  # on true skylines
    offtopic_skyline_tag_rate: float = 0.10  # on off-topic photos

    # The sandals photographer: near-identical off-topic photos tagged chicago + skyline.
    sandals_share: float = 0.08
    sandals_max: int = 400
    sandals_photos: int | None = None  # None: sandals_share of the photos, at most sandals_max

    # Near and exact duplicates, broken files (shares of all photos).
    burst_rate: float = 0.04  # photos that are frames of a 3-6 frame burst
    exact_dup_rate: float = 0.015  # photos that are byte-identical copies of another photo
    dup_other_owner_share: float = 0.4  # copies re-uploaded by a different owner
    broken_rate: float = 0.012  # split evenly over BROKEN_KINDS

    def __post_init__(self) -> None:
        if not isinstance(self.photos, int) or self.photos < 1:
            raise UsageError(f"--photos must be a positive whole number, got {self.photos!r}")
        if self.photos > MAX_PHOTOS:
            raise UsageError(f"--photos above {MAX_PHOTOS:,} is more than the demo generator is built for, "
                             f"got {self.photos}")
        if self.seed < 0:
            raise UsageError(f"--seed must be 0 or more, got {self.seed}")
        if min(self.image_width, self.image_height) < MIN_IMAGE_SIDE_PX:
            raise UsageError(f"--image-size must be at least {MIN_IMAGE_SIDE_PX}x{MIN_IMAGE_SIDE_PX}, "
                             f"got {self.image_width}x{self.image_height}")
        if max(self.image_width, self.image_height) > 4096:
            raise UsageError("--image-size above 4096 px is not useful for the demo; pick e.g. 320x240")
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name.endswith(("_rate", "_share")) and not (0.0 <= value <= 1.0 and math.isfinite(value)):
                raise UsageError(f"demo setting {item.name} must be between 0 and 1, got {value!r}")
        geotag_total = self.misgeotag_rate + self.missing_coords_rate + self.invalid_coords_rate
        if geotag_total > 1.0:
            raise UsageError(f"mis-geotag + missing + invalid coordinate rates add up to {geotag_total:.3f} > 1")
        if self.mislabel_rate > self.mislabel_eligible_share + 1e-12:
            raise UsageError(f"mislabel_rate {self.mislabel_rate} is more than the {self.mislabel_eligible_share:.3f} "
                             "of skylines with one city tag and no mis-geotag; lower it, or lower "
                             "multi_city_tag_rate / misgeotag_rate")
        if self.taken_elsewhere_rate > self.taken_elsewhere_eligible_share + 1e-12:
            raise UsageError(f"taken_elsewhere_rate {self.taken_elsewhere_rate} is more than the "
                             f"{self.taken_elsewhere_eligible_share:.3f} of skylines with one city tag, a correct "
                             "geotag and no mislabel; lower it, or lower the other tag and geotag noise rates")
        if self.burst_rate + self.exact_dup_rate + self.broken_rate > 0.5:
            raise UsageError("burst + exact duplicate + broken rates must leave at least half the photos plain")
        if self.owner_median_photos < 1 or self.owner_sigma < 0:
            raise UsageError("owner_median_photos must be >= 1 and owner_sigma >= 0")
        if self.sandals_photos is not None and not 0 <= self.sandals_photos <= self.photos // 2:
            raise UsageError(f"sandals_photos must be between 0 and half of --photos, got {self.sandals_photos}")

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
