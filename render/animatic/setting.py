"""Where a shot happens, read from its words: the backdrop kind, the weather, the light and the
props the animatic draws ("a jetty on a grey sea is not a lawn with trees").

The vocabulary is the data table below, in one place: a word of the heading's location or of
the action names a backdrop kind, a weather or a time of day. The heading's location is read
first and its head noun wins ("CANAL STREET" is a street, "HARBOUR BRIDGE" a bridge over
water); the scene's action text (the location's description in the frame prompt, then the
shot's action) fills in what the heading does not name. Every kind named anywhere is kept as
a feature, so a beach whose action names a jetty is drawn with its jetty. A setting nobody
recognises is ``unknown``: a neutral backdrop with the location's label, never a park.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from render.animatic.text import _ascii
from studio.caps import CAPS_RUN, EMPHASIS, NOT_PROPS, SOUNDS
from studio.headings import light_of_day, split_heading

# --------------------------------------------------------------------------- the table

# kind -> (inside?, words). Words are matched whole, case-insensitively, with an optional
# plural "s"; a phrase may have several words. The drawing family of each kind is below.
SETTINGS: dict[str, tuple[bool, tuple[str, ...]]] = {
    # water
    "jetty": (False, ("jetty", "pier", "boardwalk", "pontoon", "landing stage", "breakwater")),
    "harbour": (
        False,
        ("harbour", "harbor", "port", "dock", "docks", "docklands", "quay", "quayside",
         "marina", "wharf", "waterfront"),
    ),
    "beach": (False, ("beach", "shore", "shoreline", "seashore", "sands", "seaside", "cove")),
    "sea": (
        False,
        ("sea", "ocean", "coast", "coastline", "seafront", "bay", "open water", "cliff",
         "cliffs", "cliff top", "clifftop", "lighthouse", "deck", "waves"),
    ),
    "lake": (False, ("lake", "lakeside", "loch", "pond", "reservoir", "lagoon", "lakeshore")),
    "river": (False, ("river", "riverbank", "riverside", "stream", "creek", "canal", "brook")),
    "bridge": (False, ("bridge", "footbridge", "viaduct", "overpass")),
    # town
    "street": (
        False,
        ("street", "road", "avenue", "boulevard", "city", "town", "downtown", "square",
         "plaza", "sidewalk", "pavement", "crossroads", "intersection", "car park",
         "parking lot", "market", "bus stop", "high street", "main street", "highway",
         "motorway", "rooftop", "roof", "station", "platform", "village"),
    ),
    "alley": (False, ("alley", "alleyway", "backstreet", "back street", "passage", "lane")),
    # green and wild
    "forest": (False, ("forest", "woods", "wood", "woodland", "jungle", "thicket", "grove")),
    "park": (
        False,
        ("park", "garden", "gardens", "lawn", "backyard", "yard", "cemetery", "graveyard",
         "orchard", "playground"),
    ),
    "field": (
        False,
        ("field", "fields", "farm", "farmyard", "meadow", "countryside", "prairie", "pasture",
         "vineyard", "ranch", "moor", "moors", "heath", "plain", "plains"),
    ),
    "desert": (False, ("desert", "dunes", "dune", "wasteland", "badlands", "canyon", "salt flat")),
    "mountain": (
        False,
        ("mountain", "mountains", "mountainside", "peak", "summit", "ridge", "valley", "hill",
         "hills", "hillside", "glacier", "mountain pass"),
    ),
    "snow": (False, ("snowfield", "tundra", "ice field", "frozen lake", "ski slope", "arctic")),
    # rooms
    "kitchen": (True, ("kitchen", "kitchenette", "galley")),
    "bedroom": (True, ("bedroom", "bed", "dormitory", "dorm", "motel room", "hotel room")),
    "office": (True, ("office", "study", "newsroom", "precinct", "police station", "bank")),
    "bar": (
        True,
        ("bar", "pub", "diner", "cafe", "restaurant", "saloon", "nightclub", "club", "tavern",
         "canteen", "coffee shop"),
    ),
    "car": (True, ("car", "taxi", "cab", "van", "truck", "limo", "limousine", "jeep", "sedan")),
    "corridor": (
        True,
        ("corridor", "hallway", "hall", "stairwell", "staircase", "landing", "tunnel", "lobby"),
    ),
    "hospital": (True, ("hospital", "ward", "clinic", "infirmary", "icu", "operating room")),
    "classroom": (True, ("classroom", "school", "lecture hall", "lecture theatre", "library")),
    "church": (True, ("church", "chapel", "cathedral", "temple", "mosque", "synagogue")),
    "living": (True, ("living room", "lounge", "sitting room", "apartment", "flat", "den")),
    "shop": (
        True,
        ("shop", "store", "workshop", "boutique", "pharmacy", "bakery", "bookshop", "garage",
         "studio"),
    ),
}  # fmt: skip

# The drawing family of each kind (render.animatic.scenery draws one per family).
FAMILY: dict[str, str] = {
    "jetty": "water",
    "harbour": "water",
    "beach": "water",
    "sea": "water",
    "lake": "water",
    "river": "water",
    "bridge": "water",
    "street": "street",
    "alley": "street",
    "forest": "forest",
    "park": "park",
    "field": "field",
    "desert": "desert",
    "mountain": "mountain",
    "snow": "snow",
}

# weather -> words; checked in this order, the first found wins.
WEATHER: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("storm", ("storm", "stormy", "thunder", "thunderstorm", "lightning", "gale", "hurricane",
               "tempest", "squall")),
    ("snow", ("snow", "snowing", "snowfall", "snowflakes", "snows", "blizzard", "sleet",
              "flurries")),
    ("rain", ("rain", "rains", "raining", "rainy", "rainfall", "drizzle", "drizzling",
              "downpour", "shower", "showers", "pours down", "pouring down", "raindrops")),
    ("fog", ("fog", "foggy", "mist", "misty", "haze", "hazy", "smog", "murk")),
    ("overcast", ("overcast", "cloudy", "clouded", "leaden", "grey sky", "gray sky", "grey lake",
                  "gray lake", "grey clouds", "gray clouds", "grey morning", "grey river",
                  "grey skies", "gray skies", "grey sea", "gray sea", "grey day", "gray day",
                  "grey light", "gray light", "grey water", "gray water", "dull sky", "bleak")),
    ("sun", ("sun", "sunny", "sunshine", "sunlight", "sunlit", "blazing", "scorching",
             "heat haze", "cloudless", "bright day")),
)  # fmt: skip

# time of day from the action when the heading's time says nothing about light
_ACTION_LIGHT: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("night", ("night", "midnight", "moon", "moonlight", "moonlit", "stars", "starlight",
               "darkness", "pitch dark", "pitch black")),
    ("dusk", ("dusk", "sunset", "twilight", "evening", "nightfall")),
    ("dawn", ("dawn", "sunrise", "daybreak", "first light")),
)  # fmt: skip
_HEADING_TIMES = re.compile(
    r"\b(day|night|midnight|noon|midday|morning|afternoon|evening|dusk|dawn|sunset|sunrise|"
    r"twilight|magic hour|first light|daybreak)\b",
    re.IGNORECASE,
)

# objects a wide shot shows when the action names them (an icon where
# render.animatic.drawing._draw_prop has one, else a labelled box); words that are verbs as
# often as things ('rings', 'notes', 'cards') are left to the CAPS convention
PROP_WORDS = (
    "umbrella",
    "envelope",
    "letter",
    "ticket",
    "key",
    "phone",
    "photo",
    "book",
    "cup",
    "glass",
    "bottle",
    "knife",
    "gun",
    "map",
    "box",
    "suitcase",
    "bag",
    "candle",
)

_DETERMINED = re.compile(
    r"\b(?:a|an|the|her|his|their|its|my|your|our|this|that|two|three|some|[A-Za-z]+'s)\s+"
    r"(?P<between>(?:[a-z][a-z-]*\s+){0,3})$",
)
# weather words used as verbs of people: 'she storms out', 'he showers', 'they rain blows'
_VERB_WEATHER = re.compile(
    r"\b(storm|shower|rain)(s|ed|ing)?\s+(out|off|in|into|away|past|through|up|down|over|"
    r"across|back|blows|punches|kisses|insults|questions)\b"
)
_NEGATED = re.compile(r"\b(no|not|without|never|nor)\s+(an?\s+|the\s+|any\s+)?$")


def _pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    alts = sorted((re.escape(w).replace(r"\ ", r"\s+") for w in words), key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(alts) + r")(?:e?s)?\b")


_SETTING_RES = {kind: _pattern(words) for kind, (_, words) in SETTINGS.items()}
_WEATHER_RES = tuple((name, _pattern(words)) for name, words in WEATHER)
_LIGHT_RES = tuple((name, _pattern(words)) for name, words in _ACTION_LIGHT)
_PROP_RE = _pattern(PROP_WORDS)


def _lower(*texts: str) -> str:
    return " ".join(_ascii(t).lower() for t in texts if t)


def _found(pattern: re.Pattern[str], text: str) -> list[int]:
    """Where ``pattern`` matches ``text``, leaving out negated mentions ('no water')."""
    return [m.start() for m in pattern.finditer(text) if not _NEGATED.search(text[: m.start()])]


# --------------------------------------------------------------------------- the reading


@dataclass(frozen=True)
class Setting:
    """What the animatic draws behind the figures."""

    kind: str  # a key of SETTINGS, or "unknown"
    interior: bool
    tod: str  # night, dusk, dawn or day
    weather: str  # a WEATHER name or "" (dry, no particular sky)
    features: frozenset[str]  # every kind named anywhere (a jetty on a beach)
    label: str  # the location as written, for the unknown backdrop's chip
    props: tuple[str, ...] = ()

    @property
    def family(self) -> str:
        if self.interior:
            return "room"
        return FAMILY.get(self.kind, "unknown")

    @property
    def wet(self) -> bool:
        return self.weather in ("rain", "storm")

    @property
    def water(self) -> bool:
        return self.family == "water" or bool(
            self.features & {"jetty", "harbour", "beach", "sea", "lake", "river"}
        )


def _kind_in(text: str, interior: bool | None) -> tuple[str, int] | None:
    """The kind named last in ``text`` (a heading's head noun comes last), of the given
    inside-ness when one is asked for."""
    best: tuple[str, int] | None = None
    for kind, pattern in _SETTING_RES.items():
        if interior is not None and SETTINGS[kind][0] != interior:
            continue
        for at in _found(pattern, text):
            if best is None or at > best[1]:
                best = (kind, at)
    return best


def _kind_first(text: str, interior: bool) -> str | None:
    """The kind the action names first (the establishing words come first)."""
    best: tuple[str, int] | None = None
    for kind, pattern in _SETTING_RES.items():
        if SETTINGS[kind][0] != interior:
            continue
        hits = _found(pattern, text)
        if hits and (best is None or hits[0] < best[1]):
            best = (kind, hits[0])
    return best[0] if best else None


def read_setting(
    *,
    heading: str = "",
    location: str = "",
    time_of_day: str = "",
    interior: bool | None = None,
    scene_text: str = "",
    action: str = "",
    names: tuple[str, ...] = (),
) -> Setting:
    """The setting of a shot: the heading's location words first, then the scene's text
    (the location's description, the scene's action lines), then the shot's action.

    ``interior`` is the spec's INT/EXT when known (else the heading's; no heading: inside).
    ``names`` are the characters' upper-cased names, which are never props.
    """
    int_ext, heading_place, heading_time = split_heading(heading)
    if interior is None:
        interior = int_ext.value != "EXT" if int_ext.value else not heading.strip()
    place = _lower(location, heading_place)
    scene = _lower(scene_text)
    shot = _lower(action)
    # the heading decides inside or out; its last setting word of that kind is the kind
    found = _kind_in(place, interior)
    kind = found[0] if found else None
    if kind is None:
        kind = _kind_first(scene, interior) or _kind_first(shot, interior)
    if kind is None and not interior and _kind_in(place, True):
        kind = "street"  # EXT. DINER, EXT. HOSPITAL: the building's street
    features = frozenset(
        k for k, pattern in _SETTING_RES.items() if _found(pattern, f"{place} {scene} {shot}")
    )
    everything = _VERB_WEATHER.sub(" ", _lower(heading, location, scene_text, action))
    weather = next((name for name, rx in _WEATHER_RES if _found(rx, everything)), "")
    time_words = time_of_day or heading_time
    if _HEADING_TIMES.search(time_words):
        tod = light_of_day(time_words)
    else:
        told = f"{scene} {shot}"
        tod = next((name for name, rx in _LIGHT_RES if _found(rx, told)), "day")
    if weather == "sun" and tod == "night":
        weather = ""  # "the sun" in a night scene is talk, not a sky
    label = " ".join((location or heading_place or heading).split()).upper()
    return Setting(
        kind=kind or "unknown",
        interior=interior,
        tod=tod,
        weather=weather,
        features=features,
        label=_ascii(label),
        props=named_props(action, names),
    )


def named_props(action: str, names: tuple[str, ...] = (), limit: int = 3) -> tuple[str, ...]:
    """The props an action names: its ALL-CAPS phrases (the screenplay convention, see
    ``studio.caps``) that are not a character, a sound or shorthand, then the objects of
    :data:`PROP_WORDS` it mentions; upper-cased, in order, at most ``limit``."""
    text = _ascii(action)
    upper_names = {w for n in names for w in n.upper().split()}
    out: list[str] = []
    for match in CAPS_RUN.finditer(text):
        phrase = " ".join(match.group().split())
        words = [re.sub(r"'S$", "", w) for w in phrase.split()]
        if any(w in upper_names for w in words) or len(re.sub(r"[^A-Z]", "", phrase)) < 3:
            continue
        if all(w in NOT_PROPS | EMPHASIS for w in words) or (len(words) == 1 and phrase in SOUNDS):
            continue
        # a prop follows a determiner ('a small pink CLAIM TICKET'); a lone caps verb after
        # its subject is a sound ('the bell JANGLES'), as studio.assets reads the convention
        before = _DETERMINED.search(text[: match.start()])
        if before is None:
            continue
        if len(words) == 1 and before["between"] and re.search(r"(S|ED|ING)$", phrase):
            continue
        if phrase not in out:
            out.append(phrase)
    lowered = text.lower()
    for m in _PROP_RE.finditer(lowered):
        word = next(w for w in PROP_WORDS if re.fullmatch(rf"{w}(?:e?s)?", m.group()))
        if _NEGATED.search(lowered[: m.start()]):
            continue
        if not any(word.upper() in p for p in out):
            out.append(word.upper())
    return tuple(out[:limit])
