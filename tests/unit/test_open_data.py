"""Open data: registry, verified fetching (mirror and download), and the loaders on the real files."""

from __future__ import annotations

import hashlib
import http.server
import re
import socket
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import open_data as od
from analysis._paths import OPEN_DATA_ENV, env_path

HEX64 = re.compile(r"^[0-9a-f]{64}$")
HEX40 = re.compile(r"^[0-9a-f]{40}$")


# --- fixtures ---------------------------------------------------------------------------------


def _fake_dataset(files: dict[str, bytes], *, downloadable: bool = True) -> od.OpenDataset:
    entries = tuple(
        od.OpenDataFile(
            dataset="fake-data",
            file=name,
            sha256=hashlib.sha256(payload).hexdigest(),
            repo="owner/repo" if downloadable else None,
            commit="0" * 40 if downloadable else None,
            source_path=f"src/{name}" if downloadable else None,
            description="test file",
        )
        for name, payload in files.items()
    )
    return od.OpenDataset("fake-data", "Fake", "nowhere", "none", "tests", "anything", entries)


PAYLOAD = {"table.csv": b"a,b\n1,2\n", "sub/deep.bin": bytes(range(256)) * 64}


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """A registered fake dataset, an empty cache in tmp_path, no mirror, no real download."""
    monkeypatch.setitem(od.REGISTRY, "fake-data", _fake_dataset(PAYLOAD))
    monkeypatch.delenv(OPEN_DATA_ENV, raising=False)
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setattr(od, "_cache_root", lambda: cache)
    monkeypatch.setattr(od, "_VERIFIED", {})
    return cache


def _write_mirror(root: Path, files: dict[str, bytes]) -> None:
    for name, payload in files.items():
        path = root / "fake-data" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload)


class _Server:
    """A loopback HTTP server laid out like raw.githubusercontent.com (<repo>/<commit>/<path>)."""

    def __init__(self, root: Path):
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self):  # noqa: N802 (http.server API)
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(fake, monkeypatch, tmp_path):
    """Serve PAYLOAD at the fake entries' raw-URL paths from a loopback server."""
    root = tmp_path / "served"
    for name, payload in PAYLOAD.items():
        path = root / "owner" / "repo" / ("0" * 40) / "src" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload)
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    srv = _Server(root)
    monkeypatch.setattr(od, "RAW_URL_BASE", srv.url)
    srv.root = root
    yield srv
    srv.close()


def _files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


# --- registry ---------------------------------------------------------------------------------


def test_registry_lists_every_manifest_file_with_pinned_urls():
    table = od.file_table()
    assert len(table) == 71  # 5 + 63 + 1 + 2
    assert table.groupby("dataset").size().to_dict() == {
        "development-fmri-basc064": 5,
        "ds003871-ica-timecourses": 63,
        "fcon1000-thickness": 1,
        "openneuro-transfer-thickness": 2,
    }
    assert table["sha256"].str.fullmatch(HEX64.pattern).all()
    assert table["sha256"].is_unique
    not_downloadable = table.loc[table["url"].isna(), "file"].tolist()
    assert not_downloadable == ["rows_participants.csv"]
    urls = table["url"].dropna()
    pattern = r"https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/[0-9a-f]{40}/\S+"
    assert urls.str.fullmatch(pattern).all(), urls[~urls.str.fullmatch(pattern)].tolist()
    entry = od.get_file("ds003871-ica-timecourses", "BOLD/sub007_timecourses_ica.mat")
    assert entry.url.endswith("/9ea1244ee05759caaf090ee09e59a3d1c7ac56d8/Data/BOLD/sub007_timecourses_ica.mat")


def test_get_file_rejects_unknown_names():
    with pytest.raises(KeyError, match="unknown open dataset 'nope'"):
        od.get_file("nope", "x.csv")
    with pytest.raises(KeyError, match="has no file 'x.csv'"):
        od.get_file("fcon1000-thickness", "x.csv")


def test_provenance_table_has_one_row_per_dataset_source():
    table = od.provenance_table()
    assert list(table.columns) == [
        "dataset", "title", "files", "source_repo", "commit", "licence", "can_show", "cannot_show",
    ]
    assert set(table["dataset"]) == set(od.REGISTRY)
    assert len(table) == 6  # development fMRI has two source repositories and one derived file
    pinned = table[table["commit"] != ""]
    assert pinned["commit"].str.fullmatch(HEX40.pattern).all()
    assert (table["can_show"].str.len() > 20).all() and (table["cannot_show"].str.len() > 20).all()
    assert "(62 files)" in table.loc[table["dataset"] == "ds003871-ica-timecourses", "files"].item()


# --- fetching from a mirror -------------------------------------------------------------------


def test_fetch_reads_mirror_without_downloading(fake, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    _write_mirror(mirror, PAYLOAD)
    monkeypatch.setenv(OPEN_DATA_ENV, str(mirror))
    monkeypatch.setattr(od, "_open_url", lambda url: pytest.fail(f"downloaded {url}"))
    path = od.fetch("fake-data", "sub/deep.bin")
    assert path == mirror / "fake-data" / "sub" / "deep.bin"
    assert path.read_bytes() == PAYLOAD["sub/deep.bin"]
    assert _files_under(fake) == []  # nothing copied into the cache


def test_mirror_hash_is_verified_once_per_file_version(fake, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    _write_mirror(mirror, PAYLOAD)
    monkeypatch.setenv(OPEN_DATA_ENV, str(mirror))
    calls = []
    real = od._sha256
    monkeypatch.setattr(od, "_sha256", lambda p: calls.append(p) or real(p))
    for _ in range(3):
        od.fetch("fake-data", "table.csv")
    assert len(calls) == 1
    (mirror / "fake-data" / "table.csv").write_bytes(b"a,b\n1,3\n9,9\n")  # changed size -> hashed again
    with pytest.raises(od.OpenDataError):
        od.fetch("fake-data", "table.csv")
    assert len(calls) == 2


def test_mirror_wrong_hash_names_dataset_file_path_and_fix(fake, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    _write_mirror(mirror, {**PAYLOAD, "table.csv": b"a,b\n1,3\n"})
    monkeypatch.setenv(OPEN_DATA_ENV, str(mirror))
    with pytest.raises(od.OpenDataError) as err:
        od.fetch("fake-data", "table.csv")
    text = str(err.value)
    for part in ("'fake-data'", "'table.csv'", "sha256 mismatch", str(mirror / "fake-data" / "table.csv"),
                 OPEN_DATA_ENV, "https://"):
        assert part in text, f"{part!r} missing from: {text}"


def test_mirror_missing_file_names_what_was_tried(fake, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    _write_mirror(mirror, {"table.csv": PAYLOAD["table.csv"]})
    monkeypatch.setenv(OPEN_DATA_ENV, str(mirror))
    with pytest.raises(od.OpenDataError, match=r"missing from the local mirror") as err:
        od.fetch("fake-data", "sub/deep.bin")
    assert str(mirror / "fake-data" / "sub" / "deep.bin") in str(err.value)
    assert f"point {OPEN_DATA_ENV} at a mirror" in str(err.value)


def test_file_only_in_mirror_cannot_be_downloaded(fake, monkeypatch):
    monkeypatch.setitem(od.REGISTRY, "fake-data", _fake_dataset(PAYLOAD, downloadable=False))
    with pytest.raises(od.OpenDataError, match="no public URL") as err:
        od.fetch("fake-data", "table.csv")
    assert OPEN_DATA_ENV in str(err.value)


# --- downloading ------------------------------------------------------------------------------


def test_download_verifies_and_caches(server, fake):
    path = od.fetch("fake-data", "sub/deep.bin")
    assert path == fake / "fake-data" / "sub" / "deep.bin"
    assert path.read_bytes() == PAYLOAD["sub/deep.bin"]
    od.fetch("fake-data", "sub/deep.bin")
    assert len(server.requests) == 1  # second call served from the cache
    assert _files_under(fake) == [path]  # no temporary file left beside it


def test_download_with_wrong_hash_leaves_nothing(server, fake):
    served = server.root / "owner" / "repo" / ("0" * 40) / "src" / "table.csv"
    served.write_bytes(b"tampered\n")
    with pytest.raises(od.OpenDataError) as err:
        od.fetch("fake-data", "table.csv")
    text = str(err.value)
    assert "sha256 mismatch" in text and f"{server.url}/owner/repo/" in text
    assert "connect to the internet" in text and OPEN_DATA_ENV in text
    assert _files_under(fake) == []


def test_corrupt_cached_file_is_downloaded_again(server, fake):
    target = fake / "fake-data" / "table.csv"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"half a fi")
    assert od.fetch("fake-data", "table.csv").read_bytes() == PAYLOAD["table.csv"]
    assert len(server.requests) == 1


def test_damaged_cached_file_is_removed_even_when_offline(fake, monkeypatch):
    target = fake / "fake-data" / "table.csv"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"half a fi")

    def offline(url):
        raise od.urllib.error.URLError("no route to host")

    monkeypatch.setattr(od, "_open_url", offline)
    with pytest.raises(od.OpenDataError, match="no route to host"):
        od.fetch("fake-data", "table.csv")
    assert _files_under(fake) == []


def test_no_network_gives_one_clear_error(fake, monkeypatch):
    with socket.socket() as probe:  # a loopback port nobody listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(od, "RAW_URL_BASE", f"http://127.0.0.1:{port}")
    with pytest.raises(od.OpenDataError, match="download failed") as err:
        od.fetch("fake-data", "table.csv")
    text = str(err.value)
    assert "'fake-data'" in text and "'table.csv'" in text and f"127.0.0.1:{port}" in text
    assert "connect to the internet" in text and f"set {OPEN_DATA_ENV}=DIR" in text
    assert _files_under(fake) == []


def test_interrupted_download_leaves_no_partial_file(fake, monkeypatch):
    class Broken:
        def __init__(self):
            self.sent = False

        def read(self, n):
            if not self.sent:
                self.sent = True
                return b"a,b\n"
            raise ConnectionResetError("peer went away")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(od, "_open_url", lambda url: Broken())
    with pytest.raises(od.OpenDataError, match="ConnectionResetError"):
        od.fetch("fake-data", "table.csv")
    assert _files_under(fake) == []


# --- pure helpers -----------------------------------------------------------------------------


def test_vector_to_matrix_inverts_nilearns_vectorisation(rng):
    from nilearn.connectome import sym_matrix_to_vec

    a = rng.normal(size=(3, 7, 7))
    sym = a + a.transpose(0, 2, 1)
    sym[:, np.arange(7), np.arange(7)] = 1.0
    vec = sym_matrix_to_vec(sym, discard_diagonal=True)
    assert vec.shape == (3, 21)
    np.testing.assert_array_equal(od.vector_to_matrix(vec), sym)
    np.testing.assert_array_equal(od.vector_to_matrix(vec[1]), sym[1])
    assert od.vector_to_matrix(np.zeros(2016)).shape == (64, 64)
    with pytest.raises(ValueError, match="2015"):
        od.vector_to_matrix(np.zeros(2015))


def test_development_rows_take_first_adults_then_first_children(rng):
    ids = [f"sub-pixar{i:03d}" for i in range(1, 156)]
    table = pd.DataFrame({
        "participant_id": ids,
        "Age": np.r_[rng.uniform(3, 12, 122), rng.uniform(18, 40, 33)],
        "Gender": rng.choice(["F", "M"], 155),
        "Child_Adult": ["child"] * 122 + ["adult"] * 33,
    }).sample(frac=1.0, random_state=1)  # file order must not matter
    rows = od.development_fmri_rows(table)
    expected = [f"sub-pixar{i:03d}" for i in [*range(123, 142), *range(1, 72)]]
    assert rows["participant_id"].tolist() == expected
    assert list(rows.columns) == ["participant_id", "age", "sex", "child_adult"]
    lookup = table.set_index("participant_id")["Age"]
    np.testing.assert_array_equal(rows["age"].to_numpy(), lookup.loc[expected].to_numpy())
    with pytest.raises(ValueError, match="has 10 adults, need 19"):
        od.development_fmri_rows(table[~table["participant_id"].isin(expected[10:19] + ids[141:])])


def test_transfer_split_is_validated():
    with pytest.raises(ValueError, match="split must be 'ad' .* got 'train'"):
        od.load_openneuro_transfer("train")


def test_harmonise_renames_fs6_names_and_drops_placeholders():
    raw = pd.DataFrame({
        "sub_id": ["a", "b"],
        "lh_S_intrapariet_and_P_trans_thickness": [2.1, 2.3],
        "lh_S_intrapariet&P_trans_thickness": [0.0, 0.0],
        "lh_G&S_frontomargin_thickness": [2.4, 2.5],
        "lh_G&S_frontomargin_thickness.1": [0.0, 0.0],
        "Left-Thalamus": [7000.0, 7100.0],
    })
    out = od.harmonise_thickness_names(raw)
    assert list(out.columns) == [
        "sub_id", "lh_S_intrapariet&P_trans_thickness", "lh_G&S_frontomargin_thickness", "Left-Thalamus-Proper",
    ]
    assert out["lh_S_intrapariet&P_trans_thickness"].tolist() == [2.1, 2.3]
    plain = raw[["sub_id", "lh_G&S_frontomargin_thickness"]]
    assert od.harmonise_thickness_names(plain) is plain


# --- the real files (mirror or cache) ---------------------------------------------------------


def _real(dataset: str, *, mirror_only: bool = False) -> None:
    mirror = env_path(OPEN_DATA_ENV)
    if mirror is None and (mirror_only or not od.is_available(dataset)):
        pytest.skip(
            f"real open data not available: {OPEN_DATA_ENV} is unset and {dataset!r} is not in the "
            f"download cache; set {OPEN_DATA_ENV}=../shared/open-data to run this check"
        )


def _manifest_hashes(mirror: Path) -> dict[str, str]:
    text = (mirror / "MANIFEST.md").read_text()
    pairs = re.findall(r"^(\S+/\S+) ([0-9a-f]{64})$", text, flags=re.M)
    bold = (mirror / "ds003871-ica-timecourses" / "BOLD.sha256").read_text().split("\n")
    pairs += [(f"ds003871-ica-timecourses/{line.split()[1]}", line.split()[0]) for line in bold if line.strip()]
    return dict(pairs)


def test_registry_hashes_match_the_mirror_manifest_and_files():
    _real("ds003871-ica-timecourses", mirror_only=True)
    mirror = env_path(OPEN_DATA_ENV)
    table = od.file_table()
    registry = dict(zip(table["dataset"] + "/" + table["file"], table["sha256"]))
    assert registry == _manifest_hashes(mirror)
    for dataset, file in zip(table["dataset"], table["file"]):
        od.fetch(dataset, file)  # raises on any mismatch


def test_inferred_development_rows_reproduce_the_mirror_check_file():
    _real("development-fmri-basc064", mirror_only=True)
    features, rows = od.load_development_fmri()
    check = pd.read_csv(od.fetch("development-fmri-basc064", "rows_participants.csv"))
    assert rows["participant_id"].tolist() == check["participant_id"].tolist()
    assert rows["child_adult"].tolist() == check["Child_Adult"].tolist()
    assert rows["sex"].tolist() == check["Gender"].tolist()
    np.testing.assert_allclose(rows["age"], check["Age"], atol=0.005 + 1e-9)  # check file has 2 decimals


def test_development_fmri_loader_shapes_and_values():
    _real("development-fmri-basc064")
    features, rows = od.load_development_fmri()
    assert features.shape == (90, 2016) and len(rows) == 90
    assert rows["child_adult"].value_counts().to_dict() == {"child": 71, "adult": 19}
    assert rows.loc[rows["child_adult"] == "adult", "age"].min() >= 18
    assert rows.loc[rows["child_adult"] == "child", "age"].max() < 13
    matrices = od.vector_to_matrix(features)
    assert matrices.shape == (90, 64, 64)
    assert np.all(np.abs(features) < 1)  # correlations, not Fisher z
    eig = np.linalg.eigvalsh(matrices[0])
    assert eig.min() > -1e-8  # a correlation matrix: positive semi-definite


def test_ds003871_loader_shapes_and_groups():
    _real("ds003871-ica-timecourses")
    series, subjects = od.load_ds003871()
    assert len(series) == 62 and all(s.shape == (295, 60) for s in series)
    assert all(np.isfinite(s).all() for s in series)
    assert subjects["subject"].tolist() == list(range(1, 63))
    assert (subjects["group"] == np.where(subjects["subject"] <= 34, "Younger", "Older")).all()
    assert not np.allclose(series[0], series[1])


def test_thickness_tables_and_shared_columns():
    _real("fcon1000-thickness")
    _real("openneuro-transfer-thickness")
    fcon = od.load_fcon1000()
    ad, te = od.load_openneuro_transfer("ad"), od.load_openneuro_transfer("te")
    assert fcon.shape[0] == 1078 and fcon["site"].nunique() == 23
    assert (fcon["age"] >= 60).sum() == 57
    assert (len(ad), len(te)) == (110, 436)
    both = pd.concat([ad, te])
    assert both["site"].nunique() == 6 and (both["age"] >= 60).sum() == 36
    assert list(fcon.columns[:4]) == list(ad.columns[:4]) == ["participant_id", "age", "sex", "site"]
    cols = od.thickness_columns(fcon, ad)
    assert len(cols) == 148 and cols == od.thickness_columns(fcon, te)
    assert len(od.thickness_columns(fcon, ad, include_mean=True)) == 150
    # Harmonised columns hold real thickness in both sets: same scale region by region.
    gap = (fcon[cols].mean() - both[cols].mean()).abs()
    assert gap.max() < 0.4, gap.sort_values().tail()
    for table in (fcon, both):  # mm; 0 marks a region not measured (two cells per table)
        values = table[cols].to_numpy()
        assert (values == 0).sum() == 2
        assert values[values > 0].min() > 1.0 and values.max() < 5.0


def test_transfer_splits_share_children_as_documented():
    _real("openneuro-transfer-thickness")
    ad, te = od.load_openneuro_transfer("ad"), od.load_openneuro_transfer("te")
    both = pd.concat([ad, te], ignore_index=True)
    assert len(set(ad["participant_id"]) & set(te["participant_id"])) == 9
    assert te["participant_id"].duplicated().sum() == 19 and ad["participant_id"].is_unique
    assert both["participant_id"].nunique() == 518
    repeated = both[both["participant_id"].duplicated(keep=False)]
    assert set(repeated["site"]) == {"ds003416"}
    cols = od.thickness_columns(ad, te)
    per_id = repeated.groupby("participant_id")
    assert (per_id[cols].nunique() == 1).all().all()  # identical thickness ...
    assert (per_id["age"].nunique() == 2).all()  # ... but two different ages


def test_overview_summarises_every_dataset():
    for name in od.REGISTRY:
        _real(name)
    table = od.overview()
    assert table["n_rows"].tolist() == [90, 62, 1078, 110, 436]
    assert table["n_features"].tolist() == [2016, 60, 148, 148, 148]
    assert table["per_person_age"].tolist() == [True, False, True, True, True]
    assert table["n_aged_60_plus"].tolist()[2:] == [57, 8, 28] and table["n_aged_60_plus"].isna().sum() == 1
    fmri_with_age = table["modality"].str.startswith("fMRI") & table["per_person_age"]
    assert table.loc[fmri_with_age, "n_aged_60_plus"].sum() == 0  # the book's central caveat
    np.testing.assert_allclose(table["age_min"].iloc[[0, 2]], [3.52, 7.88], atol=0.01)
    np.testing.assert_allclose(table["age_max"].iloc[[0, 2, 4]], [39.0, 85.0, 73.0])
