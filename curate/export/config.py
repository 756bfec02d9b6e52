"""`ExportConfig`: what `curate export` and a recipe's [export] section ask for, checked once."""

from __future__ import annotations

from dataclasses import dataclass

from curate.schema import SPLITS
from curate.settings_fields import SettingError, setting

FORMATS = ("imagefolder", "hf", "hf-parquet", "webdataset", "csv")
# images packed in shard files, not a file each
SHARD_FORMATS = ("webdataset", "hf-parquet")
LINKS = ("copy", "hardlink", "symlink")
LABEL_CHOICES = ("kept", "all")
UNSPLIT = "unsplit"  # where `labels="all"` puts labelled photos that are dropped or have no split
MAX_SHARD_SAMPLES = 1000
MAX_SHARD_BYTES = 1_000_000_000


@dataclass(frozen=True)
class ExportConfig:
    """What to export and how.

    format: imagefolder, hf, hf-parquet (Parquet shards with the image bytes in an `image`
    column, for `datasets.load_dataset("parquet", data_dir=DIR)`), webdataset or csv.
    splits: the splits to export (None: every split there is). link: how image files reach the
    export folder (copy, hardlink, symlink; folder formats only). labels: "kept" exports the
    kept photos with a split; "all" adds every other photo that has a label and a stored image,
    in a split named "unsplit", but for those touching the test or val split (a photographer or
    an image of theirs: `plan.leave_out_touching`). resize: the
    longest side in pixels (re-encoded as JPEG; never enlarged), None to keep the stored bytes.
    licences: only photos whose licence matches one of these names (curate.licences). overwrite:
    allow a target folder that holds something other than an earlier export (its other files
    are removed). verify: hash each image as it is written and leave out one whose bytes no
    longer match the SHA-256 it was stored under (listed as missing, reason "damaged").
    shard_samples / shard_bytes: the most samples / bytes per shard (webdataset, hf-parquet).

    >>> ExportConfig("webdataset", splits=("train",)).splits
    ('train',)
    """

    format: str = setting("imagefolder", flag="--format,-f", help="imagefolder, hf, hf-parquet, webdataset or csv.")
    splits: tuple[str, ...] | None = setting(None, help="Splits to export, e.g. train,val (default: all).")
    link: str = setting("copy", help="copy, hardlink or symlink (folder formats).")
    labels: str = setting("kept", help=(
        "kept: kept photos with a split; all: also every other labelled photo, in an 'unsplit' split (but for "
        "those sharing a photographer or an image with a test or val photo)."))
    resize: int | None = setting(None, help="Shrink the longest side to this many pixels (JPEG).")
    licences: tuple[str, ...] | None = setting(None, help="Only these licences, e.g. cc-by,cc-by-sa,cc0.")
    overwrite: bool = setting(False, flag="--overwrite", help="Replace a folder that holds something else.")
    verify: bool = setting(True, help=(
        "Check each image written against the SHA-256 it was stored under; a damaged one is listed in "
        "export.json, not exported (--no-verify: one read less per image written)."))
    shard_samples: int = setting(MAX_SHARD_SAMPLES, help="Most samples per shard (webdataset, hf-parquet).")
    shard_bytes: int = setting(MAX_SHARD_BYTES, help="Most bytes per shard (webdataset, hf-parquet).")

    def __post_init__(self):
        _choice("format", self.format, FORMATS)
        _choice("link", self.link, LINKS)
        _choice("labels", self.labels, LABEL_CHOICES)
        if self.splits is not None:
            known = (*SPLITS, UNSPLIT) if self.labels == "all" else SPLITS
            if not self.splits:
                raise SettingError(f"{{splits}} needs at least one of {', '.join(known)}", "splits")
            for name in self.splits:
                _choice("splits", name, known)
            object.__setattr__(self, "splits", tuple(dict.fromkeys(self.splits)))
        if self.resize is not None and (isinstance(self.resize, bool) or not isinstance(self.resize, int)
                                        or not 16 <= self.resize <= 20_000):
            raise SettingError(f"{{resize}} must be a side in pixels between 16 and 20000, got {self.resize!r}",
                               "resize")
        if self.resize is not None and self.link != "copy":
            raise SettingError(f"{{resize}} writes new image files, so it cannot be combined with {{link}} "
                               f"{self.link}; use {{link}} copy", "resize", "link")
        if self.format in SHARD_FORMATS and self.link != "copy":
            raise SettingError(f"{{link}} applies to the folder formats (imagefolder, hf, csv); a {self.format} "
                               "shard holds the image bytes, so leave {link} out", "link")
        for name, value in (("shard_samples", self.shard_samples), ("shard_bytes", self.shard_bytes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SettingError(f"{{{name}}} must be a whole number, 1 or more, got {value!r}", name)
        if self.licences is not None:
            from curate.licences import parse_allowed

            object.__setattr__(self, "licences", parse_allowed(self.licences))

    @property
    def folder_format(self) -> bool:
        """Whether each image is a file of its own in the export (not packed in tars)."""
        return self.format not in SHARD_FORMATS


def _choice(name: str, value: object, known: tuple[str, ...]) -> None:
    if value not in known:
        raise SettingError(f"{{{name}}} must be one of {', '.join(known)}, got {value!r}", name)
