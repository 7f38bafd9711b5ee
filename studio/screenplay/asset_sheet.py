"""JSON asset sheets (stage 1 mode D): ``parse_asset_sheet`` into ``AssetSheetEntry`` values."""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, field_validator

from studio.errors import BadInput
from studio.model import AssetKind, NonEmpty
from studio.uploads import decode_text

ASSET_SHEET_MAX_BYTES = 2 * 1024 * 1024


class AssetSheetEntry(BaseModel):
    """One asset pre-defined by an uploaded JSON asset sheet (stage 1 mode D)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: NonEmpty
    kind: AssetKind
    description: str = ""
    voice_profile: str | None = None

    @field_validator("kind", mode="before")
    @classmethod
    def _kind_any_case(cls, value: object) -> object:
        # "Character" and " PROP " are what people type; the enum values are lower case.
        return value.strip().lower() if isinstance(value, str) else value


class _AssetSheet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assets: list[AssetSheetEntry]


_ENTRIES = TypeAdapter(list[AssetSheetEntry])


def parse_asset_sheet(data: bytes, name: str) -> tuple[AssetSheetEntry, ...]:
    """Parse a JSON asset sheet: ``{"assets": [...]}`` or a bare list of assets.

    Each asset has ``name``, ``kind`` (character, location, prop), optional
    ``description`` and ``voice_profile``. Invalid JSON, a wrong shape, unknown fields and
    repeated assets raise ``BadInput`` naming the file and where the problem is.
    """
    text = decode_text(data, name, max_bytes=ASSET_SHEET_MAX_BYTES)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"{name} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    try:
        if isinstance(raw, list):
            entries = _ENTRIES.validate_python(raw)
        elif isinstance(raw, dict):
            entries = _AssetSheet.model_validate(raw).assets
        else:
            raise BadInput(
                f'{name}: an asset sheet is a JSON object {{"assets": [...]}} or a list of assets'
            )
    except ValidationError as exc:
        problems = [
            _describe_error(error, bare_list=isinstance(raw, list)) for error in exc.errors()
        ]
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise BadInput(
            f"{name}: the asset sheet is invalid: {'; '.join(problems[:3])}{more}"
        ) from None
    seen: set[tuple[AssetKind, str]] = set()
    for entry in entries:
        key = (entry.kind, entry.name.casefold())
        if key in seen:
            raise BadInput(
                f"{name}: the {entry.kind.value} {entry.name!r} is listed twice: keep one entry"
            )
        seen.add(key)
    return tuple(entries)


def _describe_error(error: dict, *, bare_list: bool) -> str:
    """'assets[2].kind: Input should be …' from one pydantic error."""
    path = ""
    for part in ("assets", *error["loc"]) if bare_list else error["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return f"{path or 'the sheet'}: {error['msg']}"
