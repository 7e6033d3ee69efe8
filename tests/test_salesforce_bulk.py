"""Bulk API 2.0 of the Salesforce emulator, driven by simple-salesforce's ``sf.bulk2``."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import requests
from simple_salesforce import Salesforce, exceptions

from crmpulse_salesforce.sandbox.org import Org
from crmpulse_salesforce.sandbox.schema import custom_field
from crmpulse_salesforce.sandbox.server import SandboxServer
from sfhelp import client

T0 = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
N_ACCOUNTS = 25


def _org() -> Org:
    org = Org()
    ext = custom_field("Ext_Id__c", {"type": "Text", "length": 40, "externalId": True})
    org.add_custom_field("Account", ext)
    secret = custom_field("Secret__c", {"type": "Text", "length": 40})
    org.add_custom_field("Account", secret)
    org.insert(
        "FieldPermissions",
        {
            "ParentId": org.permission_set_id,
            "SobjectType": "Account",
            "Field": "Account.Ext_Id__c",
            "PermissionsRead": True,
            "PermissionsEdit": True,
        },
    )
    ids = [
        org.insert(
            "Account",
            {
                "Name": f"Acct {i:02d}",
                "Industry": None if i % 5 == 0 else ("Tech" if i % 2 else "Retail"),
                "NumberOfEmployees": i * 10,
                "Customer_Since__c": T0 + timedelta(days=i),
                "Ext_Id__c": f"EXT-{i:02d}",
            },
            created=T0,
        )
        for i in range(N_ACCOUNTS)
    ]
    org.insert("Contact", {"LastName": "Lovelace", "AccountId": ids[3]}, created=T0)
    org.insert("Contact", {"LastName": 'Orphan, "Jr"'}, created=T0)
    org.delete(ids[24], when=T0 + timedelta(days=1))
    return org


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(_org()) as srv:
        yield srv


@pytest.fixture
def sf(server: SandboxServer) -> Salesforce:
    return client(server)


def _rows(pages: Iterator[str] | list[str]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for page in pages:
        out.extend(csv.DictReader(io.StringIO(page)))
    return out


def _raw(server: SandboxServer, method: str, path: str, **kw: object) -> requests.Response:
    session = server.http_session()
    headers = {"Authorization": f"Bearer {server.session_token}"}
    headers.update(kw.pop("headers", {}))  # type: ignore[arg-type]
    return session.request(
        method, f"{server.base_url}/services/data/v59.0/jobs/{path}", headers=headers, **kw
    )


# -- query jobs -------------------------------------------------------------------------------
def test_query_pages_with_locators(sf: Salesforce, server: SandboxServer) -> None:
    before = server.state.api_usage
    pages = list(
        sf.bulk2.Account.query(
            "SELECT Id, Name, NumberOfEmployees FROM Account ORDER BY Name",
            max_records=10,
            wait=0,
        )
    )
    assert len(pages) == 3  # 24 live rows in pages of 10
    assert all(page.startswith('"Id","Name","NumberOfEmployees"\n') for page in pages)
    rows = _rows(pages)
    assert [r["Name"] for r in rows] == [f"Acct {i:02d}" for i in range(24)]
    assert rows[3]["NumberOfEmployees"] == "30"
    # create, 2 polls (InProgress then JobComplete), 3 result pages
    assert server.state.api_usage - before == 6


def test_query_csv_formats_and_parent_columns(sf: Salesforce) -> None:
    (page,) = sf.bulk2.Contact.query(
        "SELECT LastName, Account.Name, Account.Customer_Since__c, CreatedDate FROM Contact "
        "ORDER BY LastName",
        wait=0,
    )
    header, *_lines = page.splitlines()
    assert header == '"LastName","Account.Name","Account.Customer_Since__c","CreatedDate"'
    rows = _rows([page])
    assert rows == [
        {
            "LastName": "Lovelace",
            "Account.Name": "Acct 03",
            "Account.Customer_Since__c": "2024-01-18T10:30:00.000Z",
            "CreatedDate": "2024-01-15T10:30:00.000Z",
        },
        {
            "LastName": 'Orphan, "Jr"',
            "Account.Name": "",
            "Account.Customer_Since__c": "",
            "CreatedDate": "2024-01-15T10:30:00.000Z",
        },
    ]


def test_query_all_includes_deleted(sf: Salesforce) -> None:
    soql = "SELECT Id, IsDeleted FROM Account WHERE Name = 'Acct 24'"
    assert _rows(sf.bulk2.Account.query(soql, wait=0)) == []
    (row,) = _rows(sf.bulk2.Account.query_all(soql, wait=0))
    assert row["IsDeleted"] == "true"


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT COUNT() FROM Account", "API_ERROR"),
        ("SELECT Id FROM Account LIMIT 5 OFFSET 2", "API_ERROR"),
        ("SELECT Id FROM", "MALFORMED_QUERY"),
        ("SELECT Nope__c FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM Nope", "INVALID_TYPE"),
    ],
)
def test_query_rejections(sf: Salesforce, soql: str, code: str) -> None:
    with pytest.raises(exceptions.SalesforceMalformedRequest) as info:
        list(sf.bulk2.Account.query(soql, wait=0))
    assert info.value.content[0]["errorCode"] == code


def test_query_job_state_machine_and_errors(server: SandboxServer) -> None:
    body = {"operation": "query", "query": "SELECT Id FROM Account LIMIT 3"}
    created = _raw(server, "POST", "query", json=body).json()
    assert created["state"] == "UploadComplete"
    assert created["id"].startswith("750")
    assert len(created["id"]) == 18
    job = created["id"]
    early = _raw(server, "GET", f"query/{job}/results")
    assert early.status_code == 412
    assert early.json()[0]["errorCode"] == "JOB_NOT_COMPLETE"
    assert _raw(server, "GET", f"query/{job}").json()["state"] == "InProgress"
    done = _raw(server, "GET", f"query/{job}/").json()
    assert (done["state"], done["numberRecordsProcessed"], done["jobType"]) == (
        "JobComplete",
        3,
        "V2Query",
    )
    page = _raw(server, "GET", f"query/{job}/results", params={"maxRecords": 2})
    assert page.headers["Sforce-NumberOfRecords"] == "2"
    locator = page.headers["Sforce-Locator"]
    assert locator != "null"
    last = _raw(server, "GET", f"query/{job}/results", params={"locator": locator})
    assert last.headers["Sforce-NumberOfRecords"] == "1"
    assert last.headers["Sforce-Locator"] == "null"
    assert last.headers["Sforce-Limit-Info"].startswith("api-usage=")
    bad = _raw(server, "GET", f"query/{job}/results", params={"locator": "!!"})
    assert bad.status_code == 400

    listed = _raw(server, "GET", "query").json()
    assert job in [j["id"] for j in listed["records"]]
    assert listed["done"] is True

    other = _raw(server, "POST", "query", json=body).json()["id"]
    aborted = _raw(server, "PATCH", f"query/{other}", json={"state": "Aborted"}).json()
    assert aborted["state"] == "Aborted"
    assert _raw(server, "PATCH", f"query/{job}", json={"state": "Aborted"}).status_code == 400
    assert _raw(server, "DELETE", f"query/{job}").status_code == 204
    missing = _raw(server, "GET", f"query/{job}")
    assert missing.status_code == 404
    assert missing.json()[0]["errorCode"] == "NOT_FOUND"
    assert _raw(server, "GET", "query", headers={"Authorization": "Bearer x"}).status_code == 401


# -- ingest jobs ------------------------------------------------------------------------------
def test_insert_update_delete_round_trip(sf: Salesforce, server: SandboxServer) -> None:
    org = server.org
    (inserted,) = sf.bulk2.Account.insert(
        records=[
            {
                "Name": "New A",
                "NumberOfEmployees": "7",
                "Customer_Since__c": "2024-02-01T08:00:00Z",
            },
            {"Name": "New B", "AnnualRevenue": "1500.5", "Industry": ""},
        ],
        wait=0,
    )
    assert inserted["numberRecordsProcessed"] == 2
    assert inserted["numberRecordsFailed"] == 0
    job = inserted["job_id"]
    success = _rows([sf.bulk2.Account.get_successful_records(job)])
    assert {r["sf__Created"] for r in success} == {"true"}
    by_name = {r["Name"]: r["sf__Id"] for r in success}
    row_a = org.get(by_name["New A"])
    assert row_a is not None
    assert row_a["NumberOfEmployees"] == 7
    assert row_a["Customer_Since__c"] == datetime(2024, 2, 1, 8, tzinfo=UTC)
    row_b = org.get(by_name["New B"])
    assert row_b is not None
    assert row_b["AnnualRevenue"] == 1500.5
    assert row_b.get("Industry") is None

    (updated,) = sf.bulk2.Account.update(
        records=[
            {"Id": by_name["New A"], "Industry": "Energy", "NumberOfEmployees": ""},
            {"Id": by_name["New B"], "AnnualRevenue": "#N/A"},
        ],
        wait=0,
    )
    assert (updated["numberRecordsProcessed"], updated["numberRecordsFailed"]) == (2, 0)
    assert row_a["Industry"] == "Energy"
    assert row_a["NumberOfEmployees"] == 7  # an empty cell leaves the field as it was
    assert row_b["AnnualRevenue"] is None  # #N/A sets null

    (deleted,) = sf.bulk2.Account.delete(records=[{"Id": by_name["New A"]}], wait=0)
    assert deleted["numberRecordsFailed"] == 0
    assert row_a["IsDeleted"] is True
    names = [r["Name"] for r in _rows(sf.bulk2.Account.query("SELECT Name FROM Account", wait=0))]
    assert "New A" not in names
    assert "New B" in names


def test_failed_rows_are_reported(sf: Salesforce, server: SandboxServer) -> None:
    live = next(r["Id"] for r in server.org.scan("Account"))
    deleted = next(
        r["Id"] for r in server.org.scan("Account", include_deleted=True) if r["IsDeleted"]
    )
    contact = next(r["Id"] for r in server.org.scan("Contact"))
    (result,) = sf.bulk2.Account.update(
        records=[
            {"Id": live, "NumberOfEmployees": "many"},
            {"Id": "001000000000ZZZAAA"},
            {"Id": deleted, "Name": "Back"},
            {"Id": contact, "Name": "Wrong type"},
            {"Id": live, "Name": "Renamed", "Customer_Since__c": "2024-03-01"},
        ],
        wait=0,
    )
    assert (result["numberRecordsProcessed"], result["numberRecordsFailed"]) == (5, 4)
    failed = _rows([sf.bulk2.Account.get_failed_records(result["job_id"])])
    errors = sorted(r["sf__Error"].split(":", 1)[0] for r in failed)
    assert errors == [
        "ENTITY_IS_DELETED",
        "INVALID_CROSS_REFERENCE_KEY",
        "INVALID_CROSS_REFERENCE_KEY",
        "INVALID_FIELD",
    ]
    bad_value = next(r for r in failed if r["sf__Error"].startswith("INVALID_FIELD"))
    assert "'many' is not a valid value for the type xsd:int" in bad_value["sf__Error"]
    assert bad_value["NumberOfEmployees"] == "many"
    row = server.org.get(live)
    assert row is not None
    assert row["Name"] == "Renamed"
    assert row["Customer_Since__c"] == datetime(2024, 3, 1, tzinfo=UTC)

    everything = sf.bulk2.Account.get_all_ingest_records(result["job_id"])
    assert len(everything["successfulRecords"]) == 1
    assert everything["successfulRecords"][0]["sf__Created"] == "false"
    assert len(everything["failedRecords"]) == 4
    assert everything["unprocessedRecords"] == []


def test_upsert_on_id_and_on_a_field(sf: Salesforce, server: SandboxServer) -> None:
    existing = next(r["Id"] for r in server.org.scan("Account"))
    (by_id,) = sf.bulk2.Account.upsert(
        records=[{"Id": existing, "Website": "https://a.example"}, {"Id": "", "Name": "Fresh"}],
        external_id_field="Id",
        wait=0,
    )
    assert (by_id["numberRecordsProcessed"], by_id["numberRecordsFailed"]) == (2, 0)
    created = {
        r["sf__Created"] for r in _rows([sf.bulk2.Account.get_successful_records(by_id["job_id"])])
    }
    assert created == {"true", "false"}
    row = server.org.get(existing)
    assert row is not None
    assert row["Website"] == "https://a.example"

    (by_ext,) = sf.bulk2.Account.upsert(
        records=[
            {"Ext_Id__c": "EXT-05", "NumberOfEmployees": "555"},
            {"Ext_Id__c": "EXT-99", "Name": "Brand new", "NumberOfEmployees": "1"},
            {"Ext_Id__c": "", "Name": "No key"},
        ],
        external_id_field="Ext_Id__c",
        wait=0,
    )
    assert (by_ext["numberRecordsProcessed"], by_ext["numberRecordsFailed"]) == (3, 1)
    (acct_05,) = server.org.find_by("Account", "Ext_Id__c", "EXT-05")
    row = server.org.get(acct_05)
    assert row is not None
    assert (row["Name"], row["NumberOfEmployees"]) == ("Acct 05", 555)
    (fresh,) = server.org.find_by("Account", "Ext_Id__c", "EXT-99")
    outcome = _rows([sf.bulk2.Account.get_successful_records(by_ext["job_id"])])
    assert {r["Ext_Id__c"]: (r["sf__Id"], r["sf__Created"]) for r in outcome} == {
        "EXT-05": (acct_05, "false"),
        "EXT-99": (fresh, "true"),
    }
    (failure,) = _rows([sf.bulk2.Account.get_failed_records(by_ext["job_id"])])
    assert failure["sf__Error"].startswith("MISSING_ARGUMENT:Ext_Id__c not specified")

    with pytest.raises(exceptions.SalesforceMalformedRequest) as info:
        sf.bulk2.Account.upsert(records=[{"Name": "x"}], external_id_field="Name", wait=0)
    assert info.value.content[0]["errorCode"] == "INVALIDJOB"


def test_secured_fields_need_a_grant(sf: Salesforce) -> None:
    with pytest.raises(exceptions.SalesforceOperationError, match="Field name not found"):
        sf.bulk2.Account.insert(records=[{"Name": "x", "Secret__c": "1"}], wait=0)
    with pytest.raises(exceptions.SalesforceMalformedRequest) as info:
        list(sf.bulk2.Account.query("SELECT Secret__c FROM Account", wait=0))
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD"
    rows = _rows(
        sf.bulk2.Account.query("SELECT Ext_Id__c FROM Account WHERE Name = 'Acct 07'", wait=0)
    )
    assert rows == [{"Ext_Id__c": "EXT-07"}]


def test_hard_delete_removes_the_row(sf: Salesforce, server: SandboxServer) -> None:
    victim = next(r["Id"] for r in server.org.scan("Contact"))
    (result,) = sf.bulk2.Contact.hard_delete(records=[{"Id": victim}], wait=0)
    assert result["numberRecordsFailed"] == 0
    assert server.org.get(victim) is None


def test_ingest_job_failures_and_raw_endpoints(server: SandboxServer) -> None:
    body = {"operation": "insert", "object": "Account", "contentType": "CSV", "lineEnding": "CRLF",
            "columnDelimiter": "SEMICOLON"}  # fmt: skip
    job = _raw(server, "POST", "ingest", json=body).json()
    assert job["state"] == "Open"
    assert job["contentUrl"] == f"services/data/v59.0/jobs/ingest/{job['id']}/batches"
    upload = _raw(
        server,
        "PUT",
        f"ingest/{job['id']}/batches",
        data=b"NumberOfEmployees;Name\r\n3;Semi Colon\r\n",
        headers={"Content-Type": "text/csv"},
    )
    assert upload.status_code == 201
    closed = _raw(server, "PATCH", f"ingest/{job['id']}", json={"state": "UploadComplete"})
    assert closed.json()["state"] == "UploadComplete"
    assert _raw(server, "GET", f"ingest/{job['id']}").json()["state"] == "InProgress"
    info = _raw(server, "GET", f"ingest/{job['id']}").json()
    assert (info["state"], info["numberRecordsProcessed"]) == ("JobComplete", 1)
    assert server.org.find_by("Account", "Name", "Semi Colon")
    ok = _raw(server, "GET", f"ingest/{job['id']}/SUCCESSFULRESULTS/").text
    assert ok.splitlines()[0] == '"sf__Id";"sf__Created";"NumberOfEmployees";"Name"'

    unknown = _raw(server, "POST", "ingest", json={**body, "columnDelimiter": "COMMA"}).json()
    _raw(
        server,
        "PUT",
        f"ingest/{unknown['id']}/batches",
        data=b"Name,Bogus__c\nA,1\n",
        headers={"Content-Type": "text/csv"},
    )
    _raw(server, "PATCH", f"ingest/{unknown['id']}", json={"state": "UploadComplete"})
    failed = _raw(server, "GET", f"ingest/{unknown['id']}").json()
    assert failed["state"] == "Failed"
    assert "Bogus__c" in failed["errorMessage"]
    unprocessed = _raw(server, "GET", f"ingest/{unknown['id']}/unprocessedrecords").text
    assert unprocessed.splitlines() == ['"Name","Bogus__c"', '"A","1"']

    no_ext = _raw(server, "POST", "ingest", json={"operation": "upsert", "object": "Account"})
    assert no_ext.status_code == 400
    bad_object = _raw(server, "POST", "ingest", json={"operation": "insert", "object": "Nope"})
    assert bad_object.json()[0]["errorCode"] == "INVALIDENTITY"
    assert _raw(server, "GET", "ingest").json()["records"]


def test_failing_job_raises_in_client(sf: Salesforce) -> None:
    with pytest.raises(exceptions.SalesforceOperationError, match="Field name not found"):
        sf.bulk2.Account.insert(records=[{"Name": "x", "Nope__c": "1"}], wait=0)


def test_typed_conversions(sf: Salesforce, server: SandboxServer) -> None:
    (result,) = sf.bulk2.Contact.insert(
        records=[{"LastName": "Typed", "Became_Customer_At__c": "2024-05-01T12:00:00+02:00"}],
        wait=0,
    )
    assert result["numberRecordsFailed"] == 0
    (contact_id,) = server.org.find_by("Contact", "LastName", "Typed")
    row = server.org.get(contact_id)
    assert row is not None
    assert row["Became_Customer_At__c"] == datetime(2024, 5, 1, 10, tzinfo=UTC)
    (closed,) = sf.bulk2.Opportunity.insert(
        records=[
            {
                "Name": "Deal",
                "StageName": "Closed Won",
                "CloseDate": "2024-06-30",
                "Probability": "50",
            },
            {"Name": "No stage", "CloseDate": "2024-06-30"},
            {
                "Name": "Derived",
                "StageName": "Prospecting",
                "CloseDate": "2024-06-30",
                "IsWon": "true",
            },
        ],
        wait=0,
    )
    assert (closed["numberRecordsProcessed"], closed["numberRecordsFailed"]) == (3, 2)
    (opp_id,) = server.org.find_by("Opportunity", "Name", "Deal")
    opp = server.org.get(opp_id)
    assert opp is not None
    assert (opp["CloseDate"], opp["IsWon"], opp["Probability"]) == (date(2024, 6, 30), True, 50.0)
    errors = sorted(
        r["sf__Error"] for r in _rows([sf.bulk2.Opportunity.get_failed_records(closed["job_id"])])
    )
    assert errors[0].startswith(
        "INVALID_FIELD_FOR_INSERT_UPDATE:Unable to create/update fields: IsWon"
    )
    assert (
        errors[1] == "REQUIRED_FIELD_MISSING:Required fields are missing: [StageName]:StageName --"
    )
