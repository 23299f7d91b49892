"""Find participant identifiers in built artefacts (pages, embedded CSV downloads, JSON, CSV files)."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from urllib.parse import unquote

DATA_URI = re.compile(r"data:text/csv;base64,([A-Za-z0-9+/=]+)")
SCANNED_SUFFIXES = {".html", ".csv", ".tsv", ".json", ".txt", ".ipynb", ".js"}


def _texts(path: Path):
    text = path.read_text(encoding="utf-8", errors="replace")
    yield "page", text
    for match in DATA_URI.finditer(text):
        yield "embedded CSV", base64.b64decode(match.group(1)).decode("utf-8", errors="replace")
    if "%" in text:
        yield "url-decoded", unquote(text)


def find_identifiers(root: Path, identifiers: list[str]) -> list[str]:
    """Every place under ``root`` where one of ``identifiers`` appears as a whole word."""
    if not identifiers:
        raise ValueError("no identifiers to look for")
    pattern = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(map(re.escape, identifiers)) + r")(?![A-Za-z0-9])")
    hits = []
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file() and p.suffix in SCANNED_SUFFIXES):
        for where, text in _texts(path):
            for match in pattern.finditer(text):
                hits.append(f"{path}: {where}: {match.group(1)!r} in …{text[max(0, match.start()-40):match.end()+40]!r}…")
                break
    return hits
