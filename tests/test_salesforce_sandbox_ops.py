"""Limits, sessions, JWT login, call statistics and fault injection of the Salesforce emulator."""

from __future__ import annotations

import time
from collections.abc import Iterator

import jwt
import pytest
import requests
from simple_salesforce import Salesforce, exceptions

from crmpulse_salesforce.sandbox.org import Org
from crmpulse_salesforce.sandbox.server import SandboxServer
from crmpulse_salesforce.sandbox.state import SandboxState
from sfhelp import client, key_pair

USERNAME = "admin@crmpulse.sandbox"


PRIVATE_KEY, PUBLIC_KEY = key_pair()


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    org = Org()
    org.insert("Account", {"Name": "Acme"})
    with SandboxServer(org, api_limit=50, jwt_public_key=PUBLIC_KEY) as srv:
        yield srv


@pytest.fixture
def sf(server: SandboxServer) -> Salesforce:
    return client(server)


def _control(server: SandboxServer, method: str, path: str, **kwargs: object) -> requests.Response:
    return requests.request(method, f"{server.base_url}/_sandbox/{path}", timeout=10, **kwargs)  # type: ignore[arg-type]


def test_limits_and_daily_allocation(sf: Salesforce, server: SandboxServer) -> None:
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 50
    assert limits["DailyApiRequests"]["Remaining"] == 49
    for key in ("DailyBulkApiBatches", "DailyBulkV2QueryJobs", "DailyAsyncApexExecutions"):
        assert {"Max", "Remaining"} <= limits[key].keys()
    assert (
        _control(server, "POST", "faults", json={"kind": "api_usage", "value": 49}).status_code
        == 201
    )
    sf.query("SELECT Id FROM Account")
    assert sf.api_usage["api-usage"].used == 50
    with pytest.raises(exceptions.SalesforceRefusedRequest) as info:
        sf.query("SELECT Id FROM Account")
    assert info.value.content == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    server.state.set_api_usage(0)
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 1


def test_session_expiry_and_relogin(sf: Salesforce, server: SandboxServer) -> None:
    relogging = Salesforce(
        username=USERNAME,
        password="sandbox-password",
        consumer_key="sandbox-consumer-key",
        consumer_secret="sandbox-consumer-secret",
        session=server.http_session(),
    )
    first_token = relogging.session_id
    assert _control(server, "POST", "faults", json={"kind": "expire_session"}).status_code == 201
    with pytest.raises(exceptions.SalesforceExpiredSession) as info:
        sf.query("SELECT Id FROM Account")
    assert info.value.content[0]["errorCode"] == "INVALID_SESSION_ID"
    # a client holding credentials logs in again on INVALID_SESSION_ID and retries
    assert relogging.query("SELECT COUNT() FROM Account")["totalSize"] == 1
    assert relogging.session_id != first_token
    server.state.expire_sessions()
    assert relogging.Account.describe()["name"] == "Account"


def test_jwt_bearer_login(server: SandboxServer) -> None:
    sf = Salesforce(
        username=USERNAME,
        consumer_key="sandbox-consumer-key",
        privatekey=PRIVATE_KEY.decode(),
        session=server.http_session(),
    )
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 1
    other_private, _ = key_pair()
    with pytest.raises(exceptions.SalesforceAuthenticationFailed) as info:
        Salesforce(
            username=USERNAME,
            consumer_key="sandbox-consumer-key",
            privatekey=other_private.decode(),
            session=server.http_session(),
        )
    assert info.value.code == "invalid_grant"
    with (
        pytest.warns(UserWarning, match="authorize"),
        pytest.raises(exceptions.SalesforceAuthenticationFailed) as info,
    ):
        Salesforce(
            username="someone@else",
            consumer_key="sandbox-consumer-key",
            privatekey=PRIVATE_KEY.decode(),
            session=server.http_session(),
        )
    assert info.value.code == "invalid_grant"
    expired = jwt.encode(
        {
            "iss": "sandbox-consumer-key",
            "sub": USERNAME,
            "aud": "https://login.salesforce.com",
            "exp": int(time.time()) - 60,
        },
        PRIVATE_KEY,
        algorithm="RS256",
    )
    response = requests.post(
        f"{server.base_url}/services/oauth2/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": expired},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_stats(sf: Salesforce, server: SandboxServer) -> None:
    assert _control(server, "POST", "stats/reset").status_code == 204
    sf.query("SELECT Id FROM Account")
    account_id = sf.query("SELECT Id FROM Account")["records"][0]["Id"]
    sf.Account.get(account_id)
    sf.restful("composite/sobjects", method="POST", json={"records": []})
    stats = _control(server, "GET", "stats").json()
    assert stats["total"] == 4
    calls = {(c["method"], c["route"], c["status"]): c["count"] for c in stats["calls"]}
    assert calls[("GET", "/services/data/v{version}/query", 200)] == 2
    assert calls[("GET", "/services/data/v{version}/sobjects/Account/{record_id}", 200)] == 1
    assert calls[("POST", "/services/data/v{version}/composite/sobjects", 200)] == 1
    assert _control(server, "GET", "health").json()["status"] == "ok"


def test_call_faults(sf: Salesforce, server: SandboxServer) -> None:
    armed = _control(server, "POST", "faults", json={"status": 503, "count": 2})
    assert armed.json()["kind"] == "server_unavailable"
    for _ in range(2):
        with pytest.raises(exceptions.SalesforceGeneralError) as info:
            sf.query("SELECT Id FROM Account")
        assert info.value.status == 503
        assert info.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"
    sf.query("SELECT Id FROM Account")
    _control(server, "POST", "faults", json={"kind": "unknown_exception"})
    with pytest.raises(exceptions.SalesforceGeneralError) as info:
        sf.Account.describe()
    assert info.value.status == 500
    assert info.value.content[0]["errorCode"] == "UNKNOWN_EXCEPTION"
    _control(
        server,
        "POST",
        "faults",
        json={"kind": "concurrent_limit", "path_prefix": "/services/data/v59.0/limits"},
    )
    sf.query("SELECT Id FROM Account")
    assert len(_control(server, "GET", "faults").json()["results"]) == 1
    with pytest.raises(exceptions.SalesforceRefusedRequest):
        sf.limits()
    _control(server, "POST", "faults", json={"kind": "server_unavailable"})
    assert _control(server, "DELETE", "faults").status_code == 204
    sf.query("SELECT Id FROM Account")
    assert _control(server, "POST", "faults", json={"kind": "nope"}).status_code == 400


def test_direct_records(sf: Salesforce, server: SandboxServer) -> None:
    response = _control(
        server,
        "POST",
        "records/SurveyResponse",
        json={"Name": "R-1", "Status": "Completed", "CompletionDateTime": "2024-02-01T10:00:00Z"},
    )
    assert response.status_code == 201
    response_id = response.json()["id"]
    rows = sf.query("SELECT Id FROM SurveyResponse WHERE CompletionDateTime > 2024-01-31T00:00:00Z")
    assert [r["Id"] for r in rows["records"]] == [response_id]
    account_id = sf.query("SELECT Id FROM Account")["records"][0]["Id"]
    changed = _control(server, "PATCH", f"records/Account/{account_id}", json={"Industry": "Media"})
    assert changed.status_code == 200
    assert sf.Account.get(account_id)["Industry"] == "Media"
    assert _control(server, "POST", "records/Nope", json={}).status_code == 404


def test_server_takes_a_state() -> None:
    state = SandboxState(Org(), session_token="T-1", api_limit=10)
    with SandboxServer(state=state) as server:
        assert server.session_token == "T-1"
        sf = Salesforce(
            instance_url=server.base_url, session_id="T-1", session=server.http_session()
        )
        assert sf.limits()["DailyApiRequests"]["Max"] == 10
    with pytest.raises(TypeError):
        SandboxServer(state=state, api_limit=5)
