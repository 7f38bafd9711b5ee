"""Upload guards: hostile file names and undecodable, binary, empty or huge files."""

from __future__ import annotations

import random

import pytest

from studio.errors import BadInput
from studio.uploads import check_filename, decode_text

LIMIT = 64 * 1024


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "name",
    [
        "script.fountain",
        "Café.fountain",
        "Café Noir.fountain",
        "ZOË & ŁUKASZ (draft 2).txt",
        "the_long_rain.assets.json",
        ".hidden.fountain",
        "a" * 255,
        "é" * 127,  # 254 bytes of UTF-8
    ],
)
def test_safe_names_are_accepted(name):
    assert check_filename(name) == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("../x", "path separator"),
        ("/etc/passwd", "path separator"),
        ("C:\\evil", "path separator"),
        ("dir/file.txt", "path separator"),
        ("a\x00b", "control character U+0000"),
        ("a\nb.txt", "control character U+000A"),
        ("evil\u202etxt.exe", "control character U+202E"),
        ("..", "not a file name"),
        (".", "not a file name"),
        ("-rf", "starts with '-'"),
        ("x" * 300, "300 bytes"),
        ("é" * 128, "256 bytes"),
    ],
)
def test_hostile_names_are_rejected(name, reason):
    with pytest.raises(BadInput, match="file name") as caught:
        check_filename(name)
    assert reason in str(caught.value)


# --------------------------------------------------------------------------- decoding


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"INT. HOUSE - DAY\n", "INT. HOUSE - DAY\n"),
        ("Café Noir\n".encode(), "Café Noir\n"),
        (b"\xef\xbb\xbfINT. CAF\xc3\x89 - DAY", "INT. CAFÉ - DAY"),
        ("\ufeffZOË\nBonjour.".encode("utf-16-le"), "ZOË\nBonjour."),
        ("\ufeffZOË\nBonjour.".encode("utf-16-be"), "ZOË\nBonjour."),
        ("ŁUKASZ\r\nCześć.".encode("utf-16"), "ŁUKASZ\nCześć."),
        ("JOSÉ\nHola.".encode("utf-32"), "JOSÉ\nHola."),
        (b"Caf\xe9 \x93Noir\x94", "Café \u201cNoir\u201d"),  # cp1252 from an old Windows editor
        (b"one\r\ntwo\rthree\n", "one\ntwo\nthree\n"),
        (b"page one\x0cpage two", "page one\x0cpage two"),  # form feeds from PDF-to-text
    ],
)
def test_text_is_decoded(data, expected):
    assert decode_text(data, "script.txt", max_bytes=LIMIT) == expected


_RANDOM = random.Random(7)
_RANDOM_BINARY = bytes(_RANDOM.randrange(256) for _ in range(4096)) + b"\x00"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "is empty"),
        (b"  \n\t\r\n  ", "only whitespace"),
        ("   \n".encode("utf-16"), "only whitespace"),
        (
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
            "export the screenplay as Fountain or plain text",
        ),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a PNG image"),
        (b"PK\x03\x04\x14\x00\x06\x00", "ZIP archive"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "a JPEG image"),
        (_RANDOM_BINARY, "looks binary"),
        (b"INT. HOUSE\x00 - DAY", "NUL byte at offset 10"),
        (bytes(range(1, 32)) * 20 + b"text", "control characters"),
        (b"abc \x81 def", "is not UTF-8 text"),  # 0x81 is a hole in cp1252 too
        (bytes(range(0xA0, 0x100)) * 8, "is not UTF-8 text"),  # cp1252-valid but not text
        (b"\xff\xfe\x00\xd8", "not valid UTF-16"),  # a lone surrogate after the BOM
    ],
)
def test_bad_files_are_rejected_naming_the_file(data, fragment):
    with pytest.raises(BadInput) as caught:
        decode_text(data, "upload.fountain", max_bytes=LIMIT)
    message = str(caught.value)
    assert "upload.fountain" in message
    assert fragment in message


def test_huge_files_are_rejected_with_size_and_limit():
    data = b"x" * (LIMIT + 1)
    with pytest.raises(BadInput) as caught:
        decode_text(data, "epic.fountain", max_bytes=LIMIT)
    message = str(caught.value)
    assert "epic.fountain" in message
    assert str(LIMIT + 1) in message and str(LIMIT) in message
    assert "64.0 KB" in message


def test_a_file_exactly_at_the_limit_is_accepted():
    assert decode_text(b"y" * LIMIT, "edge.txt", max_bytes=LIMIT) == "y" * LIMIT
