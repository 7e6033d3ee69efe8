"""sObject REST resources of the Salesforce emulator, driven by simple-salesforce over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import requests
from simple_salesforce import Salesforce, exceptions

from crmpulse_salesforce.sandbox.org import Org
from crmpulse_salesforce.sandbox.server import SandboxServer
from sfhelp import client

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    org = Org()
    account = org.insert("Account", {"Name": "Acme", "Industry": "Tech"}, created=T0)
    org.insert("Contact", {"FirstName": "Ada", "LastName": "Lovelace", "AccountId": account})
    with SandboxServer(org) as srv:
        yield srv


@pytest.fixture
def sf(server: SandboxServer) -> Salesforce:
    return client(server)


def _raw(server: SandboxServer, method: str, path: str, **kwargs: object) -> requests.Response:
    headers = {"Authorization": f"Bearer {server.session_token}"}
    url = f"{server.base_url}/services/data/v59.0/{path}"
    return requests.request(method, url, headers=headers, timeout=10, **kwargs)  # type: ignore[arg-type]


def test_describe_global(sf: Salesforce) -> None:
    body = sf.describe()
    assert body["maxBatchSize"] == 200
    assert body["encoding"] == "UTF-8"
    account = next(s for s in body["sobjects"] if s["name"] == "Account")
    assert account["keyPrefix"] == "001"
    assert account["label"] == "Account"
    assert account["custom"] is False
    assert account["queryable"]
    assert account["updateable"]
    assert account["createable"]
    assert account["urls"]["describe"] == "/services/data/v59.0/sobjects/Account/describe"
    survey = next(s for s in body["sobjects"] if s["name"] == "SurveyResponse")
    assert survey["createable"] is False


def test_metadata_and_describe(sf: Salesforce) -> None:
    meta = sf.Account.metadata()
    assert meta["objectDescribe"]["name"] == "Account"
    assert meta["recentItems"][0]["Name"] == "Acme"
    described = sf.Contact.describe()
    fields = {f["name"]: f for f in described["fields"]}
    assert fields["AccountId"]["type"] == "reference"
    assert fields["AccountId"]["referenceTo"] == ["Account"]
    assert fields["AccountId"]["relationshipName"] == "Account"
    assert fields["AccountId"]["label"] == "Account ID"
    assert fields["LastName"]["nillable"] is False
    assert fields["Name"]["updateable"] is False
    assert fields["Id"]["createable"] is False
    assert fields["Email"]["length"] == 80
    assert fields["Lifecycle_Stage__c"]["custom"] is True
    children = {
        (c["childSObject"], c["field"]): c["relationshipName"]
        for c in sf.Account.describe()["childRelationships"]
    }
    assert children[("Contact", "AccountId")] == "Contacts"
    assert children[("Opportunity", "AccountId")] == "Opportunities"
    currency = next(f for f in sf.Opportunity.describe()["fields"] if f["name"] == "Amount")
    assert (currency["precision"], currency["scale"]) == (18, 2)


def test_create_get_update_delete(sf: Salesforce) -> None:
    created = sf.Account.create(
        {
            "Name": "Globex",
            "AnnualRevenue": 1500,
            "Customer_Since__c": "2023-05-01T09:30:00.000+0000",
        }
    )
    assert created["success"] is True
    assert created["errors"] == []
    account_id = created["id"]
    assert account_id.startswith("001")
    assert len(account_id) == 18

    got = sf.Account.get(account_id)
    assert got["attributes"]["url"] == f"/services/data/v59.0/sobjects/Account/{account_id}"
    assert got["Name"] == "Globex"
    assert got["AnnualRevenue"] == 1500.0
    assert got["Customer_Since__c"] == "2023-05-01T09:30:00.000+0000"
    assert got["OwnerId"].startswith("005")

    assert sf.Account.update(account_id, {"Industry": "Energy"}) == 204
    assert sf.Account.get(account_id)["Industry"] == "Energy"
    # written values compare as typed values in SOQL
    result = sf.query(
        "SELECT Id FROM Account WHERE Customer_Since__c > 2023-01-01T00:00:00Z "
        "AND AnnualRevenue >= 1000"
    )
    assert [r["Id"] for r in result["records"]] == [account_id]

    assert sf.Account.delete(account_id) == 204
    with pytest.raises(exceptions.SalesforceResourceNotFound) as info:
        sf.Account.get(account_id)
    assert info.value.content == [
        {"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}
    ]
    deleted = sf.query_all(
        f"SELECT Id FROM Account WHERE Id = '{account_id}'", include_deleted=True
    )
    assert deleted["totalSize"] == 1
    with pytest.raises(exceptions.SalesforceResourceNotFound) as info:
        sf.Account.delete(account_id)
    assert info.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"


def test_get_with_fields_and_unknown(sf: Salesforce, server: SandboxServer) -> None:
    account_id = sf.query("SELECT Id FROM Account")["records"][0]["Id"]
    got = sf.Account.get(account_id, params={"fields": "Name,Industry"})
    assert set(got) == {"attributes", "Name", "Industry"}
    with pytest.raises(exceptions.SalesforceMalformedRequest) as bad:
        sf.Account.get(account_id, params={"fields": "Nope__c"})
    assert bad.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(exceptions.SalesforceResourceNotFound):
        sf.Account.get("001000000000999AAA")
    with pytest.raises(exceptions.SalesforceResourceNotFound):
        sf.Contact.get(account_id)
    assert _raw(server, "GET", "sobjects/Nope__c/describe").status_code == 404


def test_date_and_boolean_conversion(sf: Salesforce) -> None:
    opp = sf.Opportunity.create(
        {"Name": "Deal", "StageName": "Closed Won", "CloseDate": "2024-03-31", "Amount": "2500.5"}
    )
    got = sf.Opportunity.get(opp["id"])
    assert got["CloseDate"] == "2024-03-31"
    assert got["Amount"] == 2500.5
    assert got["IsClosed"] is True
    assert got["IsWon"] is True
    found = sf.query("SELECT Id FROM Opportunity WHERE CloseDate = 2024-03-31 AND IsWon = true")
    assert found["totalSize"] == 1
    case = sf.Case.create({"Subject": "Help", "Status": "New", "IsEscalated": "true"})
    row = sf.Case.get(case["id"])
    assert row["IsEscalated"] is True
    assert row["CaseNumber"] == "00000001"
    sf.Case.update(case["id"], {"Status": "Closed"})
    closed = sf.Case.get(case["id"])
    assert closed["IsClosed"] is True
    assert closed["ClosedDate"] is not None


def test_write_validation_errors(sf: Salesforce, server: SandboxServer) -> None:
    with pytest.raises(exceptions.SalesforceMalformedRequest) as info:
        sf.Account.create({"Name": "X", "Bogus__c": 1})
    assert info.value.content == [
        {
            "message": "No such column 'Bogus__c' on sobject of type Account",
            "errorCode": "INVALID_FIELD",
        }
    ]
    with pytest.raises(exceptions.SalesforceMalformedRequest) as info:
        sf.Account.create({"Industry": "Tech"})
    assert info.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert info.value.content[0]["fields"] == ["Name"]
    with pytest.raises(exceptions.SalesforceMalformedRequest) as info:
        sf.Opportunity.create({"Name": "x"})
    assert info.value.content[0]["fields"] == ["StageName", "CloseDate"]
    assert sf.Case.create({"Subject": "no required fields"})["success"] is True
    contact_id = sf.query("SELECT Id FROM Contact")["records"][0]["Id"]
    for field, value in (
        ("Name", "Ada L"),
        ("CreatedDate", "2020-01-01T00:00:00Z"),
        ("Id", contact_id),
    ):
        with pytest.raises(exceptions.SalesforceMalformedRequest) as info:
            sf.Contact.update(contact_id, {field: value})
        assert info.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
        assert info.value.content[0]["fields"] == [field]
    with pytest.raises(exceptions.SalesforceMalformedRequest) as info:
        sf.Contact.update(contact_id, {"LastName": None})
    assert info.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    with pytest.raises(exceptions.SalesforceMalformedRequest) as info:
        sf.Opportunity.create({"Name": "x", "StageName": "New", "CloseDate": "soon"})
    assert info.value.content[0]["errorCode"] == "JSON_PARSER_ERROR"
    with pytest.raises(exceptions.SalesforceMalformedRequest) as info:
        sf.Account.create({"Name": "x" * 300})
    assert info.value.content[0]["errorCode"] == "STRING_TOO_LONG"
    bad = _raw(server, "POST", "sobjects/Account", data="{not json")
    assert bad.status_code == 400
    assert bad.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    read_only = _raw(server, "POST", "sobjects/SurveyResponse", json={"Name": "x"})
    assert read_only.status_code == 400
    assert read_only.json()[0]["errorCode"] == "INVALID_TYPE_FOR_OPERATION"
    with pytest.raises(exceptions.SalesforceResourceNotFound):
        sf.Account.update("001000000000999AAA", {"Name": "x"})


def test_upsert_by_external_id(sf: Salesforce, server: SandboxServer) -> None:
    response = _raw(
        server,
        "POST",
        "tooling/sobjects/CustomField",
        json={
            "FullName": "Account.Ext_Key__c",
            "Metadata": {"label": "Ext", "type": "Text", "length": 40, "externalId": True},
        },
    )
    assert response.status_code == 201
    org = server.org
    org.enforce_field_security = False
    assert sf.Account.upsert("Ext_Key__c/K-1", {"Name": "Initech"}) == 201
    assert sf.Account.upsert("Ext_Key__c/K-1", {"Name": "Initech 2"}) == 200
    raw = _raw(server, "PATCH", "sobjects/Account/Ext_Key__c/K-2", json={"Name": "Hooli"})
    assert raw.status_code == 201
    body = raw.json()
    assert body["created"] is True
    assert body["success"] is True
    assert body["errors"] == []
    again = _raw(server, "PATCH", "sobjects/Account/Ext_Key__c/K-2", json={"Name": "Hooli"})
    assert again.status_code == 200
    assert again.json()["created"] is False
    got = sf.Account.get_by_custom_id("Ext_Key__c", "K-1")
    assert got["Name"] == "Initech 2"

    other = org.insert("Account", {"Name": "Dup", "Ext_Key__c": "K-1"})
    assert other
    with pytest.raises(exceptions.SalesforceMoreThanOneRecord) as many:
        sf.Account.upsert("Ext_Key__c/K-1", {"Name": "x"})
    assert len(many.value.content) == 2
    with pytest.raises(exceptions.SalesforceMoreThanOneRecord):
        sf.Account.get_by_custom_id("Ext_Key__c", "K-1")

    with pytest.raises(exceptions.SalesforceMalformedRequest) as info:
        sf.Account.upsert("Industry/Tech", {"Name": "x"})
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(exceptions.SalesforceResourceNotFound):
        sf.Account.upsert("Missing__c/1", {"Name": "x"})
    only = _raw(
        server, "PATCH", "sobjects/Account/Ext_Key__c/K-9?updateOnly=true", json={"Name": "x"}
    )
    assert only.status_code == 404
    account_id = got["Id"]
    by_id = _raw(server, "PATCH", f"sobjects/Account/Id/{account_id}", json={"Industry": "Retail"})
    assert by_id.status_code == 200
    assert sf.Account.get(account_id)["Industry"] == "Retail"


def test_updated_and_deleted(sf: Salesforce) -> None:
    start = datetime.now(UTC) - timedelta(minutes=1)
    first = sf.Account.create({"Name": "Fresh"})["id"]
    sf.Account.delete(first)
    end = datetime.now(UTC) + timedelta(minutes=1)
    updated = sf.Account.updated(start, end)
    assert first not in updated["ids"]
    deleted = sf.Account.deleted(start, end)
    assert [d["id"] for d in deleted["deletedRecords"]] == [first]
    assert date.fromisoformat(deleted["latestDateCovered"][:10]) >= start.date()
