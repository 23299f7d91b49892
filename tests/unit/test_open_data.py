"""Open data: registry (shipped data file), verified fetching (mirror and pooch download), loaders."""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import socket
import threading
import tomllib
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pooch
import pytest

from analysis import open_data as od
from analysis._paths import OPEN_DATA_ENV, PROJECT_ROOT, env_path
from analysis.open_data import fetching, registry

HEX64 = re.compile(r"^[0-9a-f]{64}$")
HEX40 = re.compile(r"^[0-9a-f]{40}$")
COMMIT = "0" * 40
#: The local mirror named when the tests started (fixtures below unset the variable).
MIRROR = env_path(OPEN_DATA_ENV)


# --- fixtures ---------------------------------------------------------------------------------


def _fake_dataset(files: dict[str, bytes], *, downloadable: bool = True) -> od.OpenDataset:
    entries = tuple(
        od.OpenDataFile(
            dataset="fake-data",
            file=name,
            sha256=hashlib.sha256(payload).hexdigest(),
            repo="owner/repo" if downloadable else None,
            commit=COMMIT if downloadable else None,
            source_path=f"src/{name}" if downloadable else None,
            description="test file",
        )
        for name, payload in files.items()
    )
    return od.OpenDataset("fake-data", "Fake", "nowhere", "none", "tests", "anything", entries)


PAYLOAD = {"table.csv": b"a,b\n1,2\n", "sub/deep.bin": bytes(range(256)) * 64}


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """A registered fake dataset, an empty cache in tmp_path, no mirror, no retries (fast failures)."""
    monkeypatch.setitem(od.REGISTRY, "fake-data", _fake_dataset(PAYLOAD))
    monkeypatch.delenv(OPEN_DATA_ENV, raising=False)
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setattr(fetching, "_cache_root", lambda: cache)
    monkeypatch.setattr(fetching, "_VERIFIED", {})
    monkeypatch.setattr(fetching, "DOWNLOAD_RETRIES", 0)
    return cache


def _write_mirror(root: Path, files: dict[str, bytes]) -> None:
    for name, payload in files.items():
        path = root / "fake-data" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload)


class _Server:
    """A loopback HTTP server laid out like raw.githubusercontent.com (<repo>/<commit>/<path>).

    ``fail`` holds HTTP status codes answered, one per request, before files are served again
    (transient server errors); ``truncate`` makes it promise more bytes than it sends.
    """

    def __init__(self, root: Path):
        self.root = root
        self.requests: list[str] = []
        self.fail: list[int] = []
        self.truncate = False
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self):  # noqa: N802 (http.server API)
                server.requests.append(self.path)
                if server.fail:
                    self.send_error(server.fail.pop(0), "transient failure")
                elif server.truncate:
                    self.send_response(200)
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    self.wfile.write(b"a,b\n")
                    self.wfile.flush()
                    self.close_connection = True
                else:
                    super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def serve(self, entry: od.OpenDataFile, payload: bytes) -> Path:
        """Put ``payload`` where ``entry``'s pinned URL points (repo/commit/path)."""
        path = self.root / entry.repo / entry.commit / entry.source_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload)
        return path

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(fake, monkeypatch, tmp_path):
    """Serve PAYLOAD at the fake entries' raw-URL paths from a loopback server; URLs point there."""
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    srv = _Server(tmp_path / "served")
    for name, payload in PAYLOAD.items():
        srv.serve(od.get_file("fake-data", name), payload)
    monkeypatch.setattr(registry, "RAW_URL_BASE", srv.url)
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
    assert all(ds.citation and ds.licence for ds in od.REGISTRY.values())


def test_registry_is_a_data_file_shipped_with_the_package():
    shipped = resources.files("analysis.open_data").joinpath(registry.REGISTRY_FILE)
    assert shipped.is_file()
    assert registry.parse_registry(json.loads(shipped.read_text(encoding="utf-8"))) == od.REGISTRY
    config = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    assert registry.REGISTRY_FILE in config["tool"]["setuptools"]["package-data"]["analysis.open_data"]


def test_registry_rejects_malformed_entries():
    good = {"file": "a.csv", "sha256": "a" * 64, "repo": "o/r", "commit": "b" * 40, "path": "a.csv", "what": "x"}
    dataset = {"name": "d", "title": "t", "origin": "o", "licence": "l", "citation": "c", "can_show": "s",
               "cannot_show": "n", "files": [good]}
    parsed = registry.parse_registry({"format": 1, "datasets": [dataset]})["d"]
    assert parsed.files[0].url.endswith(f"/o/r/{'b' * 40}/a.csv") and parsed.citation == "c"
    for bad, message in (
        ({**good, "sha256": "A" * 64}, "not 64 lower-case hex"),
        ({**good, "commit": None}, "all be set or all be null"),
        ({**good, "commit": "main"}, "full 40-digit hash"),
        ({**good, "extra": 1}, "keys"),
    ):
        with pytest.raises(ValueError, match=message) as err:
            registry.parse_registry({"format": 1, "datasets": [{**dataset, "files": [bad]}]})
        assert "dataset 'd', file 'a.csv'" in str(err.value)
    with pytest.raises(ValueError, match="listed twice"):
        registry.parse_registry({"format": 1, "datasets": [{**dataset, "files": [good, good]}]})


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
    monkeypatch.setattr(fetching, "_pooch", lambda *a: pytest.fail("pooch used with a mirror"))
    path = od.fetch("fake-data", "sub/deep.bin")
    assert path == mirror / "fake-data" / "sub" / "deep.bin"
    assert path.read_bytes() == PAYLOAD["sub/deep.bin"]
    assert _files_under(fake) == []  # nothing copied into the cache


def test_mirror_hash_is_verified_once_per_file_version(fake, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    _write_mirror(mirror, PAYLOAD)
    monkeypatch.setenv(OPEN_DATA_ENV, str(mirror))
    calls = []
    real = fetching._sha256
    monkeypatch.setattr(fetching, "_sha256", lambda p: calls.append(p) or real(p))
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
                 OPEN_DATA_ENV, "https://", od.get_file("fake-data", "table.csv").sha256,
                 hashlib.sha256(b"a,b\n1,3\n").hexdigest()):
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


# --- downloading (pooch, from a loopback server) ---------------------------------------------


def test_download_of_a_mirror_file_through_pooch_is_hash_checked_and_cached(server, fake, monkeypatch):
    mirror = MIRROR  # the fixtures have unset OPEN_DATA_ENV: this test downloads
    if mirror is None:
        pytest.skip(f"{OPEN_DATA_ENV} was unset: no mirror file to serve")
    entry = od.get_file("development-fmri-basc064", "participants.tsv")
    original = (mirror / entry.dataset / entry.file).read_bytes()
    server.serve(entry, original)
    fetched = []
    real_fetch = pooch.Pooch.fetch
    monkeypatch.setattr(pooch.Pooch, "fetch", lambda self, *a, **k: fetched.append(a) or real_fetch(self, *a, **k))
    path = od.fetch(entry.dataset, entry.file)
    assert fetched == [(entry.file,)]  # downloaded by pooch ...
    assert server.requests == [f"/{entry.repo}/{entry.commit}/{entry.source_path}"]  # ... from the pinned URL
    assert path == fake / entry.dataset / entry.file
    assert path.read_bytes() == original and hashlib.sha256(original).hexdigest() == entry.sha256
    assert od.fetch(entry.dataset, entry.file) == path
    assert len(server.requests) == 1 and len(fetched) == 1  # second call served from the cache
    assert _files_under(fake) == [path]


def test_download_verifies_and_caches(server, fake):
    path = od.fetch("fake-data", "sub/deep.bin")
    assert path == fake / "fake-data" / "sub" / "deep.bin"
    assert path.read_bytes() == PAYLOAD["sub/deep.bin"]
    od.fetch("fake-data", "sub/deep.bin")
    assert len(server.requests) == 1  # second call served from the cache
    assert _files_under(fake) == [path]  # no temporary file left beside it


def test_corrupted_download_names_dataset_file_and_both_hashes(server, fake):
    served = server.serve(od.get_file("fake-data", "table.csv"), b"tampered\n")
    with pytest.raises(od.OpenDataError) as err:
        od.fetch("fake-data", "table.csv")
    text = str(err.value)
    expected, got = hashlib.sha256(PAYLOAD["table.csv"]).hexdigest(), hashlib.sha256(served.read_bytes()).hexdigest()
    assert f"'fake-data', file 'table.csv': sha256 mismatch (expected {expected}, got {got})" in text
    assert f"{server.url}/owner/repo/" in text
    assert "connect to the internet" in text and OPEN_DATA_ENV in text
    assert _files_under(fake) == []  # pooch removed the unverified temporary file


def test_transient_server_error_is_retried(server, fake, monkeypatch):
    monkeypatch.setattr(fetching, "DOWNLOAD_RETRIES", 1)
    server.fail = [500]
    path = od.fetch("fake-data", "table.csv")
    assert path.read_bytes() == PAYLOAD["table.csv"]
    assert len(server.requests) == 2 and server.fail == []
    assert _files_under(fake) == [path]


def test_server_error_without_retries_left_is_one_clear_error(server, fake):
    server.fail = [500]
    with pytest.raises(od.OpenDataError, match="download failed \\(HTTPError: 500") as err:
        od.fetch("fake-data", "table.csv")
    assert "'table.csv'" in str(err.value) and "1 attempt(s)" in str(err.value)
    assert _files_under(fake) == []


def test_corrupt_cached_file_is_downloaded_again(server, fake):
    target = fake / "fake-data" / "table.csv"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"half a fi")
    assert od.fetch("fake-data", "table.csv").read_bytes() == PAYLOAD["table.csv"]
    assert len(server.requests) == 1


def _refused_url() -> str:
    with socket.socket() as probe:  # a loopback port nobody listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_damaged_cached_file_is_removed_even_when_offline(fake, monkeypatch):
    target = fake / "fake-data" / "table.csv"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"half a fi")
    monkeypatch.setattr(registry, "RAW_URL_BASE", _refused_url())
    with pytest.raises(od.OpenDataError, match="ConnectionError"):
        od.fetch("fake-data", "table.csv")
    assert _files_under(fake) == []


def test_no_network_gives_one_clear_error(fake, monkeypatch):
    url = _refused_url()
    monkeypatch.setattr(registry, "RAW_URL_BASE", url)
    with pytest.raises(od.OpenDataError, match="download failed") as err:
        od.fetch("fake-data", "table.csv")
    text = str(err.value)
    assert "'fake-data'" in text and "'table.csv'" in text and url.removeprefix("http://") in text
    assert "connect to the internet" in text and f"set {OPEN_DATA_ENV}=DIR" in text
    assert _files_under(fake) == []


def test_interrupted_download_leaves_no_partial_file(server, fake):
    server.truncate = True
    with pytest.raises(od.OpenDataError, match=r"download failed \(ChunkedEncodingError: .*IncompleteRead"):
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
