"""The prompt sanity checker: advisory warnings (length, leaks, missing inputs, edits,
model fit); it never blocks."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from studio.camera import MOVES
from studio.caps import CAPS_RUN, NOT_PROPS, SOUNDS
from studio.model import PromptSet, Shot, StylePack
from studio.prompts.assemble import (
    _EXTENSIONS,
    PromptAsset,
    PromptKind,
    _character_asset,
    _ordered_characters,
    _quoted,
    _strip_article,
    colour_name,
    parse_dialogue,
)
from studio.prompts.targets import TARGET_MODELS, _target, _video_key, compatible_video_models
from studio.prompts.text import (
    _clause,
    _contains_phrase,
    _count_words,
    _display_name,
    _norm,
    _one_line,
    _words,
)


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
    asset, character, speaker or SFX, nor screenplay shorthand or onomatopoeia
    (``studio.caps``). A heuristic: another capitalised sound (JANGLES) that is not in the
    shot's SFX list is reported too — it is only a warning."""
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
