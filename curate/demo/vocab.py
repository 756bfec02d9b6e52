"""Words the demo collection is made of: city spellings, tags, titles, names, licences.

Spellings are the ones real Flickr users type (squashed, spaced, nicknames, native
script); each one names exactly one label of datasets/skylines.toml, which a test checks.
"""

from __future__ import annotations

# Content kinds; the index is what the generator stores per photo.
CONTENT_KINDS = ("skyline", "street", "food", "people", "indoor", "sandals")
SKYLINE, SANDALS = 0, 5
OFFTOPIC_KINDS = (1, 2, 3, 4)  # what an ordinary off-topic photo can be

# Share of photographers living in each city (bigger photo scenes have more of them).
CITY_WEIGHTS = {
    "new_york": 0.16, "london": 0.16, "tokyo": 0.10, "chicago": 0.10, "los_angeles": 0.10,
    "toronto": 0.08, "sydney": 0.08, "houston": 0.08, "shanghai": 0.07, "philadelphia": 0.07,
}

# (spelling, relative frequency) per label name.
CITY_SPELLINGS = {
    "london": (("london", 8), ("London", 2), ("londres", 1)),
    "sydney": (("sydney", 9), ("Sydney", 2)),
    "toronto": (("toronto", 9), ("Toronto", 2)),
    "los_angeles": (("los angeles", 5), ("losangeles", 4), ("LA", 2), ("los_angeles", 1)),
    "chicago": (("chicago", 9), ("Chicago", 2), ("chitown", 1)),
    "philadelphia": (("philadelphia", 7), ("philly", 3)),
    "tokyo": (("tokyo", 7), ("東京", 3), ("Tokyo", 1)),
    "houston": (("houston", 9), ("Houston", 1)),
    "shanghai": (("shanghai", 7), ("上海", 3)),
    "new_york": (("newyork", 5), ("new york", 4), ("nyc", 4), ("new york city", 2), ("manhattan", 2),
                 ("NewYork", 1)),
}

SKYLINE_TAG = "skyline"

# Tags that say something about the content (weak signal for a tag-based model) ...
KIND_TAGS = (
    ("architecture", "cityscape", "downtown", "buildings", "skyscraper", "night", "sunset", "panorama",
     "view", "tower", "river", "lights", "夜景"),
    ("street", "streetphotography", "traffic", "cars", "crosswalk", "shop", "walking"),
    ("food", "dinner", "lunch", "restaurant", "yummy", "breakfast", "寿司", "café"),
    ("people", "portrait", "friends", "family", "party", "me", "smile"),
    ("hotel", "room", "interior", "museum", "home", "bar", "window"),
    ("sandals", "feet", "summer", "shoes", "beach", "toes"),
)
# ... and tags that say nothing. The empty tag is real Flickr noise (dropped at ingest).
COMMON_TAGS = ("travel", "vacation", "2008", "2009", "2010", "2011", "2012", "canon", "nikon",
               "iphone", "city", "urban", "summer", "winter", "holiday", "geotagged", "photo",
               "flickr", "trip", "")

# Titles: camera file names, a few words, or nothing.
CAMERA_PREFIXES = ("IMG_", "DSC_", "DSCF", "P100", "DSC0")
KIND_TITLE_WORDS = ("skyline", "street", "dinner", "friends", "hotel room", "new sandals")

FIRST_NAMES = ("Anna", "Ben", "Chloé", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jürgen",
               "Kofi", "Lena", "Mei", "Nils", "Olu", "Priya", "Quinn", "Rosa", "Søren", "Tomás",
               "Uma", "Victor", "Wen", "Xavier", "Yuki", "Zoë", "健太", "美咲", "Ольга", "Amir")
LAST_NAMES = ("Smith", "Nguyen", "García", "Kowalski", "Tanaka", "Okafor", "Müller", "Rossi", "Chen",
              "Dubois", "Singh", "Larsen", "Silva", "O'Brien", "Kim", "Haddad", "佐藤", "Ivanova",
              "Photography", "Photos", "B.", "K.")

# Flickr licence names with rough shares of YFCC100M.
LICENSES = (("All Rights Reserved", 0.45), ("Attribution-NonCommercial-ShareAlike License", 0.2),
            ("Attribution-NonCommercial License", 0.1), ("Attribution License", 0.1),
            ("Attribution-ShareAlike License", 0.08), ("Attribution-NoDerivs License", 0.04),
            ("Attribution-NonCommercial-NoDerivs License", 0.03))

SANDALS_OWNER_NAME = "Sandal Sam"
URL_PREFIX = "https://demo.curate.invalid/photos/"
