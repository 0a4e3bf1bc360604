"""One spelling per ultrasound machine: `VIVIDE95`, `Vivid E95`, `GE Vivid E95` and `vivid-e95` are `vivide95`."""

from __future__ import annotations

import re
from collections.abc import Mapping

UNKNOWN_MACHINE = "unknown"
_VENDOR_WORDS = re.compile(
    r"\b(ge|ge healthcare|gehc|philips|philips medical systems|siemens|siemens healthineers|canon|toshiba|"
    r"samsung|medison|mindray|esaote|sonosite|fujifilm|hitachi|healthcare|medical|systems|inc|ltd|co)\b\.?,?",
    re.IGNORECASE,
)


def machine_slug(name: object) -> str:
    """Lower-case letters and digits only, vendor words dropped (empty if nothing is left)."""
    if not isinstance(name, str):
        return ""
    text = _VENDOR_WORDS.sub(" ", name)
    return re.sub(r"[^a-z0-9]", "", text.lower())


def folder_machine(folder: str) -> str:
    """The machine named by a folder like `VIVIDE95-0012` (text before the first `-`), else ''."""
    return folder.split("-", 1)[0] if "-" in folder else ""


def normalize_machine(
    explicit: object = "", folder: str = "", header_model: object = "", aliases: Mapping[str, str] | None = None
) -> str:
    """Explicit machine column > folder prefix > DICOM ManufacturerModelName, normalised and aliased."""
    alias = {machine_slug(k): machine_slug(v) for k, v in (aliases or {}).items()}
    for candidate in (explicit, folder_machine(folder), header_model):
        slug = machine_slug(candidate)
        if slug:
            return alias.get(slug, slug)
    return UNKNOWN_MACHINE
