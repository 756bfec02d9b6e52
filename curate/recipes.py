"""Dataset recipes: `datasets/<name>.toml` declares a collection and how to curate it.

A recipe names its labels (with tag aliases and reference coordinates), the topic tag
for the pre-classifier, the sources to ingest, and per-stage settings; `curate run`
runs it end to end (see curate.pipeline). Example::

    name = "chicago-only"
    topic = "skyline"
    [[labels]]
    name = "chicago"
    aliases = ["chitown"]
    lat = 41.85
    lon = -87.65
    [[sources]]
    kind = "flickr"
    tags = ["chicago"]
    [filter]
    max_km = 5.0

`labels_from = "skylines"` takes the labels (and topic) of another recipe instead. A recipe whose
sources all label their photos themselves (label folders, a label column, a Commons query's `label`:
`labels_by_tags` is false for each) may leave `[[labels]]` out: its labels are then the sources' own,
and no tag names a label, no label has reference coordinates and no folder name is renamed.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from curate.errors import UsageError

DATASETS_DIR = Path(__file__).resolve().parents[1] / "datasets"
STAGE_SECTIONS = ("filter", "embed", "prefilter", "split", "leakage", "train", "evaluate", "report", "export",
                  "engine",  # [engine]: where ingest and embed run (curate.engines), read by `curate run`
                  "store")  # [store]: where ingest stores the images (curate.objectstore), read by `curate run`
def toml_text(value: object) -> str:
    """A recipe value for a message: a TOML date or time as written in the file, anything else as its repr.

    >>> import datetime
    >>> toml_text(datetime.datetime(1979, 5, 27, 7, 32, tzinfo=datetime.UTC)), toml_text("x"), toml_text([1])
    ('1979-05-27T07:32:00+00:00 (a TOML date-time)', "'x'", '[1]')
    """
    import datetime

    for kind, name in ((datetime.datetime, "date-time"), (datetime.date, "date"), (datetime.time, "time")):
        if isinstance(value, kind):
            return f"{value.isoformat()} (a TOML {name})"
    return repr(value)


TOP_LEVEL_KEYS = ("name", "description", "topic", "labels", "labels_from", "sources", *STAGE_SECTIONS)
LABEL_KEYS = ("name", "display", "aliases", "lat", "lon")
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SOURCE_KINDS = ("demo", "scrape", "folder", "urls", "flickr", "commons")


@dataclass(frozen=True)
class Label:
    name: str
    display: str
    aliases: tuple[str, ...] = ()
    lat: float | None = None
    lon: float | None = None

    def match_keys(self) -> set[str]:
        """Tag spellings that name this label, squashed like Flickr squashes tags."""
        return {squash(text) for text in self.spellings()}

    def spellings(self) -> tuple[str, ...]:
        return (self.name, self.display, *self.aliases)

    def phrase_keys(self) -> set[str]:
        """The squashed spellings of two or more words (`New York`, `new_york`): the ones adjacent tags can
        name together ("new", "york"); a one-word label is never named by two tags (audit AC: `bed room`
        named bedroom, `is land` island)."""
        return {squash(text) for text in self.spellings() if len(_words(text)) > 1}

    def parts_of(self, key: str) -> set[str]:
        """Squashed shorter runs of the words of the spellings whose squashed form is `key` (`new`, `york`
        of `New York` for `newyork`): another label named only by one of them gives way to this one. Only
        the spelling the tags matched counts (audit AC: an alias "downtown street" must not make `street`
        part of InsideCity when the tags say "insidecity").

        >>> sorted(Label("new_york", "New York City", ("nyc",)).parts_of("newyorkcity"))
        ['city', 'new', 'newyork', 'york', 'yorkcity']
        >>> Label("new_york", "New York City", ("nyc",)).parts_of("nyc")
        set()
        """
        parts: set[str] = set()
        for words in (_words(text) for text in self.spellings() if squash(text) == key):
            parts.update(squash("".join(words[i:j])) for i in range(len(words))
                         for j in range(i + 1, len(words) + 1) if j - i < len(words))
        return parts - {key}


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s_-]+", str(text)) if w]


@dataclass(frozen=True)
class Recipe:
    name: str
    labels: tuple[Label, ...]  # () when every source labels its photos itself (`labels_by_tags`)
    topic: str | None = None
    description: str = ""
    stages: dict = field(default_factory=dict)
    sources: tuple[dict, ...] = ()  # [[sources]] tables, checked by curate.pipeline
    path: Path | None = None  # the file it came from (relative source paths start there)

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(label.name for label in self.labels)

    def tag_index(self) -> dict[str, int]:
        """Squashed tag spelling -> position of the label it names (built once per recipe)."""
        return self._index(Label.match_keys)

    def phrase_index(self) -> dict[str, int]:
        """Squashed spelling of two or more words -> position of its label (see `Label.phrase_keys`)."""
        return self._index(Label.phrase_keys)

    def _index(self, keys_of) -> dict[str, int]:
        # the first label to claim a key keeps it: a recipe read from a file has no such clash (it is refused:
        # check_label_clashes); one built in code (curate ingest scrape's) may
        index: dict[str, int] = {}
        for position, label in enumerate(self.labels):
            for key in keys_of(label):
                index.setdefault(key, position)
        return index

    def stage_defaults(self, stage: str) -> dict:
        return dict(self.stages.get(stage, {}))


# not part of a key: variation selectors (an emoji's U+FE0F), zero-width joiners; an emoji's skin tone (review CO)
IGNORED_IN_KEYS = "\ufe00-\ufe0f\U000e0100-\U000e01ef\u200c\u200d"
_IGNORED = re.compile(f"[{IGNORED_IN_KEYS}]")
_SKIN_TONES = re.compile("[\U0001f3fb-\U0001f3ff]")


def squash(text: str) -> str:
    """The key a tag and a label's spellings are matched by: Flickr's own cleaning of a tag. NFC, case folded,
    and only letters, digits and combining marks kept: Flickr's `tags` field drops spaces and punctuation
    (`AC/DC` is `acdc`, `St. John's` `stjohns`, `Ferté-Milon` `fertémilon`), so a label matches its raw tag and
    Flickr's cleaned one alike. Marks stay so that a Devanagari or Thai vowel sign still tells words apart;
    variation selectors and zero-width joiners do not (`IGNORED_IN_KEYS`). A spelling with no letter or digit
    is keyed by its symbols (`❤️` and `❤` alike, `☀️` apart: review CO found every emoji with U+FE0F keyed
    alike), and one with neither by its text less spaces, underscores and hyphens.

    >>> squash("New York"), squash("AC/DC"), squash("St. John's"), squash("Ferté-Milon"), squash("Zu\u0308rich")
    ('newyork', 'acdc', 'stjohns', 'fertémilon', 'zürich')
    >>> squash("parisian") == squash("Paris"), squash("東京タワー") == squash("東京"), squash("🗼 ")
    (False, False, '🗼')
    >>> squash("\u2764\ufe0f") == squash("\u2764") != squash("\u2600\ufe0f"), squash("\u2764\ufe0fparis")
    (True, 'paris')
    """
    text = unicodedata.normalize("NFC", unicodedata.normalize("NFC", str(text)).casefold())
    key = _IGNORED.sub("", "".join(ch for ch in text if unicodedata.category(ch)[0] in "LNM"))
    if any(unicodedata.category(ch)[0] in "LN" for ch in key):
        return key
    symbols = _SKIN_TONES.sub("", "".join(ch for ch in text if unicodedata.category(ch)[0] == "S"))
    return symbols or "".join(ch for ch in text if not ch.isspace() and ch not in "_-")


def recipe_path(name_or_path: str) -> Path:
    """A recipe file by path, or by name from the repository's datasets/ folder."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.exists():
        if not candidate.is_file():
            what = "is a folder, not a recipe file" if candidate.is_dir() else "not found"
            raise UsageError(f"recipe file {candidate} {what}; pass a .toml path or a name from {DATASETS_DIR}")
        return candidate
    path = DATASETS_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in DATASETS_DIR.glob("*.toml"))
        raise UsageError(f"unknown recipe {name_or_path!r}; known recipes: {', '.join(known) or 'none'}")
    return path


def load_recipe(name_or_path: str, _loading: tuple[Path, ...] = ()) -> Recipe:
    """Parse and validate a recipe; a bad file is a UsageError naming its first invalid field.

    `_loading`: the recipes whose labels_from led here (a cycle is a UsageError, not a RecursionError).
    """
    path = recipe_path(name_or_path)
    if path.resolve() in _loading:
        chain = " -> ".join(p.stem for p in (*_loading, path.resolve()))
        raise UsageError(f"labels_from goes round in a circle ({chain}); let one recipe list its own [[labels]]")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"recipe {path} is not valid TOML ({exc}); fix the file") from exc
    except OSError as exc:  # a directory or device named *.toml, unreadable permissions
        raise UsageError(f"cannot read recipe {path} ({exc.strerror or exc}); pass a readable .toml file") from None
    return recipe_from_dict(data, where=str(path), path=path, _loading=(*_loading, path.resolve()))


def check_name(name: str, where: str = "recipe") -> str:
    """`name` if it is a safe slug (letters, digits, `.`, `_`, `-`; not starting with a dot; at
    most 64 characters), else UsageError. Recipe names become file and folder names
    (`journal/run-<name>.json`, `runs/<name>/`), so `../x` must never get that far.

    >>> check_name("world-skylines")
    'world-skylines'
    """
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name):
        raise UsageError(f"{where}: name {name!r} is not a safe name; use 1-64 letters, digits, '.', '_' "
                         "or '-', starting with a letter or digit (it becomes a folder name)")
    return name


def recipe_from_dict(data: dict, where: str = "recipe", path: Path | None = None,
                     _loading: tuple[Path, ...] = ()) -> Recipe:
    """A Recipe from parsed TOML. Checks the shape (keys, types, label fields); the stage
    settings themselves are checked against each stage's config by `curate.pipeline`."""
    unknown = [key for key in data if key not in TOP_LEVEL_KEYS]
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r}; a recipe has {', '.join(TOP_LEVEL_KEYS)}")
    for key in ("name", "description", "topic", "labels_from"):
        if key in data and not isinstance(data[key], str):
            raise UsageError(f"{where}: {key} must be a string, got {toml_text(data[key])}")
    name = check_name(data.get("name", Path(where).stem), where)
    base = _base_recipe(data, where, path, _loading)
    sources = data.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(entry, dict) for entry in sources):
        raise UsageError(f"{where}: sources must be a list of [[sources]] tables")
    for number, entry in enumerate(sources, 1):
        if entry.get("kind") not in SOURCE_KINDS:
            raise UsageError(f"{where}: [[sources]] #{number} kind must be one of {', '.join(SOURCE_KINDS)}, "
                             f"got {entry.get('kind')!r}")
    if "labels" in data:
        labels = _parse_labels(data["labels"], where)
    else:
        labels = base.labels if base is not None else ()
        if not labels:  # allowed when every source labels its photos itself
            _check_labels_optional(sources, where, data.get("labels_from") if base is not None else None)
    stages = {}
    for stage in STAGE_SECTIONS:
        if stage in data:
            if not isinstance(data[stage], dict):
                raise UsageError(f"{where}: [{stage}] must be a table of settings")
            stages[stage] = data[stage]
    topic = data.get("topic", base.topic if base else None)
    return Recipe(name=name, labels=labels, topic=topic,
                  description=str(data.get("description", "")), stages=stages,
                  sources=tuple(dict(entry) for entry in sources), path=path)


def labels_by_tags(source: dict) -> bool:
    """Whether a [[sources]] table's photos get their labels from the recipe's [[labels]], as the ones their
    tags name (flickr, urls, demo, commons without a `label`, a folder with label_source = "tags"), rather
    than from the source itself: a folder's label subfolders or label column, a scrape's label subfolders,
    a Commons query's `label`. (A urls table may hold a label column, but that is known only once it is read.)

    >>> labels_by_tags({"kind": "folder"}), labels_by_tags({"kind": "folder", "label_source": "tags"})
    (False, True)
    >>> labels_by_tags({"kind": "commons", "label": "chicago"}), labels_by_tags({"kind": "flickr"})
    (False, True)
    """
    kind = source.get("kind")
    if kind == "folder":
        return source.get("label_source") == "tags"
    if kind == "commons":
        return not (isinstance(source.get("label"), str) and source["label"].strip())
    return kind != "scrape"


def _check_labels_optional(sources: list[dict], where: str, empty_base: str | None) -> None:
    """UsageError unless a recipe without labels may go without: it has sources, and none labels its photos
    by the tags (`labels_by_tags`). `empty_base`: the labels_from recipe that gave no labels, if one did."""
    how = (f"labels_from = \"{empty_base}\" names a recipe without [[labels]]; list [[labels]] here or take them "
           "from a recipe that lists them" if empty_base else
           "add a non-empty [[labels]] list (or labels_from = \"<recipe>\")")
    if not sources:
        raise UsageError(f"{where} has neither labels nor [[sources]]: {how}")
    for number, entry in enumerate(sources, 1):
        if labels_by_tags(entry):
            kind = entry["kind"] + (', label_source = "tags"' if entry["kind"] == "folder" else "")
            hint = ' (a demo source: labels_from = "skylines")' if entry["kind"] == "demo" else ""
            raise UsageError(f"{where}: [[sources]] #{number} ({kind}) labels its photos by the recipe labels "
                             f"their tags name, so the recipe needs labels: {how}{hint}; only folder and "
                             "scrape sources, and commons with a label, go without [[labels]]")


def _base_recipe(data: dict, where: str, path: Path | None, loading: tuple[Path, ...]) -> Recipe | None:
    """The recipe named by labels_from (looked up beside this one first, then in datasets/)."""
    name = data.get("labels_from")
    if name is None:
        return None
    beside = path.parent / f"{name}.toml" if path is not None else None
    target = str(beside) if beside is not None and beside.is_file() else name
    if path is not None and recipe_path(target).resolve() == path.resolve():
        raise UsageError(f"{where}: labels_from names the recipe itself")
    return load_recipe(target, loading)


def _parse_labels(raw_labels: object, where: str) -> tuple[Label, ...]:
    if not isinstance(raw_labels, list) or not raw_labels:
        raise UsageError(f"{where} needs a non-empty [[labels]] list")
    labels: list[Label] = []
    seen: dict[str, str] = {}  # NFC name -> the name as written
    for number, entry in enumerate(raw_labels, 1):
        here = f"{where}: [[labels]] #{number}"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"].strip():
            raise UsageError(f"{here} needs a name (a non-empty string)")
        here = f"{where}: label {entry['name']!r}"
        unknown = [key for key in entry if key not in LABEL_KEYS]
        if unknown:
            raise UsageError(f"{here}: unknown key {unknown[0]!r}; a label has {', '.join(LABEL_KEYS)}")
        name = _nfc(entry["name"])  # an NFD name (pasted from a macOS file name) is the NFC one (audit CG F3)
        if name in seen:
            same = "" if seen[name] == entry["name"] else (
                f" (written {ascii(entry['name'])} here and {ascii(seen[name])} before: the same text once "
                "Unicode-normalised to NFC, one of them perhaps pasted from a macOS file name)")
            raise UsageError(f"{here} appears twice{same}; label names must be unique: merge the two [[labels]] "
                             "tables into one")
        seen[name] = entry["name"]
        aliases = entry.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise UsageError(f"{here}: aliases must be a list of strings")
        for key, limit in (("lat", 90), ("lon", 180)):
            value = entry.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not -limit <= value <= limit):
                raise UsageError(f"{here}: {key} must be a number of degrees in [-{limit}, {limit}], "
                                 f"got {toml_text(value)}")
        if ("lat" in entry) != ("lon" in entry):
            raise UsageError(f"{here}: give both lat and lon, or neither")
        labels.append(Label(name=name, display=_nfc(str(entry.get("display", entry["name"]))),
                            aliases=tuple(map(_nfc, aliases)), lat=entry.get("lat"), lon=entry.get("lon")))
    check_label_clashes(labels, where)
    return tuple(labels)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def check_label_clashes(labels: list[Label] | tuple[Label, ...], where: str = "recipe") -> None:
    """UsageError naming the first two labels that the tags cannot tell apart: a spelling of one (name,
    display name or alias) with the same key (`squash`: case, spaces and punctuation ignored) as a spelling
    of another, e.g. `Paris` and `paris`, or `Rome` and an alias `rome` of `Roma`. Unchecked, the first
    label would take every such tag and the other only what is left (audit CG F5).

    >>> try:
    ...     check_label_clashes([Label("Rome", "Rome"), Label("Roma", "Roma", ("rome",))], "r.toml")
    ... except UsageError as error:
    ...     print(str(error)[:72])
    r.toml: label 'Rome' and alias 'rome' of label 'Roma' name the same tags
    """
    claimed: dict[str, tuple[int, str]] = {}  # key -> (position of the label, the spelling described)
    for position, label in enumerate(labels):
        spellings = (("label", label.name), ("display name", label.display),
                     *(("alias", alias) for alias in label.aliases))
        for kind, text in spellings:
            key = squash(text)
            here = f"label {text!r}" if kind == "label" else f"{kind} {text!r} of label {label.name!r}"
            earlier, there = claimed.setdefault(key, (position, here))
            if earlier != position:
                raise UsageError(
                    f"{where}: {there} and {here} name the same tags ({key!r} once case, spaces and punctuation "
                    "are ignored, as Flickr cleans tags), so the first would take all their photos; merge the two "
                    "labels into one [[labels]] table (the other spellings as its aliases), or remove the "
                    "spelling that is not meant")
