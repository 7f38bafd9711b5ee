"""Screenplay import (stage 1 mode D) and export: Fountain or plain text in, scenes out.

- ``classify``: the Fountain line classifier (fountain.io/syntax), a flat element list;
- ``parse``: ``parse_screenplay`` folds it into ``Scene`` values (``ParsedScript``);
- ``plain``: printed plain-text layouts, detected and converted to Fountain;
- ``fountain_out``: ``to_fountain`` writes scenes back as Fountain;
- ``headings``: ``split_heading``; ``cues``: cue shapes;
- ``asset_sheet``: JSON asset sheets;
- ``limits``: how many scenes and shots a project holds, checked before the work;
- ``fidelity``: agreement with the Fountain peer suites (``studio bench fidelity``).
"""

from studio.headings import split_heading
from studio.screenplay.asset_sheet import ASSET_SHEET_MAX_BYTES, AssetSheetEntry, parse_asset_sheet
from studio.screenplay.fountain_out import to_fountain
from studio.screenplay.parse import ParsedScript, fountain_source, parse_screenplay, same_scenes
from studio.screenplay.plain import looks_like_plain_layout, plain_to_fountain

__all__ = [
    "ASSET_SHEET_MAX_BYTES",
    "AssetSheetEntry",
    "ParsedScript",
    "fountain_source",
    "looks_like_plain_layout",
    "parse_asset_sheet",
    "parse_screenplay",
    "plain_to_fountain",
    "same_scenes",
    "split_heading",
    "to_fountain",
]
