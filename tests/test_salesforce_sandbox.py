"""The Salesforce emulator driven by the real simple-salesforce client over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
from simple_salesforce import Salesforce, exceptions

from crmpulse_salesforce.sandbox.org import Org, case_safe_id
from crmpulse_salesforce.sandbox.server import SandboxServer
from sfhelp import client

T0 = datetime(2024, 1, 1, tzinfo=UTC)
N_ACCOUNTS = 2500


def _org() -> Org:
    org = Org()
    ids = [
        org.insert(
            "Account",
            {"Name": f"Account {i:04d}", "Industry": "Tech" if i % 2 else "Retail"},
            created=T0 + timedelta(minutes=i),
        )
        for i in range(N_ACCOUNTS)
    ]
    contact = org.insert("Contact", {"LastName": "Lovelace", "AccountId": ids[0]}, created=T0)
    org.insert(
        "Case",
        {
            "Subject": "Broken",
            "AccountId": ids[0],
            "ContactId": contact,
            "First_Response__c": T0 + timedelta(hours=2),
        },
        created=T0,
    )
    org.delete(ids[1], when=T0 + timedelta(days=1))
    org.delete(ids[2], when=T0 + timedelta(days=1))
    return org


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(_org(), security_token="TOK") as srv:
        yield srv


@pytest.fixture
def sf(server: SandboxServer) -> Salesforce:
    return client(server)


def test_ids_are_18_char_case_safe() -> None:
    org = _org()
    account_id = next(iter(org.rows["Account"]))
    assert len(account_id) == 18
    assert account_id.startswith("001")
    assert case_safe_id(account_id[:15]) == account_id
    assert case_safe_id("001A0000006Vm9r") == "001A0000006Vm9rIAC"


def test_query_single_page_shape(sf: Salesforce) -> None:
    result = sf.query("SELECT Id, Subject, First_Response__c, Account.Name FROM Case")
    assert result["totalSize"] == 1
    assert result["done"] is True
    assert "nextRecordsUrl" not in result
    (record,) = result["records"]
    assert record["attributes"]["type"] == "Case"
    assert record["attributes"]["url"] == f"/services/data/v59.0/sobjects/Case/{record['Id']}"
    assert record["First_Response__c"] == "2024-01-01T02:00:00.000+0000"
    assert record["Account"]["Name"] == "Account 0000"
    assert record["Account"]["attributes"]["type"] == "Account"
    assert "Id" not in record["Account"]


def test_query_pages_with_next_records_url(sf: Salesforce) -> None:
    first = sf.query("SELECT Name FROM Account")
    assert first["totalSize"] == N_ACCOUNTS - 2
    assert first["done"] is False
    assert len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/")
    assert first["nextRecordsUrl"].endswith("-2000")
    assert "Id" not in first["records"][0]
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert second["done"] is True
    assert len(second["records"]) == N_ACCOUNTS - 2 - 2000


def test_query_all_follows_pages_and_batch_size(sf: Salesforce) -> None:
    everything = sf.query_all("SELECT Id, Name FROM Account ORDER BY Name DESC")
    assert everything["totalSize"] == N_ACCOUNTS - 2
    names = [r["Name"] for r in everything["records"]]
    assert len(names) == N_ACCOUNTS - 2
    assert names == sorted(names, reverse=True)
    assert "Account 0001" not in names

    pages = sf.query("SELECT Id FROM Account", headers={"Sforce-Query-Options": "batchSize=500"})
    assert len(pages["records"]) == 500
    small = sf.query("SELECT Id FROM Account", headers={"Sforce-Query-Options": "batchSize=10"})
    assert len(small["records"]) == 200
    records = list(
        sf.query_all_iter(
            "SELECT Id FROM Account", headers={"Sforce-Query-Options": "batchSize=1000"}
        )
    )
    assert len(records) == N_ACCOUNTS - 2


def test_query_all_sees_deleted_rows(sf: Salesforce) -> None:
    live = sf.query("SELECT Id FROM Account WHERE Name IN ('Account 0001', 'Account 0003')")
    assert live["totalSize"] == 1
    archived = sf.query_all(
        "SELECT Id, IsDeleted FROM Account WHERE IsDeleted = true", include_deleted=True
    )
    assert archived["totalSize"] == 2
    assert all(r["IsDeleted"] is True for r in archived["records"])


def test_count_and_datetime_filter(sf: Salesforce) -> None:
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == N_ACCOUNTS - 2
    result = sf.query(
        "SELECT Id, SystemModstamp FROM Account WHERE SystemModstamp > 2024-01-02T17:00:00Z"
    )
    assert result["totalSize"] == N_ACCOUNTS - 1 - 60 * 41
    assert result["records"][0]["SystemModstamp"] == "2024-01-02T17:01:00.000+0000"


def test_malformed_query(sf: Salesforce) -> None:
    with pytest.raises(exceptions.SalesforceMalformedRequest) as info:
        sf.query("SELECT Id FROM")
    assert info.value.status == 400
    assert info.value.content[0]["errorCode"] == "MALFORMED_QUERY"


def test_invalid_field_and_type(sf: Salesforce) -> None:
    with pytest.raises(exceptions.SalesforceMalformedRequest) as info:
        sf.query("SELECT Bogus__c FROM Account")
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(exceptions.SalesforceMalformedRequest) as info:
        sf.query("SELECT Id FROM Nope")
    assert info.value.content[0]["errorCode"] == "INVALID_TYPE"


def test_expired_session(server: SandboxServer) -> None:
    sf = Salesforce(instance_url=server.base_url, session_id="stale", session=server.http_session())
    with pytest.raises(exceptions.SalesforceExpiredSession) as info:
        sf.query("SELECT Id FROM Account LIMIT 1")
    assert info.value.content == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]


def test_limit_info_header(server: SandboxServer, sf: Salesforce) -> None:
    sf.query("SELECT Id FROM Account LIMIT 1")
    usage = sf.api_usage["api-usage"]
    assert usage.total == 15000
    assert usage.used >= 1
    raw = requests.get(
        f"{server.base_url}/services/data/v59.0/query/",
        params={"q": "SELECT Id FROM Case"},
        headers={"Authorization": "Bearer wrong"},
        timeout=10,
    )
    assert raw.status_code == 401
    assert raw.headers["Sforce-Limit-Info"].startswith("api-usage=")


def test_soap_password_login(server: SandboxServer) -> None:
    sf = Salesforce(
        username="admin@crmpulse.sandbox",
        password="sandbox-password",
        security_token="TOK",
        domain="login",
        session=server.http_session(),
    )
    assert sf.session_id != server.session_token
    assert sf.session_id.startswith("00D000000000001!")
    assert sf.sf_instance == f"127.0.0.1:{server.port}"
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 1


def test_soap_login_bad_password(server: SandboxServer) -> None:
    with pytest.raises(exceptions.SalesforceAuthenticationFailed) as info:
        Salesforce(
            username="admin@crmpulse.sandbox",
            password="nope",
            security_token="TOK",
            session=server.http_session(),
        )
    assert info.value.code == "INVALID_LOGIN"


def test_oauth_password_and_client_credentials(server: SandboxServer) -> None:
    sf = Salesforce(
        username="admin@crmpulse.sandbox",
        password="sandbox-password",
        consumer_key="sandbox-consumer-key",
        consumer_secret="sandbox-consumer-secret",
        session=server.http_session(),
    )
    assert sf.session_id != server.session_token
    assert sf.query("SELECT COUNT() FROM Case")["totalSize"] == 1

    token = requests.post(
        f"{server.base_url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "sandbox-consumer-key",
            "client_secret": "sandbox-consumer-secret",
        },
        timeout=10,
    ).json()
    assert token["instance_url"] == server.base_url
    assert token["token_type"] == "Bearer"
    assert {"access_token", "id", "issued_at", "signature"} <= token.keys()

    with pytest.raises(exceptions.SalesforceAuthenticationFailed) as info:
        Salesforce(
            username="admin@crmpulse.sandbox",
            password="wrong",
            consumer_key="sandbox-consumer-key",
            consumer_secret="sandbox-consumer-secret",
            session=server.http_session(),
        )
    assert info.value.code == "invalid_grant"
    bad = requests.post(
        f"{server.base_url}/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
        timeout=10,
    )
    assert bad.status_code == 400
    assert bad.json() == {"error": "invalid_grant", "error_description": "authentication failure"}


def test_invalid_locator(server: SandboxServer) -> None:
    raw = requests.get(
        f"{server.base_url}/services/data/v59.0/query/01gNOPE-2000",
        headers={"Authorization": f"Bearer {server.session_token}"},
        timeout=10,
    )
    assert raw.status_code == 400
    assert raw.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
