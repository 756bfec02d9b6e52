"""Where the demo's photos say they were taken: correct, mis-geotagged, missing or invalid.

Geotag kinds (index = code stored per photo): ok (within `city_radius_km` of the
tagged city's centre), misgeotag_far (500-15000 km off), misgeotag_near (10-200 km off),
missing, nan_text (text such as 'NaN' that is not a number) and out_of_range
(|lat| > 90 or lon > 180). Distances are great-circle distances on a sphere.

Positions are drawn around `placed_city`: the city the photo's tags name, which is its
true city except for mislabelled photos, whose geotag agrees with the wrong tag (the
uploader tagged and placed the photo in the same wrong city, so a geo filter cannot betray
them); photos taken elsewhere are placed in their true city, far from the city their tag
names, so a geo filter can. Distances are measured from the tagged city.
"""

from __future__ import annotations

import numpy as np

from curate.demo.slots import SlotContent
from curate.filters.geo import EARTH_RADIUS_KM, haversine_km

COORD_KINDS = ("ok", "misgeotag_far", "misgeotag_near", "missing", "nan_text", "out_of_range")
OK, FAR, NEAR, MISSING, NAN_TEXT, OUT_OF_RANGE = range(len(COORD_KINDS))
_NAN_TEXTS = np.array(["NaN", "nan", "n/a", "inf"], dtype=object)


def recorded_coordinates(config, cities, content: SlotContent):
    """Recorded lat/lon (object arrays: floats, NaN for missing, text for NaN text) and the
    distance in km of a valid recorded position from the tagged city's centre (NaN if none)."""
    kind = content.coord_kind
    u = content.offset_u
    distance = np.select(
        [kind == FAR, kind == NEAR],
        [500.0 + 14_500.0 * u, 10.0 + 190.0 * u],
        config.city_radius_km * np.sqrt(u),  # uniform over the city's disc
    )
    placed = content.placed_city
    lat, lon = destination(cities.lat[placed], cities.lon[placed], distance, content.bearing)
    centre_lat, centre_lon = cities.lat[content.tagged_city], cities.lon[content.tagged_city]
    valid = kind <= NEAR  # ok, far, near: a real position
    distance_km = np.where(valid, haversine_km(centre_lat, centre_lon, lat, lon), np.nan)
    lat_out = np.where(valid, lat, np.nan).astype(object)
    lon_out = np.where(valid, lon, np.nan).astype(object)
    text = kind == NAN_TEXT
    lat_out[text] = _NAN_TEXTS[(content.variant_seed[text] % len(_NAN_TEXTS))]
    lon_out[text] = _NAN_TEXTS[(content.variant_seed[text] // 7 % len(_NAN_TEXTS))]
    out = np.flatnonzero(kind == OUT_OF_RANGE)
    lat_out[out], lon_out[out] = centre_lat[out], centre_lon[out]
    # Half break the latitude (|lat| > 90), half the longitude (lon > 180).
    bad_lat, bad_lon = out[content.variant_seed[out] % 2 == 0], out[content.variant_seed[out] % 2 == 1]
    lat_out[bad_lat] = np.where(u[bad_lat] < 0.5, -1, 1) * (90.5 + 80 * u[bad_lat])
    lon_out[bad_lon] = 180.5 + 170 * u[bad_lon]
    return lat_out, lon_out, distance_km


def destination(lat_deg, lon_deg, distance_km, bearing_rad):
    """Point `distance_km` from (lat, lon) along `bearing_rad` on a sphere (vectorised)."""
    lat1, lon1 = np.radians(lat_deg), np.radians(lon_deg)
    angle = np.asarray(distance_km) / EARTH_RADIUS_KM
    lat2 = np.arcsin(np.sin(lat1) * np.cos(angle) + np.cos(lat1) * np.sin(angle) * np.cos(bearing_rad))
    lon2 = lon1 + np.arctan2(np.sin(bearing_rad) * np.sin(angle) * np.cos(lat1),
                             np.cos(angle) - np.sin(lat1) * np.sin(lat2))
    lon2 = (lon2 + np.pi) % (2 * np.pi) - np.pi
    return np.degrees(lat2), np.degrees(lon2)

