"""Tooling API custom fields and objects, and field-level security, in the Salesforce emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from simple_salesforce import Salesforce, exceptions

from crmpulse_salesforce.sandbox.org import Org
from crmpulse_salesforce.sandbox.server import SandboxServer
from sfhelp import client

NPS = {
    "FullName": "Account.NPS__c",
    "Metadata": {
        "label": "NPS",
        "type": "Number",
        "precision": 5,
        "scale": 1,
        "description": "KPI",
    },
}


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    org = Org()
    org.insert("Account", {"Name": "Acme"})
    with SandboxServer(org) as srv:
        yield srv


@pytest.fixture
def sf(server: SandboxServer) -> Salesforce:
    return client(server)


def _tooling(sf: Salesforce, action: str, method: str = "GET", data: Any = None) -> Any:
    return sf.toolingexecute(action, method=method, data=data)


def _grant(sf: Salesforce, field: str, *, edit: bool = True) -> str:
    permission_set = sf.query("SELECT Id FROM PermissionSet WHERE Name = 'CrmPulse_Integration'")
    (row,) = permission_set["records"]
    result = sf.FieldPermissions.create(
        {
            "ParentId": row["Id"],
            "SobjectType": field.split(".", maxsplit=1)[0],
            "Field": field,
            "PermissionsRead": True,
            "PermissionsEdit": edit,
        }
    )
    assert result["success"] is True
    return str(result["id"])


def test_create_custom_field(sf: Salesforce) -> None:
    created = _tooling(sf, "sobjects/CustomField", "POST", NPS)
    assert created["success"] is True
    assert created["id"].startswith("00N")
    assert created["errors"] == created["warnings"] == created["infos"] == []
    with pytest.raises(exceptions.SalesforceMalformedRequest) as info:
        _tooling(sf, "sobjects/CustomField", "POST", NPS)
    assert info.value.content[0]["errorCode"] == "DUPLICATE_DEVELOPER_NAME"
    with pytest.raises(exceptions.SalesforceMalformedRequest) as info:
        _tooling(
            sf,
            "sobjects/CustomField",
            "POST",
            {"FullName": "Account.Bad__c", "Metadata": {"label": "Bad", "type": "Number"}},
        )
    assert info.value.content[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"

    found = _tooling(
        sf,
        "query/?q=SELECT Id, DeveloperName, TableEnumOrId FROM CustomField "
        "WHERE TableEnumOrId = 'Account' AND DeveloperName = 'NPS'",
    )
    assert found["totalSize"] == 1
    record = found["records"][0]
    assert record["Id"] == created["id"]
    assert record["attributes"]["url"].startswith(
        "/services/data/v59.0/tooling/sobjects/CustomField/"
    )
    seeded = _tooling(
        sf, "query/?q=SELECT DeveloperName FROM CustomField WHERE TableEnumOrId = 'Case'"
    )
    assert [r["DeveloperName"] for r in seeded["records"]] == ["First_Response"]
    one = _tooling(sf, f"sobjects/CustomField/{created['id']}")
    assert one["FullName"] == "Account.NPS__c"
    assert one["Metadata"]["precision"] == 5
    relabel = {"Metadata": {**NPS["Metadata"], "label": "Net Promoter", "precision": 4}}
    _tooling(sf, f"sobjects/CustomField/{created['id']}", "PATCH", relabel)
    assert _tooling(sf, f"sobjects/CustomField/{created['id']}")["Precision"] == 4


def test_field_security_hides_new_fields_until_granted(sf: Salesforce) -> None:
    _tooling(sf, "sobjects/CustomField", "POST", NPS)
    account_id = sf.query("SELECT Id FROM Account")["records"][0]["Id"]
    with pytest.raises(exceptions.SalesforceMalformedRequest) as info:
        sf.query("SELECT NPS__c FROM Account")
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(exceptions.SalesforceMalformedRequest) as info:
        sf.Account.update(account_id, {"NPS__c": 42})
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert "NPS__c" not in {f["name"] for f in sf.Account.describe()["fields"]}
    # seeded custom fields are visible
    sf.query("SELECT Customer_Segment__c FROM Account")

    grant = _grant(sf, "Account.NPS__c", edit=False)
    assert sf.query("SELECT NPS__c FROM Account")["records"][0]["NPS__c"] is None
    with pytest.raises(exceptions.SalesforceMalformedRequest) as info:
        sf.Account.update(account_id, {"NPS__c": 42})
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"

    with pytest.raises(exceptions.SalesforceMalformedRequest) as info:
        _grant(sf, "Account.NPS__c", edit=True)
    assert info.value.content[0]["errorCode"] == "DUPLICATE_VALUE"
    assert sf.FieldPermissions.update(grant, {"PermissionsEdit": True}) == 204
    assert sf.Account.update(account_id, {"NPS__c": 42.5}) == 204
    result = sf.query("SELECT Id, NPS__c FROM Account WHERE NPS__c > 40")
    assert result["records"][0]["NPS__c"] == 42.5
    field = next(f for f in sf.Account.describe()["fields"] if f["name"] == "NPS__c")
    assert field["custom"] is True
    assert field["type"] == "double"
    assert (field["precision"], field["scale"], field["label"]) == (5, 1, "NPS")


def test_field_permission_validation(sf: Salesforce) -> None:
    permission_set = sf.query("SELECT Id FROM PermissionSet")["records"][0]["Id"]
    with pytest.raises(exceptions.SalesforceMalformedRequest) as info:
        sf.FieldPermissions.create(
            {"ParentId": permission_set, "SobjectType": "Account", "Field": "Account.Nope__c",
             "PermissionsRead": True}
        )  # fmt: skip
    assert info.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


def test_security_can_be_switched_off() -> None:
    with SandboxServer(Org(), enforce_field_security=False) as server:
        sf = Salesforce(
            instance_url=server.base_url,
            session_id=server.session_token,
            session=server.http_session(),
        )
        _tooling(sf, "sobjects/CustomField", "POST", NPS)
        assert sf.query("SELECT COUNT() FROM Account WHERE NPS__c = null")["totalSize"] == 0


def test_custom_object(sf: Salesforce) -> None:
    created = _tooling(
        sf,
        "sobjects/CustomObject",
        "POST",
        {
            "FullName": "Relationship_KPI__c",
            "Metadata": {
                "label": "Relationship KPI",
                "pluralLabel": "Relationship KPIs",
                "nameField": {
                    "type": "AutoNumber",
                    "label": "KPI #",
                    "displayFormat": "KPI-{0000}",
                },
                "deploymentStatus": "Deployed",
                "sharingModel": "ReadWrite",
            },
        },
    )
    assert created["id"].startswith("01I")
    for name, meta in (
        (
            "Snapshot_Key__c",
            {"label": "Key", "type": "Text", "length": 80, "externalId": True, "unique": True},
        ),
        ("Value__c", {"label": "Value", "type": "Number", "precision": 18, "scale": 4}),
        ("Period_End__c", {"label": "Period end", "type": "Date"}),
    ):
        _tooling(
            sf,
            "sobjects/CustomField",
            "POST",
            {"FullName": f"Relationship_KPI__c.{name}", "Metadata": meta},
        )
        _grant(sf, f"Relationship_KPI__c.{name}")
    permission_set = sf.query("SELECT Id FROM PermissionSet")["records"][0]["Id"]
    sf.ObjectPermissions.create(
        {"ParentId": permission_set, "SobjectType": "Relationship_KPI__c", "PermissionsRead": True,
         "PermissionsCreate": True, "PermissionsEdit": True, "PermissionsDelete": True}
    )  # fmt: skip

    entry = next(s for s in sf.describe()["sobjects"] if s["name"] == "Relationship_KPI__c")
    assert entry["custom"] is True
    assert entry["keyPrefix"].startswith("a0")
    assert entry["labelPlural"] == "Relationship KPIs"
    kpi = sf.Relationship_KPI__c
    assert (
        kpi.upsert(
            "Snapshot_Key__c/acme-nps-2024", {"Value__c": 31.5, "Period_End__c": "2024-03-31"}
        )
        == 201
    )
    assert kpi.upsert("Snapshot_Key__c/acme-nps-2024", {"Value__c": 33}) == 200
    rows = sf.query(
        "SELECT Name, Value__c, OwnerId FROM Relationship_KPI__c WHERE Period_End__c = 2024-03-31"
    )["records"]
    assert [(r["Name"], r["Value__c"]) for r in rows] == [("KPI-0001", 33.0)]
    with pytest.raises(exceptions.SalesforceMalformedRequest) as info:
        kpi.create({"Name": "x", "Snapshot_Key__c": "k"})
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    fields = _tooling(
        sf,
        f"query/?q=SELECT DeveloperName FROM CustomField WHERE TableEnumOrId = '{created['id']}'",
    )
    assert fields["totalSize"] == 3
    objects = _tooling(sf, "query/?q=SELECT DeveloperName FROM CustomObject")
    assert [r["DeveloperName"] for r in objects["records"]] == ["Relationship_KPI"]
    with pytest.raises(exceptions.SalesforceMalformedRequest) as info:
        _tooling(
            sf,
            "sobjects/CustomObject",
            "POST",
            {"FullName": "Relationship_KPI__c", "Metadata": {"nameField": {"type": "Text"}}},
        )
    assert info.value.content[0]["errorCode"] == "DUPLICATE_DEVELOPER_NAME"
