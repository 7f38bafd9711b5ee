"""Guards for user files: safe names and text decoding, checked before anything is written.

Both functions raise ``BadInput`` with a message that names the file and says what to do,
so the UI can show it as is (SPEC §5: empty, binary, wrongly encoded or huge uploads and
hostile names give a clear message, never a traceback).
"""

from __future__ import annotations

import codecs
import re
import unicodedata

from studio.errors import BadInput

MAX_NAME_BYTES = 255  # the usual file-system limit (ext4, APFS, NTFS) for one path component

# Bidirectional overrides let "evil\u202etxt.exe" display as "evilexe.txt"; they have no
# business in a file name even though they are not control characters in the Cc sense.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

# Magic numbers of the binary formats people most often upload by mistake, with a hint.
_EXPORT_HINT = "export the screenplay as Fountain or plain text and upload that instead"
_MAGIC: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "a PDF document", _EXPORT_HINT),
    (b"\x89PNG\r\n\x1a\n", "a PNG image", "upload it as a reference image, not as text"),
    (b"\xff\xd8\xff", "a JPEG image", "upload it as a reference image, not as text"),
    (b"GIF87a", "a GIF image", "upload it as a reference image, not as text"),
    (b"GIF89a", "a GIF image", "upload it as a reference image, not as text"),
    (b"PK\x03\x04", "a ZIP archive (or a .docx/.odt document)", _EXPORT_HINT),
    (b"PK\x05\x06", "an empty ZIP archive", _EXPORT_HINT),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Word/Office document", _EXPORT_HINT),
    (b"\x1f\x8b", "a gzip archive", "unpack it first"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "unpack it first"),
    (b"Rar!\x1a\x07", "a RAR archive", "unpack it first"),
)

# Control bytes that ordinary text files do contain: tab, newline, carriage return and the
# form feed that PDF-to-text tools put between pages.
_TEXT_CONTROLS = frozenset(b"\t\n\r\x0c")
_MAX_CONTROL_SHARE = 0.10
# Real cp1252 text (French, German, Spanish prose) has a few percent of high bytes; a file
# that is mostly high bytes is binary that merely happens to avoid cp1252's five holes.
_MAX_CP1252_HIGH_SHARE = 0.30
_SNIFF_BYTES = 64 * 1024


def check_filename(name: str) -> str:
    """Return ``name`` if it is a safe single file name, else raise ``BadInput``.

    A safe name is one path component: no separators, no ``.``/``..``, no control
    characters, not starting with ``-`` (it would read as an option to a command-line
    tool), at most 255 bytes of UTF-8. Any other Unicode is fine (``Café Noir.fountain``).
    """
    shown = _show(name)
    if not name or not name.strip():
        raise BadInput("the file name is empty: give the file a name")
    bad = next((c for c in name if unicodedata.category(c) == "Cc" or c in _BIDI_CONTROLS), None)
    if bad is not None:
        raise BadInput(
            f"file name {shown} contains the control character U+{ord(bad):04X}: "
            "rename the file using letters, digits, spaces and punctuation"
        )
    if "/" in name or "\\" in name:
        raise BadInput(
            f"file name {shown} contains a path separator ('/' or '\\'): "
            "upload a single file by its name, without folders"
        )
    if name.strip() in {".", ".."}:
        raise BadInput(f"file name {shown} is not a file name: rename the file")
    if name.startswith("-"):
        raise BadInput(
            f"file name {shown} starts with '-': rename the file so it starts with a letter or digit"
        )
    size = len(name.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        raise BadInput(
            f"file name {shown} is {size} bytes long; the limit is {MAX_NAME_BYTES} bytes: shorten it"
        )
    return name


def decode_text(data: bytes, name: str, *, max_bytes: int) -> str:
    """Decode an uploaded text file to ``str`` with ``\\n`` newlines, or raise ``BadInput``.

    Accepts UTF-8 (with or without BOM), UTF-16/UTF-32 with a BOM, and cp1252 when the
    bytes are valid cp1252 but not valid UTF-8 (older Windows editors). Rejects empty and
    whitespace-only files, files over ``max_bytes``, and binary content (known magic
    numbers, NUL bytes, a high share of control characters).
    """
    shown = _show(name)
    size = len(data)
    if size > max_bytes:
        raise BadInput(
            f"{shown} is {_human(size)} ({size} bytes); the limit is {_human(max_bytes)} "
            f"({max_bytes} bytes): upload a shorter file or split it"
        )
    if size == 0:
        raise BadInput(f"{shown} is empty: choose a file that has text in it")
    # A BOM left inside the text (written twice by some editors) is not content.
    text = _decode(data, shown).removeprefix("\ufeff")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise BadInput(f"{shown} contains only whitespace: choose a file that has text in it")
    return text


def _decode(data: bytes, shown: str) -> str:
    """The text of ``data``, choosing the encoding; raises ``BadInput`` for binary data."""
    # BOMs first: UTF-16 and UTF-32 text is full of NUL bytes, which would read as binary.
    for bom, codec in (
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if data.startswith(bom):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError as exc:
                raise BadInput(
                    f"{shown} starts with a {codec.upper()} byte order mark but is not valid "
                    f"{codec.upper()} text (at byte {exc.start}): save it again as UTF-8"
                ) from None
            _reject_control_heavy([ord(c) for c in text[:_SNIFF_BYTES]], shown)
            return text
    for magic, what, hint in _MAGIC:
        if data.startswith(magic):
            raise BadInput(f"{shown} is {what}, not a text file: {hint}")
    nul = data.find(b"\x00")
    if nul != -1:
        raise BadInput(
            f"{shown} looks binary (it contains a NUL byte at offset {nul}), not a text file: "
            "upload a Fountain (.fountain) or plain-text (.txt) screenplay"
        )
    head = data[:_SNIFF_BYTES]
    _reject_control_heavy(list(head), shown)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    mixed = _mixed_utf8_cp1252(data)
    if mixed is not None:
        return mixed.removeprefix("\ufeff")
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        text = None
    high = sum(b >= 0x80 for b in head)
    if text is not None and high <= _MAX_CP1252_HIGH_SHARE * len(head):
        return text
    byte = data[utf8_error.start]
    raise BadInput(
        f"{shown} is not UTF-8 text (byte 0x{byte:02x} at offset {utf8_error.start} cannot be "
        "decoded) and not Windows-1252 text either: save it as UTF-8 and upload it again"
    )


_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def _cp1252_run(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: bytes that are not UTF-8 are read as Windows-1252 (a byte that
    is neither raises, and the caller refuses the file)."""
    assert isinstance(exc, UnicodeDecodeError)
    return exc.object[exc.start : exc.end].decode("cp1252"), exc.end


codecs.register_error("studio-cp1252-runs", _cp1252_run)


def _mixed_utf8_cp1252(data: bytes) -> str | None:
    """The text of a file mixing UTF-8 and Windows-1252 (pasted together from two editors),
    each run of bytes decoded as what it is, in one pass; None when the file holds no UTF-8
    sequence at all (then it is plain Windows-1252) or a byte is neither."""
    if _UTF8_SEQUENCE.search(data) is None:
        return None
    try:
        return data.decode("utf-8", errors="studio-cp1252-runs")
    except UnicodeDecodeError:
        return None


def _is_odd_control(code: int) -> bool:
    """True for control characters that do not occur in ordinary text files."""
    return (code < 0x20 and code not in _TEXT_CONTROLS) or code == 0x7F


def _reject_control_heavy(codes: list[int], shown: str) -> None:
    """Raise ``BadInput`` when too many of ``codes`` are odd control characters."""
    total = len(codes)
    controls = sum(_is_odd_control(code) for code in codes)
    if total and controls > _MAX_CONTROL_SHARE * total:
        raise BadInput(
            f"{shown} looks binary ({controls} of its first {total} characters are control "
            "characters), not a text file: upload a Fountain (.fountain) or plain-text (.txt) screenplay"
        )


def _show(name: str) -> str:
    """The name quoted for a message, with control characters escaped and length capped."""
    shown = repr(name)
    return shown if len(shown) <= 80 else shown[:60] + "…" + shown[-12:]


def _human(size: int) -> str:
    """A byte count for people: '512 bytes', '3.2 KB', '14.0 MB'."""
    if size < 1024:
        return f"{size} bytes"
    value = size / 1024
    for unit in ("KB", "MB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
