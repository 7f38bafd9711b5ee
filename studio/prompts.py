"""Stage 9 prompt assembly: shot + scene visual state + locked style -> one prompt set per shot.

Deterministic and offline (no LLM): the same inputs give byte-identical prompts. Each shot
gets three prompts, kept apart on purpose (seed 9.4, "Prompt Verbosity Rules"):

- the **frame prompt** drives the anchor frames (image model): visually verbose — camera,
  characters by prominence with their scene-instance descriptions and condition tags, where
  they stand, setting and light, props, the starting action, then the locked style;
- the **video prompt** drives the clip (video model): timing, camera movement, action,
  dialogue with speakers and SFX in the seed's Veo-style ``Audio:`` section. It names the
  characters but restates no visuals: the anchor frames already carry the visual truth;
- the **system scaffold** is system-owned orchestration (anchor-frame role, continuity,
  identity, start-frame-only behaviour, negative prompt): never editable.

``merge_with_saved`` keeps manual edits while the inputs are unchanged (same ``basis``) and
parks them in ``previous_*_edit`` when an upstream change re-assembles the prompt.
``check_prompt_set`` is the sanity checker: it warns, never blocks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from studio.camera import MOVES, camera_words, move_words
from studio.caps import CAPS_RUN, NOT_PROPS, SOUNDS, in_frame
from studio.errors import BadInput
from studio.model import IntExt, PromptSet, Scene, Shot, ShotCharacter, StylePack
from studio.objects import canonical_json, sha256_hex
from studio.screenplay import split_heading

# Bumped when the templates below change, so prompts assembled by an older template get a
# different basis and are re-assembled (with kept edits moved to previous_*_edit).
PROMPT_TEMPLATE_VERSION = 2

PromptKind = Literal["frame", "video"]

PROMPT_LABELS: dict[str, str] = {
    "frame": "Frame prompt: drives the anchor frames (image model)",
    "video": "Video prompt: drives the clip (video model)",
    "system": "System scaffold: system-owned orchestration, not editable",
}


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class PromptAsset:
    """An asset as this scene sees it (stage 8 visual state resolved against the master).

    ``description`` is the scene-instance description, ``condition_tags`` the scene's
    condition tags (wet, bloody, torn…). ``voice_profile`` is the optional character voice
    seed (metadata only) that the seed routes into the video prompt's Audio section.
    """

    asset_id: str
    kind: str
    name: str
    description: str
    condition_tags: tuple[str, ...] = ()
    voice_profile: str = ""


# --------------------------------------------------------------------------- target models


@dataclass(frozen=True)
class TargetModel:
    """A downstream model a prompt is written for, with the length it digests well.

    ``role`` says which prompt it consumes ("any" for the animatic, which takes both).
    ``frames`` lists the anchor-frame modes a video model accepts ("start+end" needs a
    start and an end frame, "start" a start frame only); frame models have none.
    ``max_words`` is the advisory limit the sanity checker warns past (None: no limit);
    ``token_limit`` the encoder's hard context, for the record.
    """

    key: str
    role: Literal["frame", "video", "any"]
    max_words: int | None
    token_limit: int | None
    frames: tuple[str, ...]
    negative_prompt: bool
    note: str


TARGET_MODELS: dict[str, TargetModel] = {
    # SDXL's two CLIP text encoders have a 77-token context (75 usable + BOS/EOS). ComfyUI
    # encodes longer prompts as concatenated 77-token chunks, so nothing is cut, but words
    # past the first chunk lose weight. English averages ~1.3 CLIP BPE tokens per word, so
    # 75 words is already ~2 chunks: the warning is deliberately generous.
    "sdxl": TargetModel(
        key="sdxl",
        role="frame",
        max_words=75,
        token_limit=77,
        frames=(),
        negative_prompt=True,
        note="CLIP 77-token chunks; keep the essentials in the first ~75 words",
    ),
    # Flux.1 reads the prompt with T5-XXL, max_sequence_length 512 tokens on dev (256 on
    # schnell; diffusers FluxPipeline). 512 T5 tokens are roughly 400 English words; past
    # that the text is truncated. Flux dev is guidance-distilled (CFG 1): negative prompts
    # are ignored.
    "flux": TargetModel(
        key="flux",
        role="frame",
        max_words=400,
        token_limit=512,
        frames=(),
        negative_prompt=False,
        note="T5-XXL, 512 tokens (dev); long natural-language prompts are fine",
    ),
    # Wan 2.x encodes the prompt with umT5-XXL, text_len 512 (wan/configs/shared_config.py),
    # but its own prompt extender rewrites prompts to about 80-100 words; motion prompts
    # longer than ~120 words dilute the motion and get ignored past the first sentences.
    "wan2.2-flf2v": TargetModel(
        key="wan2.2-flf2v",
        role="video",
        max_words=120,
        token_limit=512,
        frames=("start+end",),
        negative_prompt=True,
        note="first-last-frame to video: concise motion prompt, both anchor frames",
    ),
    "wan2.2-i2v": TargetModel(
        key="wan2.2-i2v",
        role="video",
        max_words=120,
        token_limit=512,
        frames=("start",),
        negative_prompt=True,
        note="image to video: start frame only, the model invents the end state",
    ),
    # The CPU animatic draws a storyboard from the frames and captions; it reads any prompt
    # and any frame mode, so no limit applies.
    "animatic": TargetModel(
        key="animatic",
        role="any",
        max_words=None,
        token_limit=None,
        frames=("start", "start+end"),
        negative_prompt=False,
        note="CPU storyboard animatic: any prompt, any frame mode",
    ),
}


def frame_mode(shot: Shot) -> str:
    """The anchor frames a shot needs: "start" for start-frame-only shots, else "start+end"."""
    return "start" if shot.start_frame_only else "start+end"


def compatible_video_models(shot: Shot) -> tuple[str, ...]:
    """Video targets (table order) that accept the shot's frame mode."""
    mode = frame_mode(shot)
    return tuple(
        m.key for m in TARGET_MODELS.values() if m.role in ("video", "any") and mode in m.frames
    )


def _target(key: str, role: Literal["frame", "video"]) -> TargetModel:
    model = TARGET_MODELS.get(key)
    if model is None or model.role not in (role, "any"):
        known = ", ".join(k for k, m in TARGET_MODELS.items() if m.role in (role, "any"))
        raise BadInput(f"unknown {role} model {key!r}: choose one of {known}")
    return model


def _video_key(shot: Shot, video_model: str | None) -> str:
    """The chosen video target, or the shot's first compatible one (wan2.2-flf2v / -i2v)."""
    if video_model is None:
        return compatible_video_models(shot)[0]
    return _target(video_model, "video").key


# --------------------------------------------------------------------------- text helpers

_WORD_RE = re.compile(r"#[0-9a-f]{6}\b|\d+mm\b|[^\W\d_]+(?:'[^\W\d_]+)*")
_SPACE_RE = re.compile(r"\s+")
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


def _one_line(text: str) -> str:
    return _SPACE_RE.sub(" ", text).strip()


def _clause(text: str) -> str:
    """Single-line text without trailing punctuation, to be joined into a sentence."""
    return _one_line(text).rstrip(" .;,:")


def _sentence(text: str) -> str:
    """Single-line text ending in one full stop (or its own ! / ?)."""
    text = _one_line(text).rstrip(" ;,:")
    if not text:
        return ""
    return text if text[-1] in ".!?\"')" else text + "."


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _display_name(name: str) -> str:
    """'OSKAR'S UMBRELLA SHOP' -> "Oskar's Umbrella Shop"; mixed-case names stay as typed."""
    name = _one_line(name)
    if name != name.upper():
        return name
    return " ".join(w[:1] + w[1:].lower() for w in name.split(" "))


def _norm(text: str) -> str:
    return " ".join(_words(text))


def _words(text: str) -> list[str]:
    """Lower-case word tokens; possessive 's dropped so "Oskar's" matches "Oskar"."""
    return [w.removesuffix("'s") for w in _WORD_RE.findall(text.lower())]


def _contains_phrase(haystack: str, phrase: str) -> bool:
    """Whole-word, case-insensitive phrase match."""
    needle = _norm(phrase)
    return bool(needle) and f" {needle} " in f" {_norm(haystack)} "


def _count_words(text: str) -> int:
    return len(text.split())


def _seconds(value: float) -> str:
    return f"{value:g}"


# --------------------------------------------------------------------------- shot parts

_RANK = {"primary": 0, "secondary": 1, "background": 2}


def _ordered_characters(shot: Shot) -> list[ShotCharacter]:
    """Primary, then secondary, then background; by name within a group, so the order the
    characters were typed in does not change the prompt. Only characters in frame
    (:func:`studio.caps.in_frame`)."""
    seen = in_frame(shot)  # a V.O. or O.S. voice is heard, not seen
    return sorted(seen, key=lambda c: (_RANK[c.prominence], c.name.casefold(), c.name))


def _ordered_assets(assets: Iterable[PromptAsset]) -> list[PromptAsset]:
    return sorted(assets, key=lambda a: (a.kind, a.asset_id, a.name))


def _tags(asset: PromptAsset) -> list[str]:
    return sorted({_clause(t) for t in asset.condition_tags if _clause(t)}, key=str.casefold)


def _character_asset(name: str, assets: Sequence[PromptAsset]) -> PromptAsset | None:
    """The character asset for a shot character: same name, else a name that starts with
    the other's words ("MIA" and "MIA VARGA")."""
    characters = [a for a in _ordered_assets(assets) if a.kind == "character"]
    wanted = _norm(name)
    for asset in characters:
        if _norm(asset.name) == wanted:
            return asset
    for asset in characters:
        have = _norm(asset.name)
        if have and wanted and (have.startswith(wanted + " ") or wanted.startswith(have + " ")):
            return asset
    return None


def _strip_article(name: str) -> str:
    return re.sub(r"^(the|a|an)\s+", "", _norm(name))


def _shot_props(shot: Shot, assets: Sequence[PromptAsset]) -> list[PromptAsset]:
    """Prop assets the shot's action or setting names (whole words, leading article
    optional: asset "THE LETTER" is named by "a letter")."""
    text = f"{shot.action} {shot.setting}"
    return [
        a
        for a in _ordered_assets(assets)
        if a.kind == "prop" and _contains_phrase(text, _strip_article(a.name) or a.name)
    ]


@dataclass(frozen=True)
class _Place:
    int_ext: str
    location: str
    detail: str
    time: str
    asset: PromptAsset | None


def _place(shot: Shot, scene: Scene, assets: Sequence[PromptAsset]) -> _Place:
    """Where the shot happens: the scene's INT/EXT, location and time, unless the shot's
    setting says otherwise. A setting may be a whole heading ("EXT. CANAL STREET - NIGHT",
    which replaces the scene's), another location asset's name (replaces the location) or a
    spot inside the scene's location ("the counter", kept as a detail)."""
    int_ext, location, time = scene.int_ext.value, scene.location, scene.time_of_day
    detail = ""
    locations = [a for a in _ordered_assets(assets) if a.kind == "location"]
    setting = _one_line(shot.setting)
    heading_ie, heading_location, heading_time = split_heading(setting)
    if heading_ie is not IntExt.NONE and heading_location:
        int_ext, location, time = heading_ie.value, heading_location, heading_time or time
    elif setting:
        if not location or any(_norm(a.name) == _norm(setting) for a in locations):
            location = setting
        elif not _contains_phrase(setting, location):
            detail = setting
    if not location:
        location = _one_line(scene.heading)
    asset = next((a for a in locations if _norm(a.name) == _norm(location)), None)
    if asset is None:
        asset = next((a for a in locations if _contains_phrase(location, a.name)), None)
    return _Place(int_ext, _clause(location), _clause(detail), _clause(time), asset)


_INT_EXT_WORDS = {"INT": "interior", "EXT": "exterior", "INT/EXT": "interior and exterior"}

# Time of day -> the light it implies. Screenplay times that say nothing about light
# (CONTINUOUS, LATER, SAME) give none: the previous shot's light carries over.
_LIGHT = (
    ("dawn", "dawn, first low light"),
    ("sunrise", "sunrise, low warm sun"),
    ("morning", "morning light"),
    ("midday", "midday, high hard sun"),
    ("noon", "midday, high hard sun"),
    ("afternoon", "afternoon light"),
    ("sunset", "sunset, low warm light"),
    ("golden hour", "golden hour, low warm light"),
    ("dusk", "dusk, fading blue light"),
    ("twilight", "twilight, fading blue light"),
    ("evening", "evening, fading light"),
    ("magic hour", "golden hour, low warm light"),
    ("night", "night, artificial and moon light"),
    ("day", "daylight"),
)


def _light(time_of_day: str) -> str:
    text = _norm(time_of_day)
    for key, light in _LIGHT:
        if _contains_phrase(text, key):
            return light
    return ""


# --------------------------------------------------------------------------- dialogue

# 'NAME: line', 'NAME (V.O.): line', 'NAME (V.O.) (beat): line' (the breakdown's labels).
_SPEECH_RE = re.compile(
    r"^(?P<name>[^:()\"]{1,48}?)\s*(?:\((?P<ext>[^)]*)\))?\s*(?:\((?P<paren>[^)]*)\)\s*)?:"
    r"\s*(?P<line>.*)$"
)
_PAREN_RE = re.compile(r"^\((?P<how>[^)]*)\)\s*(?P<rest>.*)$")
_EXTENSIONS = {
    "V.O.": "voice-over",
    "VO": "voice-over",
    "O.S.": "off-screen",
    "OS": "off-screen",
    "O.C.": "off-camera",
    "OC": "off-camera",
}


@dataclass(frozen=True)
class Speech:
    """One speech of a shot's dialogue: who, how (extension / parenthetical), what."""

    speaker: str
    delivery: str
    line: str


def parse_dialogue(dialogue: str) -> tuple[Speech, ...]:
    """``"MIA: line"`` per speech -> speeches. A line without ``NAME:`` continues the
    previous speech; before any speaker it is an unattributed voice."""
    speeches: list[Speech] = []
    for raw in dialogue.splitlines():
        raw = _one_line(raw)
        if not raw:
            continue
        match = _SPEECH_RE.match(raw)
        if match and match.group("line").strip():
            how: list[str] = []
            ext = _one_line(match.group("ext") or "").upper()
            if ext and ext not in ("CONT'D", "CONT’D", "CONT"):
                how.append(_EXTENSIONS.get(ext, ext.lower()))
            if _clause(match.group("paren") or ""):
                how.append(_clause(match.group("paren")))
            line = match.group("line").strip()
            paren = _PAREN_RE.match(line)
            if paren and paren.group("rest"):
                how.append(_clause(paren.group("how")))
                line = paren.group("rest")
            speeches.append(Speech(_clause(match.group("name")), ", ".join(how), line))
        elif speeches:
            last = speeches[-1]
            speeches[-1] = Speech(last.speaker, last.delivery, f"{last.line} {raw}")
        else:
            speeches.append(Speech("", "", raw))
    return tuple(speeches)


def _quoted(line: str) -> str:
    # Straight double quotes delimit the line in the Audio section, so inner ones become
    # single quotes and the prompt stays parseable.
    return '"' + _one_line(line).replace('"', "'") + '"'


# --------------------------------------------------------------------------- prompts


def _frame_prompt(
    shot: Shot, scene: Scene, style: StylePack | None, assets: Sequence[PromptAsset]
) -> str:
    framing, angle = camera_words(shot.camera)
    parts = [_cap(f"{framing}, {angle}.")]

    groups: dict[str, list[ShotCharacter]] = {"primary": [], "secondary": [], "background": []}
    for character in _ordered_characters(shot):
        groups[character.prominence].append(character)
    for prominence, members in groups.items():
        for index, character in enumerate(members):
            place = _placement(prominence, index, len(members))
            parts.append(f"{_cap(place)}: {_character_text(character.name, assets)}.")

    place = _place(shot, scene, assets)
    time = place.time
    setting = [_INT_EXT_WORDS.get(place.int_ext, ""), _display_name(place.location)]
    if place.asset is not None and _clause(place.asset.description):
        setting[-1] += f" ({_clause(place.asset.description)}"
        tags = _tags(place.asset)
        setting[-1] += f"; {', '.join(tags)})" if tags else ")"
    setting.append(place.detail)
    light = _light(time)
    if time and not (light and f"{_norm(light)} ".startswith(f"{_norm(time)} ")):
        setting.append(time.lower())
    if light:
        setting.append(light)
    parts.append("Setting: " + ", ".join(s for s in setting if s) + ".")

    props = _shot_props(shot, assets)
    if props:
        parts.append("Props: " + "; ".join(_asset_text(p) for p in props) + ".")
    if _one_line(shot.action):
        parts.append("Action: " + _sentence(shot.action))
    if style is not None:
        parts.append(_style_text(style))
    return " ".join(parts)


def _placement(prominence: str, index: int, count: int) -> str:
    depth = {"primary": "foreground", "secondary": "mid-ground", "background": "background"}[
        prominence
    ]
    if prominence != "primary" or count == 1:
        return depth + (" centre" if prominence == "primary" else "")
    sides = ("left", "right") if count == 2 else ("left", "centre", "right")
    return f"{depth} {sides[index]}" if index < len(sides) else depth


def _character_text(name: str, assets: Sequence[PromptAsset]) -> str:
    asset = _character_asset(name, assets)
    text = _display_name(name)
    if asset is None:
        return text
    return _asset_text(asset, label=text)


def _asset_text(asset: PromptAsset, *, label: str | None = None) -> str:
    text = label or _display_name(asset.name)
    details = [_clause(asset.description)] if _clause(asset.description) else []
    tags = _tags(asset)
    if tags:
        details.append("condition: " + ", ".join(tags))
    return f"{text} ({'; '.join(details)})" if details else text


# Palette hex -> a colour name image models know. Nearest by RGB distance; ties go to the
# earlier entry, so the name is deterministic.
_COLOUR_NAMES = (
    ("black", (0, 0, 0)),
    ("charcoal", (54, 69, 79)),
    ("slate grey", (112, 128, 144)),
    ("grey", (128, 128, 128)),
    ("silver", (192, 192, 192)),
    ("white", (255, 255, 255)),
    ("ivory", (255, 255, 240)),
    ("cream", (255, 253, 208)),
    ("beige", (222, 200, 160)),
    ("tan", (210, 180, 140)),
    ("brown", (139, 69, 19)),
    ("maroon", (128, 0, 0)),
    ("crimson", (220, 20, 60)),
    ("red", (255, 0, 0)),
    ("coral", (255, 127, 80)),
    ("orange", (255, 140, 0)),
    ("amber", (255, 191, 0)),
    ("gold", (212, 175, 55)),
    ("yellow", (255, 230, 0)),
    ("olive", (128, 128, 0)),
    ("lime", (140, 230, 40)),
    ("green", (0, 128, 0)),
    ("forest green", (34, 85, 34)),
    ("teal", (0, 128, 128)),
    ("cyan", (0, 210, 230)),
    ("sky blue", (135, 206, 235)),
    ("blue", (0, 70, 220)),
    ("navy", (20, 30, 90)),
    ("indigo", (75, 0, 130)),
    ("violet", (140, 80, 200)),
    ("magenta", (230, 0, 180)),
    ("pink", (255, 170, 200)),
)


def colour_name(hex_colour: str) -> str:
    """'#1B2A41' -> 'navy': the nearest named colour."""
    value = hex_colour.lstrip("#")
    rgb = tuple(int(value[i : i + 2], 16) for i in (0, 2, 4))
    return min(
        _COLOUR_NAMES,
        key=lambda item: sum((a - b) ** 2 for a, b in zip(item[1], rgb, strict=True)),
    )[0]


def _style_text(style: StylePack) -> str:
    bits = [f"Style: {_clause(style.name)}"]
    tags = [_clause(t) for t in style.tags if _clause(t)]
    if tags:
        bits.append(", ".join(tags))
    for label, value in (
        ("lighting", style.lighting),
        ("lens", style.lens),
        ("grain", style.grain),
    ):
        if _clause(value):
            bits.append(f"{label}: {_clause(value)}")
    if style.palette:
        bits.append("palette: " + ", ".join(f"{colour_name(c)} {c.upper()}" for c in style.palette))
    return "; ".join(bits) + "."


def _video_prompt(shot: Shot, assets: Sequence[PromptAsset]) -> str:
    parts = [f"{_seconds(shot.duration_s)} seconds.", move_words(shot.movement)]
    names = [_display_name(c.name) for c in _ordered_characters(shot)]
    if names:
        parts.append("Characters: " + ", ".join(names) + ".")
    sentences = [s for s in _SENTENCE_RE.split(_one_line(shot.action)) if s]
    if len(sentences) == 1:
        parts.append("Action: " + _sentence(sentences[0]))
    elif sentences:
        # Beats: the action's sentences spread evenly over the shot, so the model paces them.
        step = shot.duration_s / len(sentences)
        beats = [
            f"{_seconds(round(i * step, 1))}-{_seconds(round((i + 1) * step, 1))} s: {_sentence(s)}"
            for i, s in enumerate(sentences)
        ]
        parts.append("Action beats: " + " ".join(beats))

    audio = [_sentence(_cap(_one_line(s))) for s in shot.sfx if _one_line(s)]
    for speech in parse_dialogue(shot.dialogue):
        audio.append(_speech_text(speech, assets))
    if audio:
        parts.append("Audio: " + " ".join(audio))
    return " ".join(parts)


def _speech_text(speech: Speech, assets: Sequence[PromptAsset]) -> str:
    if not speech.speaker:
        return f"A voice speaks: {_quoted(speech.line)}"
    how = [speech.delivery] if speech.delivery else []
    asset = _character_asset(speech.speaker, assets)
    if asset is not None and _clause(asset.voice_profile):
        how.append("voice: " + _clause(asset.voice_profile))
    manner = f" ({'; '.join(how)})" if how else ""
    return f"{_display_name(speech.speaker)} speaks{manner}: {_quoted(speech.line)}"


NEGATIVE_PROMPT = (
    "text, captions, subtitles, watermark, logo, signature, speech bubbles, split screen, "
    "extra limbs, extra fingers, deformed hands, distorted face, duplicate person, "
    "identity change, blurry, lowres, jpeg artifacts, style drift"
)


def _system_prompt(
    shot: Shot,
    style: StylePack | None,
    *,
    frame_key: str,
    video_key: str,
    previous_shot_id: str | None,
) -> str:
    seconds = _seconds(shot.duration_s)
    lines = [
        f"System scaffold for shot {shot.id} (system-owned, not editable).",
        f"The frame prompt drives the anchor frames (image model: {frame_key}); the video "
        f"prompt drives the {seconds}-second clip (video model: {video_key}).",
    ]
    if shot.start_frame_only:
        lines.append(
            "Start-frame-only shot: generate the START frame only; no end frame is generated. "
            "The video model animates forward from the start frame alone and invents the end "
            "state from the video prompt."
        )
    else:
        lines.append(
            "Generate a START frame and an END frame. The start frame is the clip's first "
            f"frame; the end frame shows the same shot {seconds} seconds later, after the "
            "action and camera move. The video interpolates between the two."
        )
    lines.append(
        "These images are anchor frames for a video shot, not standalone illustrations: "
        "compose for the whole shot."
    )
    if previous_shot_id:
        lines.append(
            f"Continuity: the start frame continues from the end frame of shot "
            f"{previous_shot_id}; keep positions, wardrobe, props, light and condition tags "
            "consistent unless this shot changes them."
        )
    else:
        lines.append(
            "Continuity: the start frame continues from the previous scene's final frame "
            "when there is one; keep wardrobe, props and condition tags consistent."
        )
    names = [_display_name(c.name) for c in _ordered_characters(shot)]
    if names:
        lines.append(
            "Identity: keep " + ", ".join(names) + " identical to their reference images "
            "(face, hair, build, costume) in every frame."
        )
    if style is not None:
        lines.append(
            f'Style: match the locked style "{_clause(style.name)}" in every frame; no drift '
            "toward another look."
        )
    else:
        lines.append("Style: no style is locked; keep one consistent look across the scene.")
    if shot.continuity_flags:
        lines.append(
            "Continuity flags: " + "; ".join(_clause(f) for f in shot.continuity_flags) + "."
        )
    lines.append(
        "Video: animate only what the video prompt describes, keep the anchor frames' "
        "composition, lip-sync speech to the named speaker, no on-screen text."
    )
    lines.append(f"Negative prompt: {NEGATIVE_PROMPT}.")
    if not TARGET_MODELS[frame_key].negative_prompt:
        lines.append(f"{frame_key} ignores negative prompts: state the constraints positively.")
    return "\n".join(lines)


def model_tags(shot: Shot, *, frame_model: str = "sdxl") -> tuple[str, ...]:
    """The shot's frame requirement, then its image model and compatible video models."""
    tags = [
        "start-frame-only" if shot.start_frame_only else "start-and-end-frames",
        _target(frame_model, "frame").key,
        *compatible_video_models(shot),
    ]
    return tuple(dict.fromkeys(tags))


def prompt_basis(
    shot: Shot,
    scene: Scene,
    style: StylePack | None,
    assets: Sequence[PromptAsset],
    *,
    frame_model: str,
    video_model: str,
    previous_shot_id: str | None = None,
) -> str:
    """sha256 of every input that feeds the prompts, normalised so input order does not
    matter (asset list order, condition-tag order, character order within a prominence)."""
    shot_data = shot.model_dump(mode="json")
    shot_data["characters"] = [c.model_dump(mode="json") for c in _ordered_characters(shot)]
    data = {
        "template": PROMPT_TEMPLATE_VERSION,
        "shot": shot_data,
        "scene": {
            "id": scene.id,
            "heading": scene.heading,
            "int_ext": scene.int_ext.value,
            "location": scene.location,
            "time_of_day": scene.time_of_day,
        },
        "style": None if style is None else style.model_dump(mode="json"),
        "assets": [{**asdict(a), "condition_tags": _tags(a)} for a in _ordered_assets(assets)],
        "frame_model": frame_model,
        "video_model": video_model,
        "previous_shot_id": previous_shot_id,
    }
    return sha256_hex(canonical_json(data))


def assemble_prompt_set(
    shot: Shot,
    scene: Scene,
    style: StylePack | None,
    assets: Sequence[PromptAsset],
    *,
    frame_model: str = "sdxl",
    video_model: str | None = None,
    previous_shot_id: str | None = None,
) -> PromptSet:
    """The prompt set of one shot. ``video_model`` None picks the shot's first compatible
    video model; ``previous_shot_id`` names the shot whose end frame this one continues."""
    frame_key = _target(frame_model, "frame").key
    video_key = _video_key(shot, video_model)
    return PromptSet(
        shot_id=shot.id,
        frame_prompt=_frame_prompt(shot, scene, style, assets),
        video_prompt=_video_prompt(shot, assets),
        system_prompt=_system_prompt(
            shot,
            style,
            frame_key=frame_key,
            video_key=video_key,
            previous_shot_id=previous_shot_id,
        ),
        model_tags=model_tags(shot, frame_model=frame_key),
        basis=prompt_basis(
            shot,
            scene,
            style,
            assets,
            frame_model=frame_key,
            video_model=video_key,
            previous_shot_id=previous_shot_id,
        ),
    )


def assemble_scene(
    shots: Sequence[Shot],
    scene: Scene,
    style: StylePack | None,
    assets: Sequence[PromptAsset] | Mapping[str, Sequence[PromptAsset]],
    *,
    frame_model: str = "sdxl",
    video_model: str | None = None,
    saved: Sequence[PromptSet] = (),
) -> tuple[PromptSet, ...]:
    """Prompt sets for a scene's shots, in shot order.

    ``assets`` is the scene's asset list, or a mapping shot id -> that shot's assets.
    ``saved`` prompt sets (by shot id) are merged in with ``merge_with_saved``, so manual
    edits survive re-assembly.
    """
    by_id = {p.shot_id: p for p in saved}
    result: list[PromptSet] = []
    previous: str | None = None
    for shot in shots:
        shot_assets = assets.get(shot.id, ()) if isinstance(assets, Mapping) else assets
        assembled = assemble_prompt_set(
            shot,
            scene,
            style,
            shot_assets,
            frame_model=frame_model,
            video_model=video_model,
            previous_shot_id=previous,
        )
        result.append(merge_with_saved(assembled, by_id.get(shot.id)))
        previous = shot.id
    return tuple(result)


# --------------------------------------------------------------------------- edits


def merge_with_saved(assembled: PromptSet, saved: PromptSet | None) -> PromptSet:
    """Re-assembled prompts, keeping the user's edits.

    Same basis: the saved edits stay as they are. Changed basis: the new prompts win and an
    edit the user had made moves to ``previous_*_edit`` so both can be compared (an older
    unresolved one is kept). The system prompt and model tags are always the assembled ones.
    """
    if saved is None or saved.shot_id != assembled.shot_id:
        return assembled
    if saved.basis == assembled.basis:
        return assembled.model_copy(
            update={
                "frame_prompt": saved.frame_prompt
                if saved.frame_edited
                else assembled.frame_prompt,
                "video_prompt": saved.video_prompt
                if saved.video_edited
                else assembled.video_prompt,
                "frame_edited": saved.frame_edited,
                "video_edited": saved.video_edited,
                "previous_frame_edit": saved.previous_frame_edit,
                "previous_video_edit": saved.previous_video_edit,
            }
        )
    return assembled.model_copy(
        update={
            "previous_frame_edit": saved.frame_prompt
            if saved.frame_edited
            else saved.previous_frame_edit,
            "previous_video_edit": saved.video_prompt
            if saved.video_edited
            else saved.previous_video_edit,
        }
    )


def apply_edit(
    prompt_set: PromptSet,
    *,
    frame_prompt: str | None = None,
    video_prompt: str | None = None,
    system_prompt: str | None = None,
) -> PromptSet:
    """A manual edit of the frame and/or video prompt; marks it edited and resolves any kept
    previous edit of that prompt. The system scaffold is system-owned: editing it is refused."""
    if system_prompt is not None:
        raise BadInput(
            "the system scaffold prompt is system-owned and cannot be edited; "
            "edit the frame or the video prompt instead"
        )
    update: dict[str, object] = {}
    for kind, text in (("frame", frame_prompt), ("video", video_prompt)):
        if text is None:
            continue
        if not text.strip():
            raise BadInput(
                f"the {kind} prompt cannot be empty; re-assemble the prompts to get the "
                "generated text back"
            )
        text = text.strip()
        current = getattr(prompt_set, f"{kind}_prompt")
        if text == current and not getattr(prompt_set, f"{kind}_edited"):
            continue
        update[f"{kind}_prompt"] = text
        update[f"{kind}_edited"] = True
        update[f"previous_{kind}_edit"] = None
    return prompt_set.model_copy(update=update) if update else prompt_set


# --------------------------------------------------------------------------- sanity checker


@dataclass(frozen=True)
class PromptWarning:
    """A sanity-check finding: advisory, never blocks."""

    shot_id: str
    prompt: PromptKind
    code: str
    message: str


WARNING_CODES = (
    "too_long",
    "verbose_video",
    "visual_leak",
    "dialogue_in_frame",
    "missing_character_asset",
    "missing_prop_asset",
    "missing_style",
    "empty_shot",
    "edit_drops_character",
    "model_mismatch",
)

# Function words never count as visual descriptors.
_STOPWORDS = frozenset(
    """a an and are as at be been but by for from had has have he her hers him his i in into
    is it its me my no not of off on once one only onto or our out over she so than that the
    their them then there these they this those through to too two under until up upon us
    very was we were what when where which while who whom why will with within without you
    your all any both each few more most other some such own same just also after before
    again against about above below between during here now can could would should may
    might must shall do does did done being get gets got like still ever""".split()
)

# Generic look words (light, lens, colour, render quality) that belong in frame prompts and
# not in video prompts, in addition to whatever the style and assets say.
VISUAL_WORDS = frozenset(
    """cinematic photorealistic hyperrealistic realistic stylized stylised illustration
    painterly anime cartoon render rendered octane unreal hdr bokeh focus
    lens lenses anamorphic telephoto fisheye aperture 35mm 50mm 85mm grain
    grainy film kodak portra lighting lit backlit backlight rim softbox chiaroscuro
    volumetric moody noir neon palette colour color colours colors hue hues saturated
    desaturated monochrome sepia pastel vibrant muted contrast highlights
    shadows silhouette glow glowing haze hazy teal orange amber gold golden crimson red blue
    green yellow purple violet magenta pink cyan navy black white grey gray silver brown
    beige tan ivory cream charcoal maroon olive indigo coral detailed intricate ultra
    masterpiece texture textured matte glossy""".split()
)

# Words the video template writes itself: never a leak even if a description uses them.
_VIDEO_TEMPLATE_WORDS = frozenset(
    _words(
        " ".join(words for words, _ in MOVES.values())
        + " seconds characters action beats audio speaks voice a voice speaks s "
        + " ".join(_EXTENSIONS.values())
    )
)


def _descriptor_words(text: str) -> set[str]:
    return {w for w in _words(text) if (len(w) >= 3 or w.startswith("#")) and w not in _STOPWORDS}


def visual_descriptors(style: StylePack | None, assets: Sequence[PromptAsset]) -> frozenset[str]:
    """Look words a video prompt must not restate: the style's name, description, tags,
    lighting, lens, grain and palette (hex and colour names), every asset's description
    and condition tags. Character names are excluded (a video prompt may name who acts),
    as are the video template's own words and function words."""
    words: set[str] = set()
    if style is not None:
        for text in (
            style.name,
            style.description,
            style.lighting,
            style.lens,
            style.grain,
            *style.tags,
        ):
            words |= _descriptor_words(text)
        for colour in style.palette:
            words.add(colour.lower())
            words |= _descriptor_words(colour_name(colour))
    for asset in assets:
        words |= _descriptor_words(asset.description)
        for tag in asset.condition_tags:
            words |= _descriptor_words(tag)
    names = {w for a in assets if a.kind == "character" for w in _words(a.name)}
    return frozenset(words - names - _VIDEO_TEMPLATE_WORDS)


def _shot_words(shot: Shot, assets: Sequence[PromptAsset]) -> set[str]:
    """Words the video prompt may carry because the shot itself says them: action,
    dialogue, SFX, character names and the speakers' voice profiles (audio, not look)."""
    text = [shot.action, shot.dialogue, *shot.sfx, *(c.name for c in shot.characters)]
    for speech in parse_dialogue(shot.dialogue):
        asset = _character_asset(speech.speaker, assets) if speech.speaker else None
        if asset is not None:
            text.append(asset.voice_profile)
    return set(_words(" ".join(text)))


def leaked_descriptors(
    video_prompt: str, shot: Shot, style: StylePack | None, assets: Sequence[PromptAsset]
) -> tuple[str, ...]:
    """Visual descriptors (style, assets, generic look words) in a video prompt that the
    shot's own action, dialogue and SFX do not already say, sorted."""
    vocabulary = (visual_descriptors(style, assets) | VISUAL_WORDS) - _VIDEO_TEMPLATE_WORDS
    found = set(_words(video_prompt)) & vocabulary
    return tuple(sorted(found - _shot_words(shot, assets)))


def _unlisted_props(shot: Shot, assets: Sequence[PromptAsset]) -> list[str]:
    """Capitalised nouns in the action (the screenplay convention for props) that match no
    asset, character, speaker or SFX. A heuristic: a capitalised sound (JANGLES) that is not
    in the shot's SFX list is reported too — it is only a warning."""
    known = set(_words(" ".join(c.name for c in shot.characters)))
    known |= {w for s in parse_dialogue(shot.dialogue) for w in _words(s.speaker)}
    known |= set(_words(" ".join(shot.sfx)))
    known |= {w for a in assets if a.kind == "character" for w in _words(a.name)}
    names = [_strip_article(a.name) for a in assets]
    found: list[str] = []
    for run in CAPS_RUN.findall(shot.action):
        words = _words(run)
        if not words or run.upper() in NOT_PROPS or all(w.upper() in NOT_PROPS for w in words):
            continue
        if len(words) == 1 and run.upper() in SOUNDS:
            continue  # onomatopoeia ('a loud BANG') is a sound, not an object
        if set(words) & known:
            continue
        norm = " ".join(words)
        if any(
            n and (n == norm or f" {n} " in f" {norm} " or f" {norm} " in f" {n} ") for n in names
        ):
            continue
        if run not in found:
            found.append(run)
    return found


def _mentions(prompt: str, name: str) -> bool:
    words = _norm(name).split()
    if not words:
        return True
    return _contains_phrase(prompt, name) or (len(words) > 1 and _contains_phrase(prompt, words[0]))


def check_prompt_set(
    prompt_set: PromptSet,
    shot: Shot,
    *,
    style: StylePack | None,
    assets: Sequence[PromptAsset],
    frame_model: str = "sdxl",
    video_model: str | None = None,
) -> tuple[PromptWarning, ...]:
    """Warnings for one prompt set (advisory; the stage never blocks on them), in a fixed
    order: length, verbosity, leaks, missing inputs, edits, model fit."""
    sid = prompt_set.shot_id
    frame_target = _target(frame_model, "frame")
    video_key = _video_key(shot, video_model)
    video_target = TARGET_MODELS[video_key]
    warnings: list[PromptWarning] = []

    def warn(prompt: PromptKind, code: str, message: str) -> None:
        warnings.append(PromptWarning(sid, prompt, code, message))

    frame_words = _count_words(prompt_set.frame_prompt)
    video_words = _count_words(prompt_set.video_prompt)
    for kind, target, count in (
        ("frame", frame_target, frame_words),
        ("video", video_target, video_words),
    ):
        if target.max_words is not None and count > target.max_words:
            warn(
                kind,
                "too_long",
                f"the {kind} prompt has {count} words; {target.key} reads about "
                f"{target.max_words} well ({target.note}); shorten it",
            )

    # Spoken lines are the video prompt's job, so only its non-dialogue words are compared.
    unspoken = _count_words(re.sub(r'"[^"]*"', " ", prompt_set.video_prompt))
    if unspoken > 1.5 * max(frame_words, 1) and unspoken > 20:
        warn(
            "video",
            "verbose_video",
            f"the video prompt ({unspoken} words besides dialogue) is much longer than the "
            f"frame prompt ({frame_words}); the frames carry the look, the video prompt "
            "should carry motion, dialogue and sound",
        )
    leaked = leaked_descriptors(prompt_set.video_prompt, shot, style, assets)
    if leaked:
        warn(
            "video",
            "visual_leak",
            "the video prompt restates visual descriptors ("
            + ", ".join(leaked[:8])
            + "); the anchor frames already encode the look, keep it to motion and sound",
        )
    frame_text = f" {_norm(prompt_set.frame_prompt)} "
    for speech in parse_dialogue(shot.dialogue):
        line = _norm(speech.line)
        if len(line.split()) >= 3 and f" {line} " in frame_text:
            warn(
                "frame",
                "dialogue_in_frame",
                f"the frame prompt carries the dialogue line {_quoted(speech.line)}; "
                "images cannot speak, move it to the video prompt",
            )

    for character in _ordered_characters(shot):
        asset = _character_asset(character.name, assets)
        if asset is None:
            warn(
                "frame",
                "missing_character_asset",
                f"{_display_name(character.name)} has no asset in this scene's visual "
                "state; add one in stage 8 so the frames keep the same face",
            )
        elif not _clause(asset.description):
            warn(
                "frame",
                "missing_character_asset",
                f"{_display_name(character.name)} has an empty description; describe the "
                "character in stage 5 or 8",
            )
    for prop in _unlisted_props(shot, assets):
        warn(
            "frame",
            "missing_prop_asset",
            f"the action names {prop} but no asset describes it; add it in stage 5 or 8 "
            "(or ignore this if it is a sound, not an object)",
        )
    if style is None:
        warn(
            "frame",
            "missing_style",
            "no visual style is locked; lock one in stage 5 so every frame shares a look",
        )
    if not _one_line(shot.action) and not parse_dialogue(shot.dialogue):
        warn(
            "video",
            "empty_shot",
            f"shot {shot.id} has neither action nor dialogue; the clip has nothing to animate",
        )

    for kind, edited, text in (
        ("frame", prompt_set.frame_edited, prompt_set.frame_prompt),
        ("video", prompt_set.video_edited, prompt_set.video_prompt),
    ):
        if not edited:
            continue
        dropped = [
            _display_name(c.name) for c in _ordered_characters(shot) if not _mentions(text, c.name)
        ]
        if dropped:
            warn(
                kind,
                "edit_drops_character",
                f"the edited {kind} prompt no longer mentions {', '.join(dropped)}, who "
                "is in the shot",
            )

    compatible = compatible_video_models(shot)
    if video_key not in compatible:
        need = "a start frame only" if shot.start_frame_only else "a start and an end frame"
        warn(
            "video",
            "model_mismatch",
            f"shot {shot.id} has {need} but {video_key} is not made for that; "
            f"use {' or '.join(compatible)}",
        )
    return tuple(warnings)
