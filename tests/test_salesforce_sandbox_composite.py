"""sObject Collections of the Salesforce emulator, driven by simple-salesforce over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce, exceptions

from crmpulse_salesforce.sandbox.org import Org
from crmpulse_salesforce.sandbox.schema import custom_field
from crmpulse_salesforce.sandbox.server import SandboxServer
from sfhelp import client


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    org = Org(enforce_field_security=False)
    org.add_custom_field(
        "Account", custom_field("Ext_Key__c", {"type": "Text", "length": 40, "externalId": True})
    )
    with SandboxServer(org) as srv:
        yield srv


@pytest.fixture
def sf(server: SandboxServer) -> Salesforce:
    return client(server)


def _accounts(*names: str) -> list[dict[str, Any]]:
    return [{"attributes": {"type": "Account"}, "Name": n} for n in names]


def _count(sf: Salesforce, soql: str = "SELECT COUNT() FROM Account") -> int:
    return int(sf.query(soql)["totalSize"])


def test_create_update_delete_in_request_order(sf: Salesforce, server: SandboxServer) -> None:
    records = [*_accounts("A", "B"), {"attributes": {"type": "Contact"}, "LastName": "Ng"}]
    records.insert(1, {"attributes": {"type": "Account"}, "Industry": "no name"})
    before = server.state.api_usage
    results = sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": False, "records": records}
    )
    assert server.state.api_usage == before + 1
    assert [r["success"] for r in results] == [True, False, True, True]
    assert results[1] == {
        "success": False,
        "errors": [
            {
                "statusCode": "REQUIRED_FIELD_MISSING",
                "message": "Required fields are missing: [Name]",
                "fields": ["Name"],
            }
        ],
    }
    assert results[3]["id"].startswith("003")
    ids = [results[0]["id"], results[2]["id"]]

    update = [
        {"attributes": {"type": "Account"}, "Id": ids[0], "Industry": "Tech"},
        {"attributes": {"type": "Account"}, "Industry": "no id"},
        {"attributes": {"type": "Account"}, "Id": ids[1], "CreatedDate": "2020-01-01T00:00:00Z"},
    ]
    results = sf.restful("composite/sobjects", method="PATCH", json={"records": update})
    assert results[0] == {"id": ids[0], "success": True, "errors": []}
    assert results[1]["errors"][0]["statusCode"] == "MISSING_ARGUMENT"
    assert results[2]["errors"][0]["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert sf.Account.get(ids[0])["Industry"] == "Tech"

    results = sf.restful(
        "composite/sobjects",
        method="DELETE",
        params={"ids": f"{ids[0]},001000000000999AAA", "allOrNone": "false"},
    )
    assert results[0] == {"id": ids[0], "success": True, "errors": []}
    assert results[1]["success"] is False
    assert _count(sf) == 1


def test_all_or_none_rolls_back(sf: Salesforce) -> None:
    existing = sf.Account.create({"Name": "Keep"})["id"]
    records = [
        {"attributes": {"type": "Account"}, "Id": existing, "Name": "Changed"},
        {"attributes": {"type": "Account"}, "Id": existing, "Name": None},
    ]
    results = sf.restful(
        "composite/sobjects", method="PATCH", json={"allOrNone": True, "records": records}
    )
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert sf.Account.get(existing)["Name"] == "Keep"

    creates = [*_accounts("New 1"), {"attributes": {"type": "Account"}}]
    results = sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": True, "records": creates}
    )
    assert [r["success"] for r in results] == [False, False]
    assert _count(sf) == 1
    deleted = sf.restful(
        "composite/sobjects",
        method="DELETE",
        params={"ids": f"{existing},001000000000999AAA", "allOrNone": "true"},
    )
    assert deleted[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert _count(sf) == 1


def test_upsert_collection(sf: Salesforce) -> None:
    records = [
        {"attributes": {"type": "Account"}, "Ext_Key__c": "E1", "Name": "One"},
        {"attributes": {"type": "Account"}, "Ext_Key__c": "E2", "Name": "Two"},
    ]
    first = sf.restful(
        "composite/sobjects/Account/Ext_Key__c",
        method="PATCH",
        json={"allOrNone": False, "records": records},
    )
    assert [r["created"] for r in first] == [True, True]
    records[0]["Name"] = "One again"
    records.append({"attributes": {"type": "Account"}, "Name": "No key"})
    second = sf.restful(
        "composite/sobjects/Account/Ext_Key__c",
        method="PATCH",
        json={"allOrNone": False, "records": records},
    )
    assert second[0]["created"] is False
    assert second[0]["id"] == first[0]["id"]
    assert second[2]["success"] is False
    assert sf.Account.get(first[0]["id"])["Name"] == "One again"
    with pytest.raises(exceptions.SalesforceMalformedRequest) as info:
        sf.restful("composite/sobjects/Account/Name", method="PATCH", json={"records": records})
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_retrieve(sf: Salesforce) -> None:
    ids = [
        r["id"]
        for r in sf.restful(
            "composite/sobjects", method="POST", json={"records": _accounts("R1", "R2")}
        )
    ]
    got = sf.restful(
        "composite/sobjects/Account",
        params={"ids": ",".join([*ids, "001000000000999AAA"]), "fields": "Id,Name"},
    )
    assert [r["Name"] for r in got[:2]] == ["R1", "R2"]
    assert got[2] is None
    assert set(got[0]) == {"attributes", "Id", "Name"}
    posted = sf.restful(
        "composite/sobjects/Account", method="POST", json={"ids": ids[:1], "fields": ["Name"]}
    )
    assert posted == [
        {
            "attributes": {
                "type": "Account",
                "url": f"/services/data/v59.0/sobjects/Account/{ids[0]}",
            },
            "Name": "R1",
        }
    ]


def test_record_limit_and_bad_body(sf: Salesforce, server: SandboxServer) -> None:
    with pytest.raises(exceptions.SalesforceMalformedRequest) as info:
        sf.restful(
            "composite/sobjects",
            method="POST",
            json={"records": _accounts(*(f"n{i}" for i in range(201)))},
        )
    assert info.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    results = sf.restful(
        "composite/sobjects",
        method="POST",
        json={"records": _accounts(*(f"n{i}" for i in range(200)))},
    )
    assert len(results) == 200
    assert all(r["success"] for r in results)
    with pytest.raises(exceptions.SalesforceMalformedRequest) as info:
        sf.restful(
            "composite/sobjects",
            method="POST",
            json={"records": [{"attributes": {"type": "Account"}, "Nope": 1}]},
        )
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD"
    raw = requests.post(
        f"{server.base_url}/services/data/v59.0/composite/sobjects",
        data="[",
        headers={"Authorization": f"Bearer {server.session_token}"},
        timeout=10,
    )
    assert raw.status_code == 400
    assert raw.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


def test_unable_to_lock_row_fault(sf: Salesforce, server: SandboxServer) -> None:
    armed = requests.post(
        f"{server.base_url}/_sandbox/faults",
        json={"kind": "unable_to_lock_row", "count": 2},
        timeout=10,
    )
    assert armed.status_code == 201
    results = sf.restful(
        "composite/sobjects", method="POST", json={"records": _accounts("L1", "L2", "L3")}
    )
    assert [r["success"] for r in results] == [False, False, True]
    assert results[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert results[0]["errors"][0]["message"].startswith("unable to obtain exclusive access")
    again = sf.restful("composite/sobjects", method="POST", json={"records": _accounts("L1", "L2")})
    assert all(r["success"] for r in again)


def test_rolled_back_upsert_leaves_no_key_behind(sf: Salesforce, server: SandboxServer) -> None:
    records = [
        {"attributes": {"type": "Account"}, "Ext_Key__c": "R1", "Name": "One"},
        {"attributes": {"type": "Account"}, "Ext_Key__c": "R2"},
    ]
    path = "composite/sobjects/Account/Ext_Key__c"
    failed = sf.restful(path, method="PATCH", json={"allOrNone": True, "records": records})
    assert [r["success"] for r in failed] == [False, False]
    assert server.org.find_by("Account", "Ext_Key__c", "R1") == []
    records[1]["Name"] = "Two"
    done = sf.restful(path, method="PATCH", json={"allOrNone": True, "records": records})
    assert [r["created"] for r in done] == [True, True]
    records[0]["Ext_Key__c"] = "R1-renamed"
    sf.Account.update(done[0]["id"], {"Ext_Key__c": "R1-renamed"})
    assert server.org.find_by("Account", "Ext_Key__c", "R1") == []
    assert server.org.find_by("Account", "Ext_Key__c", "R1-renamed") == [done[0]["id"]]
