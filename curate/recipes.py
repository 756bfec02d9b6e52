"""Dataset recipes: `datasets/<name>.toml` says which labels to look for and how.

A recipe names its labels (with tag aliases and reference coordinates), the topic tag
for the pre-classifier and per-stage defaults. Example::

    name = "skylines"
    topic = "skyline"
    [filter]
    max_km = 5.0
    [[labels]]
    name = "new_york"
    display = "New York"
    aliases = ["new york", "nyc", "manhattan"]
    lat = 40.7128
    lon = -74.0060
"""

from __future__ import annotations

import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from curate.errors import UsageError

DATASETS_DIR = Path(__file__).resolve().parents[1] / "datasets"


@dataclass(frozen=True)
class Label:
    name: str
    display: str
    aliases: tuple[str, ...] = ()
    lat: float | None = None
    lon: float | None = None

    def match_keys(self) -> set[str]:
        """Tag spellings that name this label, squashed like Flickr squashes tags."""
        return {squash(text) for text in (self.name, self.display, *self.aliases)}


@dataclass(frozen=True)
class Recipe:
    name: str
    labels: tuple[Label, ...]
    topic: str | None = None
    description: str = ""
    stages: dict = field(default_factory=dict)

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(label.name for label in self.labels)

    def tag_index(self) -> dict[str, int]:
        """Squashed tag spelling -> position of the label it names (built once per recipe)."""
        index: dict[str, int] = {}
        for position, label in enumerate(self.labels):
            for key in label.match_keys():
                index.setdefault(key, position)
        return index

    def stage_defaults(self, stage: str) -> dict:
        return dict(self.stages.get(stage, {}))


def squash(text: str) -> str:
    """Lower-case, NFC, and drop spaces/underscores/hyphens: 'New York' -> 'newyork'."""
    text = unicodedata.normalize("NFC", str(text)).casefold()
    return "".join(ch for ch in text if ch not in " _-\t")


def recipe_path(name_or_path: str) -> Path:
    """A recipe file by path, or by name from the repository's datasets/ folder."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.exists():
        if not candidate.is_file():
            raise UsageError(f"recipe file {candidate} not found; pass a .toml path or a name from {DATASETS_DIR}")
        return candidate
    path = DATASETS_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in DATASETS_DIR.glob("*.toml"))
        raise UsageError(f"unknown recipe {name_or_path!r}; known recipes: {', '.join(known) or 'none'}")
    return path


def load_recipe(name_or_path: str) -> Recipe:
    """Parse a recipe; a malformed file is a UsageError naming the problem."""
    path = recipe_path(name_or_path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"recipe {path} is not valid TOML ({exc}); fix the file") from exc
    return recipe_from_dict(data, where=str(path))


def recipe_from_dict(data: dict, where: str = "recipe") -> Recipe:
    raw_labels = data.get("labels")
    if not isinstance(raw_labels, list) or not raw_labels:
        raise UsageError(f"{where} needs a non-empty [[labels]] list")
    labels = []
    for entry in raw_labels:
        if "name" not in entry:
            raise UsageError(f"{where}: every [[labels]] entry needs a name")
        labels.append(Label(
            name=str(entry["name"]),
            display=str(entry.get("display", entry["name"])),
            aliases=tuple(str(a) for a in entry.get("aliases", ())),
            lat=entry.get("lat"),
            lon=entry.get("lon"),
        ))
    stages = {key: value for key, value in data.items() if isinstance(value, dict)}
    return Recipe(name=str(data.get("name", Path(where).stem)), labels=tuple(labels),
                  topic=data.get("topic"), description=str(data.get("description", "")), stages=stages)
