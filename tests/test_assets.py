"""Stage 5 deterministic extraction: props, descriptions from mentions, merge, style packs."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio import assets
from studio.errors import BadInput
from studio.model import Asset, AssetKind, ElementKind, Scene, ScriptElement
from studio.screenplay import parse_screenplay

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "samples" / "the_long_rain.fountain"
STYLES = ROOT / "data" / "styles"


@pytest.fixture(scope="module")
def sample_scenes() -> tuple[Scene, ...]:
    return parse_screenplay(SAMPLE.read_text(encoding="utf-8"), name=SAMPLE.name).scenes


def scene(n: int, *actions: str, characters: tuple[str, ...] = (), location: str = "") -> Scene:
    elements = tuple(ScriptElement(kind=ElementKind.ACTION, text=text) for text in actions)
    heading = f"INT. {location or f'ROOM {n}'} - DAY"
    return Scene(
        id=f"sc-{n}",
        heading=heading,
        location=location or f"ROOM {n}",
        elements=elements,
        characters=characters,
    )


# --------------------------------------------------------------------------- props


def test_sample_props(sample_scenes: tuple[Scene, ...]) -> None:
    props = dict(assets.extract_props(sample_scenes))
    assert props == {
        "Claim Ticket": ("sc-1",),
        "Red Umbrella": ("sc-1", "sc-2", "sc-3", "sc-4"),
        "Envelope": ("sc-1", "sc-2"),
    }
    # In order of introduction.
    assert [name for name, _ in assets.extract_props(sample_scenes)] == [
        "Claim Ticket",
        "Red Umbrella",
        "Envelope",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("She picks up a PHONE.", ["Phone"]),
        ("She lays a small pink CLAIM TICKET on the counter.", ["Claim Ticket"]),
        ("Mia's SATCHEL slides off the chair.", ["Satchel"]),
        ("His GLASSES fog up.", ["Glasses"]),
        ("Two TICKETS lie on the bar.", ["Tickets"]),
        ("He holds out a pair of SCISSORS.", ["Scissors"]),
        ("CLOSE ON the KNIFE.", ["Knife"]),
        # sounds: caps verbs after their subject, onomatopoeia, no determiner
        ("The door bell JANGLES.", []),
        ("The old phone RINGS twice.", []),
        ("thunder CRACKS overhead.", []),
        ("A loud BANG from the street.", []),
        ("Then -- FWUMP.", []),
        ("She is SOAKED TO THE SKIN.", []),
        ("A SHOT RINGS OUT.", []),
        ("A GUNSHOT ECHOES THROUGH THE HALL.", []),
        ("Then a SHOT RINGS OUT.", []),
        ("NOT A HEADING - JUST A SIGN ON THE DOOR", []),
        # characters and their introductions
        ("MIA enters, then OSKAR.", []),
        ("The BUS DRIVER waves.", []),
        ("OSKAR'S LOUPE glints.", []),
        ("A WAITER (30s) hovers.", []),
        # screenplay vocabulary, short words
        ("A TV flickers. The POV shifts.", []),
    ],
)
def test_prop_rule_on_one_line(text: str, expected: list[str]) -> None:
    scenes = [scene(1, text, characters=("MIA", "OSKAR", "BUS DRIVER"))]
    assert [name for name, _ in assets.extract_props(scenes)] == expected


def test_locations_and_excluded_names_are_not_props() -> None:
    scenes = [
        scene(
            1,
            "She stares at the HARBOUR BRIDGE. The GHOST sits on a STOOL.",
            location="HARBOUR BRIDGE",
        ),
    ]
    assert [n for n, _ in assets.extract_props(scenes, exclude=["GHOST"])] == ["Stool"]
    assert [n for n, _ in assets.extract_props(scenes)] == ["Ghost", "Stool"]


@pytest.mark.parametrize(
    ("later", "mentioned"),
    [
        ("She opens the umbrella.", True),
        ("Rain runs off the furled red umbrella.", True),
        ("Her umbrella drips on the floor.", True),
        ("A red umbrella hangs in the window.", True),  # the whole name, any case
        ("He repairs a broken black umbrella.", False),  # indefinite: another umbrella
        ("They pass the umbrella shop.", False),  # modifier of another noun
        ("Umbrellas everywhere.", False),  # plural
        ("Nothing here.", False),
    ],
)
def test_recurring_lowercase_mentions(later: str, mentioned: bool) -> None:
    scenes = [
        scene(1, "She finds a RED UMBRELLA."),
        scene(2, later),
    ]
    ((name, mentions),) = assets.extract_props(scenes)
    assert name == "Red Umbrella"
    assert mentions == (("sc-1", "sc-2") if mentioned else ("sc-1",))


def test_mentions_before_the_introduction_do_not_count() -> None:
    scenes = [scene(1, "She opens the umbrella."), scene(2, "He finds a RED UMBRELLA.")]
    assert assets.extract_props(scenes) == [("Red Umbrella", ("sc-2",))]


def test_props_as_assets(sample_scenes: tuple[Scene, ...]) -> None:
    found = assets.props_as_assets(sample_scenes)
    assert [a.id for a in found] == ["prop-claim-ticket", "prop-red-umbrella", "prop-envelope"]
    assert all(a.kind is AssetKind.PROP and a.description for a in found)


# --------------------------------------------------------------------------- descriptions


@pytest.mark.parametrize(
    ("kind", "name", "must_contain", "must_not_contain"),
    [
        (AssetKind.CHARACTER, "MIA", ["MIA VARGA (28): close-cropped dark hair"], ["OSKAR BRANDT"]),
        (AssetKind.CHARACTER, "OSKAR", ["OSKAR BRANDT (74), cardigan buttoned"], ["MIA VARGA"]),
        (AssetKind.CHARACTER, "BUS DRIVER", ["reading glasses on a chain"], ["Oskar"]),
        (
            AssetKind.LOCATION,
            "HARBOUR BRIDGE",
            ["The harbour is a sheet of hammered pewter."],
            ["Mia walks"],
        ),
        (
            AssetKind.LOCATION,
            "OSKAR'S UMBRELLA REPAIR SHOP",
            ["Rain sheets down the shop's bowed front window", "Dark, except for the green lamp."],
            ["Oskar sits alone"],
        ),
        (
            AssetKind.PROP,
            "Red Umbrella",
            [
                "a RED UMBRELLA.",
                "Silk canopy the colour of a postbox",
                "with the red umbrella furled",
            ],
            ["broken black umbrella", "umbrella shop"],
        ),
        (
            AssetKind.PROP,
            "Claim Ticket",
            ["Number 41, in faded fountain-pen ink"],
            ["ticket machine"],
        ),
        (AssetKind.PROP, "THE LETTER", ["Mia hunches over the letter"], ["Letters keep"]),
    ],
)
def test_describe_from_mentions(
    sample_scenes: tuple[Scene, ...],
    kind: AssetKind,
    name: str,
    must_contain: list[str],
    must_not_contain: list[str],
) -> None:
    asset = Asset(id=f"{kind.value}-x", kind=kind, name=name)
    text = assets.describe_from_mentions(sample_scenes, asset)
    assert 0 < len(text) <= 600
    for part in must_contain:
        assert part in text
    for part in must_not_contain:
        assert part not in text
    # Deterministic, and cut at a sentence boundary.
    assert assets.describe_from_mentions(sample_scenes, asset) == text
    assert text.endswith((".", "!", "?", '"'))


def test_description_keeps_script_order_dedupes_and_trims() -> None:
    scenes = [
        scene(1, "Mia runs. Mia runs.", characters=("MIA",)),
        scene(2, "Rain falls. Mia stops at the kerb. Oskar waves.", characters=("MIA",)),
    ]
    asset = Asset(id="character-mia", kind=AssetKind.CHARACTER, name="MIA")
    assert assets.describe_from_mentions(scenes, asset) == "Mia runs. Mia stops at the kerb."
    assert assets.describe_from_mentions(scenes, asset, limit_chars=12) == "Mia runs."
    long = [scene(1, "Mia " + "very " * 40 + "slowly walks.", characters=("MIA",))]
    cut = assets.describe_from_mentions(long, asset, limit_chars=30)
    assert len(cut) <= 30 and cut.endswith("\u2026")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two! Three? Four", ["One.", "Two!", "Three?", "Four"]),
        ("Mr. Brandt nods. She waits.", ["Mr. Brandt nods.", "She waits."]),
        ('"Keep it dry." She reads on.', ['"Keep it dry."', "She reads on."]),
        ("I thought... umbrellas.", ["I thought... umbrellas."]),
        ("  ", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert assets.split_sentences(text) == expected


# --------------------------------------------------------------------------- merge


def test_merge_keeps_user_edits_and_locks() -> None:
    existing = (
        Asset(
            id="prop-red-umbrella",
            kind=AssetKind.PROP,
            name="Red Umbrella",
            description="Edited by the user.",
            mentions=("sc-1",),
            image_key="a" * 64,
            locked=True,
        ),
        Asset(id="prop-claim-ticket", kind=AssetKind.PROP, name="Claim Ticket"),
        Asset(id="prop-the-letter", kind=AssetKind.PROP, name="THE LETTER", source="sheet"),
    )
    extracted = (
        Asset(
            id="prop-red-umbrella",
            kind=AssetKind.PROP,
            name="Red Umbrella",
            description="Fresh pre-fill.",
            mentions=("sc-1", "sc-2"),
        ),
        Asset(
            id="prop-claim-ticket",
            kind=AssetKind.PROP,
            name="Claim Ticket",
            description="Small pink ticket.",
            mentions=("sc-1",),
        ),
        Asset(id="prop-envelope", kind=AssetKind.PROP, name="Envelope", mentions=("sc-1",)),
    )
    merged = assets.merge_extracted(existing, extracted)
    assert [a.id for a in merged] == [
        "prop-red-umbrella",
        "prop-claim-ticket",
        "prop-the-letter",
        "prop-envelope",
    ]
    umbrella, ticket, letter, envelope = merged
    assert umbrella.description == "Edited by the user."
    assert umbrella.locked and umbrella.image_key == "a" * 64
    assert umbrella.mentions == ("sc-1", "sc-2")
    assert ticket.description == "Small pink ticket."  # nobody had written one
    assert letter == existing[2]
    assert envelope == extracted[2]
    # Running it again changes nothing.
    assert assets.merge_extracted(merged, extracted) == merged


# --------------------------------------------------------------------------- style packs


def test_bundled_style_packs_load() -> None:
    packs = assets.load_style_packs(STYLES)
    assert len(packs) == 5
    assert len({p.id for p in packs}) == 5
    for pack in packs:
        assert (STYLES / f"{pack.id}.toml").exists()
        assert pack.name and pack.description and pack.lighting and pack.lens and pack.grain
        assert 5 <= len(pack.palette) <= 6
        assert len(pack.tags) >= 3


GOOD = 'name = "Test"\npalette = ["#000000", "#ffffff"]\n'


@pytest.mark.parametrize(
    ("filename", "content", "needle"),
    [
        ("broken.toml", 'name = "Unclosed\n', "not valid TOML"),
        ("badhex.toml", 'name = "X"\npalette = ["#000000", "#12345"]\n', "'palette (item 2)'"),
        ("badhex.toml", 'name = "X"\npalette = ["red"]\n', "#rrggbb"),
        ("noname.toml", 'palette = ["#000000"]\n', "'name'"),
        ("extra.toml", 'name = "X"\ncolour = "red"\n', "'colour'"),
        ("Bad Name.toml", GOOD, "'id'"),
        ("mismatch.toml", 'id = "other"\n' + GOOD, "'id'"),
        ("tags.toml", 'name = "X"\ntags = "noir"\n', "'tags'"),
    ],
)
def test_broken_style_pack_names_file_and_field(
    tmp_path: Path, filename: str, content: str, needle: str
) -> None:
    (tmp_path / "fine.toml").write_text(GOOD, encoding="utf-8")
    (tmp_path / filename).write_text(content, encoding="utf-8")
    with pytest.raises(BadInput) as caught:
        assets.load_style_packs(tmp_path)
    assert filename in str(caught.value)
    assert needle in str(caught.value)


def test_style_pack_folder(tmp_path: Path) -> None:
    assert assets.load_style_packs(tmp_path) == ()
    (tmp_path / "fine.toml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("ignored", encoding="utf-8")
    (pack,) = assets.load_style_packs(tmp_path)
    assert pack.id == "fine" and pack.palette == ("#000000", "#ffffff")
    with pytest.raises(BadInput, match="does not exist"):
        assets.load_style_packs(tmp_path / "missing")


# --------------------------------------------------------------------------- issue 10


def test_a_person_introduced_with_an_age_note_is_never_a_prop() -> None:
    scenes = [
        scene(1, "A GIRL (8) skips along the jetty.", characters=("MARA",)),
        scene(2, "The GIRL waits by the door. Mara lights a LANTERN.", characters=("MARA",)),
    ]
    assert [n for n, _ in assets.extract_props(scenes)] == ["Lantern"]
    assert assets.suggest_characters(scenes, known=["MARA"]) == [("GIRL", ("sc-1", "sc-2"))]
    assert assets.suggest_characters(scenes, known=["Girl"]) == []


def test_an_added_object_is_found_where_the_action_names_it() -> None:
    scenes = [scene(1, "Waves slap the jetty."), scene(2, "Rain.")]
    assert assets.mentions_of(scenes, AssetKind.PROP, "Jetty") == ("sc-1",)
    assert assets.mentions_of(scenes, AssetKind.LOCATION, "ROOM 2") == ("sc-2",)


def test_asset_ids_of_names_without_latin_letters_differ() -> None:
    assert assets.asset_id(AssetKind.PROP, "Café Sign") == assets.asset_id(AssetKind.PROP, "Cafe Sign") == "prop-cafe-sign"
    assert assets.asset_id(AssetKind.CHARACTER, "李") != assets.asset_id(AssetKind.CHARACTER, "王")
    assert assets.asset_id(AssetKind.CHARACTER, "X") == "character-x"


@pytest.mark.parametrize("name,data,needle", [
    ("bad\u202egnp.exe", b"\x89PNG", "file name"),
    ("-rf.png", b"\x89PNG", "file name"),
    ("a.png", b"", "is empty"),
    ("a.png", b"x" * (assets.MAX_IMAGE_BYTES + 1), "over the 20.0 MB limit"),
])
def test_a_reference_upload_is_checked_before_it_is_decoded(name: str, data: bytes, needle: str) -> None:
    with pytest.raises(BadInput, match=needle):
        assets.check_reference_upload(name, data)


@pytest.mark.parametrize(
    ("later", "mentioned"),
    [
        ("She folds the \u017fcarf.", True),  # long s: re.IGNORECASE matches it with 's'
        ("She folds the \u0130scarf.", False),  # dotted capital I lower-cases to two characters
        ("\u0130 She folds the scarf.", True),  # ... and shifts the rest of the text
        ("She folds the ScArf.", True),
        ("She folds the sc\u0131arf.", False),
    ],
)
def test_quick_scene_checks_agree_with_the_patterns(later: str, mentioned: bool) -> None:
    """Extraction skips a scene whose text cannot hold the prop's head noun; that quick
    check must never skip a scene the case-insensitive patterns would match."""
    scenes = [scene(1, "She finds a RED SCARF."), scene(2, later)]
    assert assets.prop_mentioned(later, "RED SCARF") is mentioned
    ((_, mentions),) = assets.extract_props(scenes)
    assert mentions == (("sc-1", "sc-2") if mentioned else ("sc-1",))
    prop = Asset(id="prop-red-scarf", kind=AssetKind.PROP, name="Red Scarf")
    described = assets.describe_from_mentions(scenes, prop)
    assert (later.strip() in described) is mentioned
