"""lib.naming.safe_token: the one rule that turns data (patient ids, folder names, file ids) into file-name tokens."""

from typing import Any

import pytest

from dataprep_assets.lib.naming import safe_token

CT: dict[
    str, Any
] = {}  # ct_hemorrhage patient ids: runs of other characters become "-" ("_" separates patient and slice)
CELL_QA: dict[str, Any] = {"keep": "._-", "joiner": "_", "fallback": "x"}  # crop stems: "_" kept and used as the joiner
ECHO: dict[str, Any] = {
    "keep": "",
    "joiner": "",
    "max_length": 8,
    "fallback": "file",
}  # the seed's `<id[:8]>`: letters and digits


@pytest.mark.parametrize(
    ("text", "options", "token"),
    [
        ("ID_0001", CT, "ID-0001"),
        ("  patient 7 / b ", CT, "patient-7-b"),
        ("a.b-c", CT, "a.b-c"),
        ("Müller", CT, "M-ller"),
        ("__//__", CT, "unknown"),
        (123, CT, "123"),
        ("competitor A", CELL_QA, "competitor_A"),
        ("01_GT", CELL_QA, "01_GT"),
        ("../x", CELL_QA, ".._x"),
        ("///", CELL_QA, "x"),
        ("1.2.840.113619.2.55", ECHO, "12840113"),
        ("x", ECHO, "x"),
        ("..", ECHO, "file"),
    ],
)
def test_safe_token(text, options, token):
    assert safe_token(text, **options) == token


def test_tokens_hold_only_safe_characters_and_never_a_path_separator():
    for text in ["../../etc/passwd", "a\\b", "C:\\x", "\x00nul", "tab\there", "ünï", ""]:
        for options in (CT, CELL_QA, ECHO):
            token = safe_token(text, **options)
            assert token and "/" not in token and "\\" not in token and "\x00" not in token
            assert all(ch.isascii() and (ch.isalnum() or ch in ".-_") for ch in token)


def test_max_length_cuts_after_cleaning():
    assert safe_token("ab-cd-ef", joiner="", keep="", max_length=4) == "abcd"
    assert safe_token("abcdef", max_length=3) == "abc"
