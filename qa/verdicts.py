"""One verdict semantics: PASS / WARN / FAIL from one thresholds file, everywhere.

The app, the CLI and the notebooks all call :func:`load_thresholds`, :func:`evaluate` and
:func:`combine`; nothing else decides whether a figure is good enough.

Semantics of one metric (``direction`` says which way is good):

- ``higher``: ``value < fail`` → FAIL; ``fail <= value < warn`` → WARN; ``value >= warn`` → PASS.
- ``lower``:  ``value > fail`` → FAIL; ``warn < value <= fail`` → WARN; ``value <= warn`` → PASS.

So a value *equal to the warn limit passes* and a value *equal to the fail limit warns*:
a limit is the last acceptable value of its band. (When ``warn == fail`` a value on the limit
passes and anything past it fails.) A known metric whose value is ``None`` or NaN was not
measured: that is a WARN, never a silent PASS. A metric the thresholds file does not know is
ignored, with a note on the verdict.

A group's verdict (a scene, a film, a run) is the worst of its parts, with every part's
reasons listed and each prefixed by that part's subject.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from studio.ports import QaVerdict

DEFAULT_THRESHOLDS = Path(__file__).resolve().parents[1] / "data" / "qa_thresholds.toml"


class Level(IntEnum):
    """PASS < WARN < FAIL, so ``max`` of levels is the worst."""

    PASS = 0
    WARN = 1
    FAIL = 2

    @classmethod
    def parse(cls, value: Level | str | int) -> Level:
        """A level from itself, its name (any case) or its number."""
        if isinstance(value, Level):
            return value
        if isinstance(value, str):
            try:
                return cls[value.strip().upper()]
            except KeyError:
                raise ValueError(f"unknown QA level {value!r}: use PASS, WARN or FAIL") from None
        return cls(int(value))


def badge(level: Level | str | int) -> Literal["PASS", "WARN", "FAIL"]:
    """The level's display word: "PASS", "WARN" or "FAIL"."""
    name = Level.parse(level).name
    assert name in ("PASS", "WARN", "FAIL")
    return name  # type: ignore[return-value]


# --------------------------------------------------------------------------- thresholds


class ThresholdsError(ValueError):
    """The thresholds file is missing or broken; the message names the file and the metric."""


class MetricThreshold(BaseModel):
    """One ``[metrics.NAME]`` table of the thresholds file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    direction: Literal["higher", "lower"]
    warn: float
    fail: float
    unit: str = ""
    description: str = ""
    source: str = ""

    @model_validator(mode="after")
    def _limits_in_order(self) -> MetricThreshold:
        if not (math.isfinite(self.warn) and math.isfinite(self.fail)):
            raise ValueError(f"warn and fail must be finite numbers (warn {self.warn}, fail {self.fail})")
        if self.direction == "higher" and self.fail > self.warn:
            raise ValueError(
                f"with direction 'higher' the fail limit must not be above the warn limit"
                f" (warn {self.warn}, fail {self.fail})"
            )
        if self.direction == "lower" and self.fail < self.warn:
            raise ValueError(
                f"with direction 'lower' the fail limit must not be below the warn limit"
                f" (warn {self.warn}, fail {self.fail})"
            )
        return self

    def level(self, value: float) -> Level:
        """The level of a measured (non-NaN) value; see the module docstring."""
        if self.direction == "higher":
            if value < self.fail:
                return Level.FAIL
            return Level.WARN if value < self.warn else Level.PASS
        if value > self.fail:
            return Level.FAIL
        return Level.WARN if value > self.warn else Level.PASS


class Thresholds(BaseModel):
    """Every metric's limits, from one TOML file (``[metrics.NAME]`` tables)."""

    model_config = ConfigDict(frozen=True)

    metrics: dict[str, MetricThreshold]
    path: str = ""

    def __contains__(self, name: object) -> bool:
        return name in self.metrics

    def __getitem__(self, name: str) -> MetricThreshold:
        return self.metrics[name]

    def names(self) -> list[str]:
        return sorted(self.metrics)


def load_thresholds(path: str | Path | None = None) -> Thresholds:
    """Read and validate a thresholds file (default: the repository's ``data/qa_thresholds.toml``).

    Raises :class:`ThresholdsError` naming the file and, where one is at fault, the metric.
    """
    source = Path(path) if path is not None else DEFAULT_THRESHOLDS
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ThresholdsError(f"QA thresholds file {source} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ThresholdsError(f"cannot read the QA thresholds file {source}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ThresholdsError(f"QA thresholds file {source} is not valid TOML: {exc}") from exc
    return thresholds_from_dict(raw, source=str(source))


def thresholds_from_dict(raw: Mapping[str, Any], *, source: str = "<dict>") -> Thresholds:
    """Validate already-parsed thresholds (other top-level tables are allowed and ignored)."""
    tables = raw.get("metrics")
    if not isinstance(tables, Mapping) or not tables:
        raise ThresholdsError(f"QA thresholds file {source} has no [metrics.NAME] tables")
    metrics: dict[str, MetricThreshold] = {}
    for name, table in tables.items():
        if not isinstance(table, Mapping):
            raise ThresholdsError(
                f"QA thresholds file {source}, metric {name!r}: expected a [metrics.{name}] table"
            )
        try:
            metrics[name] = MetricThreshold.model_validate(dict(table))
        except ValidationError as exc:
            problems = "; ".join(
                (".".join(str(p) for p in err["loc"]) + ": " if err["loc"] else "") + err["msg"]
                for err in exc.errors()
            )
            raise ThresholdsError(
                f"QA thresholds file {source}, metric {name!r}: {problems}"
            ) from None
    return Thresholds(metrics=metrics, path=source)


# --------------------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class Finding:
    """One metric judged: its value, level and a sentence saying why."""

    metric: str
    value: float | None
    level: Level
    reason: str
    subject: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "value": self.value,
            "level": self.level.name,
            "reason": self.reason,
            "subject": self.subject,
        }


@dataclass(frozen=True)
class Verdict:
    """A level with the findings behind it; ``reasons`` explain every WARN and FAIL."""

    level: Level
    findings: tuple[Finding, ...] = ()
    reasons: tuple[str, ...] = ()
    subject: str = ""
    notes: tuple[str, ...] = ()

    @property
    def badge(self) -> str:
        return badge(self.level)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (CLI ``--json``, the run log)."""
        return {
            "subject": self.subject,
            "level": self.level.name,
            "reasons": list(self.reasons),
            "notes": list(self.notes),
            "findings": [f.to_dict() for f in self.findings],
        }

    def as_port(self) -> QaVerdict:
        """The ``studio.ports.QaVerdict`` the studio core sees (reasons prefixed by subject)."""
        prefix = f"{self.subject}: " if self.subject else ""
        return QaVerdict(
            level=badge(self.level),
            reasons=tuple(prefix + r for r in self.reasons),
            levels={f.metric: badge(f.level) for f in self.findings},
            metric_reasons={f.metric: f.reason for f in self.findings if f.level > Level.PASS},
        )


def _fmt(value: float, unit: str) -> str:
    text = f"{value:.4g}"
    return f"{text} {unit}" if unit else text


@dataclass(frozen=True)
class Plain:
    """A metric in a filmmaker's words: what is wrong (``problem``), how the figure reads
    (``figure``: "share" as a percentage, "levels", "seconds", "count", "score"; "" shows no
    number, for a yes/no check), and what to do about it (``advice``). Metrics sharing a
    ``problem`` are one finding per subject."""

    problem: str
    advice: str
    figure: str = "score"
    noun: str = ""  # what the number counts, for "share" and "count"


_RERENDER = "Re-render the shot with another seed (stage 11/12); if it persists, check its anchor frames in stage 10."
_UNSTABLE = "the image is unstable from frame to frame: boiling, smearing or breaking up"
PLAIN: dict[str, Plain] = {
    "ssim_mean": Plain(_UNSTABLE, _RERENDER),
    "ssim_min": Plain(_UNSTABLE, _RERENDER),
    "warp_error": Plain(_UNSTABLE, _RERENDER + " Less movement in the video prompt helps."),
    "flicker_luma": Plain("the brightness flickers", _RERENDER, "levels"),
    "flicker_colour": Plain("the colour flickers", _RERENDER, "levels"),
    "frozen_ratio": Plain("the picture freezes", "Re-render the shot: a held frame means the video model stalled.",
                          "share", "of the frames repeat the previous one"),
    "black_ratio": Plain("there are black frames", "Re-render the shot; check that its start and end frames are not "
                         "dark or empty (stage 10).", "share", "of the frames are black"),
    "hard_cuts": Plain("the shot jumps mid-way, like a cut", "Re-render it; if the shot holds two beats, split it "
                       "in stage 7.", "count", "cut"),
    "bookend_similarity": Plain("the cut from the previous shot jumps (framing or colour do not match)",
                                "In stage 10, make this shot's start frame from the previous shot's end frame, or "
                                "keep it if the jump is meant."),
    "continuity_drift": Plain("the start frame drifts from the frame it continues",
                              "In stage 10, regenerate the start frame from the frame it continues."),
    "start_frame_drift": Plain("the start frame does not follow on from the previous shot's end frame",
                               "In stage 10, regenerate the start frame from the previous end frame, or keep it if "
                               "the change is meant."),
    "identity_distance": Plain("the character does not look like their image key",
                               "Regenerate that shot's frames in stage 10; check the image key (stage 5) and the "
                               "scene's visual state (stage 8)."),
    "duration_error_s": Plain("the clip is not the planned length", "Re-render the shot; if the plan changed, "
                              "confirm it again in stage 11.", "seconds"),
    "readable": Plain("the clip or its anchor frames cannot be read (damaged or missing on disk)",
                      "Re-render the shot.", ""),
    "fps_ok": Plain("the frame rate is not the project's", "Re-render the shot at the project's frame rate.", ""),
    "resolution_ok": Plain("the picture size is not the render preset's", "Re-render the shot with its preset.", ""),
    "codec_ok": Plain("the clip is not H.264 video", "Re-render the shot (or re-encode it to H.264).", ""),
    "audio_present": Plain("there is no sound track", "Expected in the animatic; add the sound before the final cut.",
                           ""),
    "semantic_alignment": Plain("the prompts drift from what the script says",
                                "Revise the prompts in stage 9 so each says what its script line says."),
    "semantic_alignment_min": Plain("a shot's prompt says something other than its script line",
                                    "Find the shot in the metric table and revise its prompt in stage 9."),
    "thematic_entropy": Plain("the shots repeat one idea (little variety)",
                              "Vary the coverage in stage 7: angles, inserts, reactions.", "score"),
    "coverage": Plain("some script lines land in no shot", "Add or extend shots in stage 7 so every line is covered.",
                      "share", "of the script lines are in a shot"),
}


def _figure(plain: Plain, value: float, limit: float, direction: str) -> str:
    """The measured figure against the limit it crossed, in the metric's own terms."""
    ok = "at least" if direction == "higher" else "at most"
    if plain.figure == "share":
        return f"{value:.0%} {plain.noun}; {ok} {limit:.0%} is fine"
    if plain.figure == "levels":
        return f"jumps of {value:.3g} levels out of 255; {ok} {limit:g} is fine"
    if plain.figure == "seconds":
        return f"{value:.2f} s off; {ok} {limit:g} s is fine"
    if plain.figure == "count":
        count = round(value)
        return f"{count} {plain.noun}{'' if count == 1 else 's'}; {ok} {round(limit)} is fine"
    if plain.figure == "score":
        return f"score {value:.2f}; {ok} {limit:g} is fine"
    return ""


def plain_reason(metric: str, value: float | None, level: Level, threshold: MetricThreshold) -> str | None:
    """A WARN or FAIL in a filmmaker's words (None for a PASS or a metric without wording)."""
    plain = PLAIN.get(metric)
    if plain is None or level is Level.PASS:
        return None
    if value is None:
        return f"{plain.problem[0].upper()}{plain.problem[1:]}: not measured. {plain.advice}"
    figure = _figure(plain, value, threshold.warn, threshold.direction)  # the line of a PASS
    return f"{plain.problem[0].upper()}{plain.problem[1:]}" + (f" ({figure})" if figure else "") + f". {plain.advice}"


def judge(metric: str, value: float | None, threshold: MetricThreshold, *, subject: str = "") -> Finding:
    """One metric's finding (``None``/NaN → WARN "not measured"). A WARN or FAIL of a metric
    in :data:`PLAIN` is said in a filmmaker's words; others name the metric and its limits
    (with a unit only where one means something: never "bool")."""
    about = f" ({threshold.description})" if threshold.description else ""
    unit = "" if threshold.unit == "bool" else threshold.unit
    number: float | None
    try:
        number = None if value is None else float(value)
    except (TypeError, ValueError):
        return Finding(metric, None, Level.WARN, f"{metric} is not a number ({value!r}){about}", subject)
    if number is None or math.isnan(number):
        reason = plain_reason(metric, None, Level.WARN, threshold) or f"{metric} was not measured{about}"
        return Finding(metric, None, Level.WARN, reason, subject)
    level = threshold.level(number)
    side = "below" if threshold.direction == "higher" else "above"
    shown = "no" if threshold.unit == "bool" and number < 0.5 else "yes" if threshold.unit == "bool" else _fmt(number, unit)
    if level > Level.PASS and (plain := plain_reason(metric, number, level, threshold)):
        reason = plain
    elif level > Level.PASS and threshold.unit == "bool":
        reason = f"{metric}: {shown}{about}"
    elif level is Level.FAIL:
        reason = f"{metric} {shown} is {side} the fail limit {_fmt(threshold.fail, unit)}{about}"
    elif level is Level.WARN:
        reason = f"{metric} {shown} is {side} the warn limit {_fmt(threshold.warn, unit)}{about}"
    else:
        better = "higher" if threshold.direction == "higher" else "lower"
        reason = (
            f"{metric} {shown} is within the warn limit {_fmt(threshold.warn, unit)}"
            f" ({better} is better)"
        )
    return Finding(metric, number, level, reason, subject)


def _one_per_problem(findings: Iterable[Finding]) -> tuple[str, ...]:
    """The WARN and FAIL reasons, each problem once: metrics that say the same thing about a
    subject (SSIM, its minimum and the warp error all mean an unstable image) give the
    worst one's sentence; identical sentences are said once."""
    chosen: dict[str, Finding] = {}
    for finding in findings:
        if finding.level is Level.PASS:
            continue
        plain = PLAIN.get(finding.metric)
        key = f"{finding.subject}\n{plain.problem if plain else finding.reason}"
        if key not in chosen or finding.level > chosen[key].level:
            chosen[key] = finding
    worst_first = sorted(chosen.values(), key=lambda f: -f.level)
    return tuple(dict.fromkeys(f.reason for f in worst_first))


def evaluate(
    metrics: Mapping[str, float | None], thresholds: Thresholds, *, subject: str = ""
) -> Verdict:
    """Judge every known metric; the verdict is the worst finding (PASS when there is none)."""
    findings: list[Finding] = []
    notes: list[str] = []
    for name in sorted(metrics):
        if name not in thresholds:
            notes.append(f"{name} ignored: no thresholds for it in {thresholds.path or 'the thresholds'}")
            continue
        findings.append(judge(name, metrics[name], thresholds[name], subject=subject))
    level = max((f.level for f in findings), default=Level.PASS)
    return Verdict(level, tuple(findings), _one_per_problem(findings), subject, tuple(notes))


def combine(verdicts: Iterable[Verdict | QaVerdict], *, subject: str = "") -> Verdict:
    """The worst of the parts; every part's reasons listed, each prefixed by its subject.

    Accepts the port's ``QaVerdict`` too (its reasons are taken as already prefixed).
    An empty group is a PASS.
    """
    level = Level.PASS
    findings: list[Finding] = []
    reasons: list[str] = []
    notes: list[str] = []
    for part in verdicts:
        part_level = Level.parse(part.level)
        level = max(level, part_level)
        if isinstance(part, QaVerdict):
            reasons.extend(part.reasons)
            continue
        prefix = f"{part.subject}: " if part.subject else ""
        reasons.extend(prefix + r for r in part.reasons)
        notes.extend(prefix + n for n in part.notes)
        findings.extend(part.findings)
    # each finding once: the same sentence about the same subject is said once
    return Verdict(level, tuple(findings), tuple(dict.fromkeys(reasons)), subject, tuple(dict.fromkeys(notes)))
