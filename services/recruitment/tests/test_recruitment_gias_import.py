"""POST /gias/imports: the GIAS establishment extract."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from rlc_testkit.recruitment import LA, Api, GiasSchool, assert_problem, gias_csv

DATA = Path(__file__).parent / "data"


def _import(api: Api, body: bytes, name: str = "edubasealldata20210601.csv"):
    return api.client.post(
        "/gias/imports", headers=api.tm(), files={"file": (name, body, "text/csv")}
    )


def _count_schools(api: Api) -> int:
    return api.ok(api.client.get("/schools?limit=1", headers=api.tm()))["count"]


def _audit(api: Api, **filters: str) -> list[dict]:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    return api.ok(api.client.get(f"/audit-events?limit=500&{query}", headers=api.tm()))["data"]


class TestRealExtract:
    def test_real_rows_latin1_with_a_malformed_row(self, api: Api) -> None:
        resp = _import(api, (DATA / "example_rows_latin1.csv").read_bytes())
        assert resp.status_code == 201, resp.text
        report = resp.json()
        assert (report["inserted"], report["updated"], report["unchanged"]) == (3, 0, 0)
        assert report["rejected"] == 1
        [rejection] = report["rejections"]
        assert rejection["line"] == 5
        assert rejection["urn"] == "148847"
        assert "139 fields but the header has 133 columns" in rejection["reason"]

        becket = api.get_school(126416)
        assert becket["name"] == "St Thomas à Becket Church of England Aided Primary School"
        assert becket["la_code"] == "865"
        assert becket["phase"] == "Primary"
        assert (becket["low_age"], becket["high_age"]) == (4, 11)
        assert becket["status"] is None  # in GIAS, not in the trial

        secondary = api.get_school(106653)
        assert secondary["phase"] == "Secondary"
        assert secondary["percentage_fsm"] == "3.4"

        closed = api.get_school(117137)
        assert closed["gias_status"] == "Closed"
        assert closed["close_date"] == "2012-05-31"
        assert closed["pupils"] is None  # "" in the file

    def test_reimport_of_the_same_file_changes_nothing(self, api: Api) -> None:
        body = (DATA / "example_rows_latin1.csv").read_bytes()
        first = _import(api, body).json()
        history_before = api.history(126416)
        second = _import(api, body)
        assert second.status_code == 201
        report = second.json()
        assert (report["inserted"], report["updated"], report["unchanged"]) == (0, 0, 3)
        assert report["rejected"] == 1
        assert report["sha256"] == first["sha256"]
        assert api.history(126416) == history_before
        assert len(api.ok(api.client.get("/gias/imports", headers=api.tm()))["data"]) == 2


class TestSyntheticExtract:
    def test_unknown_columns_dots_and_upsert(self, api: Api) -> None:
        schools = [
            GiasSchool(urn=100001, name="Brontë Primary", fsm=".."),
            GiasSchool(urn=100002, phase="Secondary", low="11", high="16"),
            GiasSchool(urn=100003, gias_status="Closed", close_date="31-08-2020", pupils=""),
        ]
        report = api.ok(api.import_gias(schools))
        assert (report["inserted"], report["rejected"]) == (3, 0)
        school = api.get_school(100001)
        assert school["name"] == "Brontë Primary"
        assert school["percentage_fsm"] is None  # ".." is GIAS's unknown

        # Next month's extract: one school renamed, one new, one as before.
        schools[0] = GiasSchool(urn=100001, name="Brontë Primary Academy", fsm="..")
        schools.append(GiasSchool(urn=100004))
        report = api.ok(api.import_gias(schools))
        assert (report["inserted"], report["updated"], report["unchanged"]) == (1, 1, 2)
        assert api.get_school(100001)["name"] == "Brontë Primary Academy"

        # The change is in the school's history, the unchanged schools have no update event.
        updates = [e for e in api.history(100001) if e["action"] == "school.gias_updated"]
        assert len(updates) == 1
        assert updates[0]["old"] == {"name": "Brontë Primary"}
        assert updates[0]["new"] == {"name": "Brontë Primary Academy"}
        assert updates[0]["actor"] == "tm-alice"
        assert not [e for e in api.history(100002) if e["action"] == "school.gias_updated"]
        assert len(_audit(api, action="gias.establishments_imported")) == 2

    def test_rejections_have_lines_and_reasons(self, api: Api) -> None:
        good = gias_csv([GiasSchool(urn=100001)])
        bad_rows = (
            b'100002,"202","Camden","2001","Oakfield","01","Community school","4","x","1",'
            b'"Open","31-02-2020","","2","Primary",4,11,"100","1","London","NW1","..","y"\r\n'
            b'abc,"202","Camden","2001","Oak","01","Community school","4","x","1",'
            b'"Open","","","2","Primary",4,11,"100","1","London","NW1","..","y"\r\n'
            b'100004,"202","Camden","2001","Oak, too many","01","x"\r\n'
        )
        report = api.ok(api.import_gias(good + bad_rows))
        assert report["inserted"] == 1
        assert report["rejected"] == 3
        lines = {r["line"]: r["reason"] for r in report["rejections"]}
        assert "OpenDate '31-02-2020' is not a dd-mm-yyyy date" in lines[3]
        assert "URN 'abc' is not a whole number" in lines[4]
        assert "7 fields but the header has 23 columns" in lines[5]

    def test_utf8_file_is_read_as_utf8(self, api: Api) -> None:
        # A re-saved extract in UTF-8 is decoded line by line, so accents are not mangled.
        body = gias_csv([GiasSchool(urn=100001, name="Côte Park Primary")], encoding="utf-8")
        report = api.ok(api.import_gias(body))
        assert report["inserted"] == 1
        assert api.get_school(100001)["name"] == "Côte Park Primary"


class TestMalformedUploads:
    @pytest.mark.parametrize(
        ("body", "needle"),
        [
            (b"", "empty"),
            (b"%PDF-1.4 binary", "PDF"),
            (b"PK\x03\x04\x14\x00\x06\x00", "Excel workbook"),
            ("URN,EstablishmentName\r\n1,x\r\n".encode("utf-16"), "UTF-16"),
            (b'{"urn": 1}\n', "JSON"),
            (b"\x00\x01\x02\x03binary\n", "binary"),
        ],
    )
    def test_not_a_gias_csv(self, api: Api, body: bytes, needle: str) -> None:
        resp = _import(api, body)
        assert_problem(resp, 422, needle)
        self._nothing_written(api)

    def test_missing_required_column(self, api: Api) -> None:
        body = gias_csv([GiasSchool(urn=100001)]).replace(b'"PhaseOfEducation (name)"', b'"Phase"')
        body = _import(api, body)
        problem = assert_problem(body, 422, "PhaseOfEducation (name)", "edubasealldata")
        assert problem["type"].endswith("invalid-upload")
        self._nothing_written(api)

    def test_semicolon_separated(self, api: Api) -> None:
        body = b"URN;LA (code);EstablishmentName\r\n1;202;x\r\n"
        assert_problem(_import(api, body), 422, "semicolons")
        self._nothing_written(api)

    def test_damage_mid_file_rolls_everything_back(self, api: Api) -> None:
        # A line longer than the parser's cap makes the rest unreadable: nothing is kept.
        body = gias_csv([GiasSchool(urn=100001)]) + b"1" * (1 << 20) + b"\r\n"
        assert_problem(_import(api, body), 422, "Line 3")
        self._nothing_written(api)
        key = f"gias/establishments/{hashlib.sha256(body).hexdigest()}.csv"
        assert not api.client.app.state.storage.exists(key)

    def test_the_imported_file_is_kept(self, api: Api) -> None:
        body = gias_csv([GiasSchool(urn=100001)])
        report = api.ok(_import(api, body))
        assert report["sha256"] == hashlib.sha256(body).hexdigest()
        stored = api.client.app.state.storage.open(f"gias/establishments/{report['sha256']}.csv")
        assert stored.read() == body

    def test_only_trial_managers_import(self, api: Api) -> None:
        body = gias_csv([GiasSchool(urn=100001)])
        for headers in (api.vs(LA), api.role("evaluator"), api.role("auditor"), api.service()):
            resp = api.client.post(
                "/gias/imports", headers=headers, files={"file": ("g.csv", body, "text/csv")}
            )
            assert_problem(resp, 403)
        assert_problem(api.client.post("/gias/imports", files={"file": ("g.csv", body)}), 401)
        self._nothing_written(api)

    @staticmethod
    def _nothing_written(api: Api) -> None:
        assert _count_schools(api) == 0
        assert api.ok(api.client.get("/gias/imports", headers=api.tm()))["count"] == 0
        assert api.ok(api.client.get("/audit-events", headers=api.tm()))["count"] == 0


def test_batches_compare_and_write_correctly_across_boundaries(api: Api) -> None:
    api.client.app.state.settings = api.client.app.state.settings.model_copy(
        update={"gias_batch_size": 3}
    )
    schools = [GiasSchool(urn=100001 + i, name=f"School {i}") for i in range(10)]
    report = api.ok(api.import_gias(schools))
    assert (report["inserted"], report["updated"], report["unchanged"]) == (10, 0, 0)
    for i in (0, 3, 4, 9):  # in different batches, including the last, short one
        schools[i] = GiasSchool(urn=100001 + i, name=f"School {i}", pupils="999")
    schools.append(GiasSchool(urn=100011))
    report = api.ok(api.import_gias(schools))
    assert (report["inserted"], report["updated"], report["unchanged"]) == (1, 4, 6)
    assert [api.get_school(100001 + i)["pupils"] for i in (0, 1, 9)] == [999, 210, 999]
    updated = _audit(api, action="school.gias_updated")
    assert sorted(int(e["entity_id"]) for e in updated) == [100001, 100004, 100005, 100010]
    assert all(e["old"] == {"pupils": 210} and e["new"] == {"pupils": 999} for e in updated)


def _gias_synth():
    """bench/gias_synth.py, the synthetic extract writer (a script, not a package)."""
    import importlib.util
    import sys

    name = "rlc_bench_gias_synth"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[3] / "bench" / "gias_synth.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_synthetic_135_column_extract_over_http(api: Api) -> None:
    import io

    synth = _gias_synth()
    buffer = io.BytesIO()
    stats = synth.write_extract(buffer, 2_600, seed=7, malformed_every=500)
    assert len(synth.COLUMNS) == 135
    report = api.ok(_import(api, buffer.getvalue()))
    assert report["inserted"] == stats.valid
    assert report["rejected"] == stats.rejected
    assert [r["line"] for r in report["rejections"]] == stats.rejected_lines
    again = api.ok(_import(api, buffer.getvalue()))
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, stats.valid)
    open_primary = api.ok(
        api.client.get("/schools?phase=Primary&limit=1", headers=api.role("evaluator"))
    )
    assert open_primary["count"] == stats.phases["Primary"]
