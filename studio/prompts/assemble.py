"""Assembling a shot's prompt set (frame, video and system prompts) from the shot, the
scene's visual state and the locked style (see the package docstring)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from studio.camera import camera_words, move_words
from studio.caps import in_frame
from studio.headings import split_heading
from studio.model import IntExt, PromptSet, Scene, Shot, ShotCharacter, StylePack
from studio.objects import canonical_json, sha256_hex
from studio.prompts.edits import merge_with_saved
from studio.prompts.targets import TARGET_MODELS, _target, _video_key, compatible_video_models
from studio.prompts.text import (
    _SENTENCE_RE,
    _cap,
    _clause,
    _contains_phrase,
    _display_name,
    _norm,
    _one_line,
    _seconds,
    _sentence,
)

# Bumped when the templates below change, so prompts assembled by an older template get a
# different basis and are re-assembled (with kept edits moved to previous_*_edit).
PROMPT_TEMPLATE_VERSION = 2
PromptKind = Literal["frame", "video"]


PROMPT_LABELS: dict[str, str] = {
    "frame": "Frame prompt: drives the anchor frames (image model)",
    "video": "Video prompt: drives the clip (video model)",
    "system": "System scaffold: system-owned orchestration, not editable",
}


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
