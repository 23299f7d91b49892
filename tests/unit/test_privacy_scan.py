"""The privacy scanner finds identifiers in pages, in embedded CSV downloads and in files."""

from __future__ import annotations

import base64

import pytest

from tests.privacy_scan import find_identifiers


def test_finds_ids_in_pages_embedded_csv_and_files(tmp_path):
    csv = base64.b64encode(b"participant_id,gap\nL0007,1.2\n").decode()
    (tmp_path / "page.html").write_text(f"<a href='data:text/csv;base64,{csv}'>x</a>")
    (tmp_path / "t.csv").write_text("id\nL0042\n")
    (tmp_path / "ok.html").write_text("<p>L00071 is another id; XL0042 too</p>")
    hits = find_identifiers(tmp_path, ["L0007", "L0042"])
    assert len(hits) == 2
    assert any("embedded CSV" in h and "L0007" in h for h in hits)
    assert any("t.csv" in h for h in hits)


def test_clean_tree_has_no_hits(tmp_path):
    (tmp_path / "page.html").write_text("<p>aggregate only: n = 451</p>")
    assert find_identifiers(tmp_path, ["L0001"]) == []
    with pytest.raises(ValueError):
        find_identifiers(tmp_path, [])
