"""The FastAPI application: Salesforce login and REST query paths over an :class:`Org`.

Login: ``POST /services/oauth2/token`` (``password`` and ``client_credentials`` grants) and the
partner SOAP ``POST /services/Soap/u/{version}``; both hand out the configured session token.
API: ``GET /services/data/v{version}/query``, ``/queryAll`` and ``/query/{locator}-{offset}``
(trailing slash optional). API calls need ``Authorization: Bearer <token>``, are counted, and
carry ``Sforce-Limit-Info: api-usage=N/M``; errors use Salesforce's JSON array shape.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import itertools
import re
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from .org import Org
from .query import QueryRunner
from .soql_parse import SoqlError

DEFAULT_TOKEN = "00D000000000001!sandbox-session"
"""The session token the sandbox accepts (and issues on login) unless told otherwise."""
DEFAULT_USERNAME = "admin@crmpulse.sandbox"
"""The login username the sandbox accepts unless told otherwise."""
DEFAULT_PASSWORD = "sandbox-password"
"""The login password the sandbox accepts unless told otherwise."""
DEFAULT_CONSUMER_KEY = "sandbox-consumer-key"
"""The connected-app consumer key (OAuth ``client_id``) accepted unless told otherwise."""
DEFAULT_CONSUMER_SECRET = "sandbox-consumer-secret"
"""The connected-app consumer secret (OAuth ``client_secret``) accepted unless told otherwise."""

DEFAULT_BATCH_SIZE = 2000
MIN_BATCH_SIZE = 200
MAX_BATCH_SIZE = 2000
USER_ID = "005000000000001AAA"

_BATCH_SIZE = re.compile(r"batchsize\s*=\s*(\d+)", re.IGNORECASE)
_SOAP_FAULT = """<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" \
xmlns:sf="urn:fault.partner.soap.sforce.com" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>\
<faultcode>sf:INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN: Invalid username, password, \
security token; or user locked out.</faultstring><detail><sf:LoginFault xsi:type="sf:LoginFault">\
<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode><sf:exceptionMessage>Invalid username, \
password, security token; or user locked out.</sf:exceptionMessage></sf:LoginFault></detail>\
</soapenv:Fault></soapenv:Body></soapenv:Envelope>"""


class ApiError(Exception):
    """An error rendered as Salesforce's ``[{"message", "errorCode"}]`` body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclasses.dataclass
class Cursor:
    """The remaining pages of one query: all its records and the page size."""

    records: list[dict[str, Any]]
    batch_size: int


class SandboxState:
    """What the routes share: the org, credentials, open query cursors and the API call count."""

    def __init__(
        self,
        org: Org,
        *,
        session_token: str = DEFAULT_TOKEN,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        security_token: str = "",
        consumer_key: str = DEFAULT_CONSUMER_KEY,
        consumer_secret: str = DEFAULT_CONSUMER_SECRET,
        api_limit: int = 15000,
    ) -> None:
        self.org = org
        self.session_token = session_token
        self.username = username
        self.password = password
        self.security_token = security_token
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.api_limit = api_limit
        self.api_usage = 0
        self.cursors: dict[str, Cursor] = {}
        self._lock = threading.Lock()
        self._locators = itertools.count(1)

    def count_call(self) -> int:
        """Count one API call and return the running total."""
        with self._lock:
            self.api_usage += 1
            return self.api_usage

    def open_cursor(self, records: list[dict[str, Any]], batch_size: int) -> str:
        """Keep ``records`` for queryMore and return the new locator."""
        with self._lock:
            locator = f"01gSB{next(self._locators):010d}AAA"
            self.cursors[locator] = Cursor(records, batch_size)
            return locator

    def password_ok(self, username: str, password: str) -> bool:
        """Whether ``username``/``password`` (optionally followed by the security token) match."""
        accepted = {self.password, self.password + self.security_token}
        return hmac.compare_digest(username, self.username) and password in accepted

    def client_ok(self, client_id: str, client_secret: str) -> bool:
        """Whether a connected app's consumer key and secret match."""
        return hmac.compare_digest(client_id, self.consumer_key) and hmac.compare_digest(
            client_secret, self.consumer_secret
        )


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def _base_url(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _batch_size(request: Request) -> int:
    match = _BATCH_SIZE.search(request.headers.get("sforce-query-options", ""))
    if match is None:
        return DEFAULT_BATCH_SIZE
    return max(MIN_BATCH_SIZE, min(MAX_BATCH_SIZE, int(match.group(1))))


def _page(
    state: SandboxState,
    version: str,
    records: list[dict[str, Any]],
    offset: int,
    batch_size: int,
    locator: str | None,
) -> dict[str, Any]:
    end = offset + batch_size
    body: dict[str, Any] = {"totalSize": len(records), "done": end >= len(records)}
    if end < len(records):
        if locator is None:
            locator = state.open_cursor(records, batch_size)
        body["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{end}"
    elif locator is not None:
        state.cursors.pop(locator, None)
    body["records"] = records[offset:end]
    return body


Handler = Callable[[Request], Awaitable[Response]]


async def api_call(state: SandboxState, request: Request, handler: Handler) -> Response:
    """Run one REST API call: check the session, count the call, render errors as Salesforce
    does, and stamp ``Sforce-Limit-Info`` on the response."""
    try:
        if request.headers.get("authorization") != f"Bearer {state.session_token}":
            raise ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")
        state.count_call()
        response = await handler(request)
    except ApiError as exc:
        response = _json([{"message": exc.message, "errorCode": exc.code}], exc.status)
    except SoqlError as exc:
        response = _json([{"message": exc.message, "errorCode": exc.code}], 400)
    response.headers["Sforce-Limit-Info"] = f"api-usage={state.api_usage}/{state.api_limit}"
    return response


def create_app(state: SandboxState) -> FastAPI:
    """Build the app serving ``state``'s org."""
    app = FastAPI(title="Salesforce sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sandbox = state

    def query_route(include_deleted: bool) -> Callable[[Request, str], Awaitable[Response]]:
        async def route(request: Request, version: str) -> Response:
            async def handler(request: Request) -> Response:
                text = request.query_params.get("q")
                if not text:
                    raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
                result = QueryRunner(state.org, version).run(text, include_deleted=include_deleted)
                if isinstance(result, int):
                    return _json({"totalSize": result, "done": True, "records": []})
                return _json(_page(state, version, result, 0, _batch_size(request), None))

            return await api_call(state, request, handler)

        return route

    async def query_more(request: Request, version: str, cursor: str) -> Response:
        async def handler(request: Request) -> Response:
            locator, _, offset_text = cursor.rpartition("-")
            found = state.cursors.get(locator)
            if found is None or not offset_text.isdigit():
                raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
            offset = int(offset_text)
            return _json(_page(state, version, found.records, offset, found.batch_size, locator))

        return await api_call(state, request, handler)

    for suffix in ("", "/"):
        base = "/services/data/v{version}"
        app.add_api_route(f"{base}/query{suffix}", query_route(False), methods=["GET"])
        app.add_api_route(f"{base}/queryAll{suffix}", query_route(True), methods=["GET"])
        app.add_api_route(f"{base}/query/{{cursor}}{suffix}", query_more, methods=["GET"])

    async def oauth_token(request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        grant = form.get("grant_type", "")
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(auth[6:]).decode()
            except ValueError:
                decoded = ":"
            client_id, _, client_secret = decoded.partition(":")
        if grant == "password":
            ok = state.client_ok(client_id, client_secret) and state.password_ok(
                form.get("username", ""), form.get("password", "")
            )
        elif grant == "client_credentials":
            ok = state.client_ok(client_id, client_secret)
        else:
            return _json(
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type not supported",
                },
                400,
            )
        if not ok:
            return _json(
                {"error": "invalid_grant", "error_description": "authentication failure"}, 400
            )
        base = _base_url(request)
        issued_at = str(int(time.time() * 1000))
        instance_id = f"{base}/id/{state.org.org_id}/{USER_ID}"
        signature = base64.b64encode(
            hmac.new(
                state.consumer_secret.encode(), (instance_id + issued_at).encode(), hashlib.sha256
            ).digest()
        ).decode()
        return _json(
            {
                "access_token": state.session_token,
                "instance_url": base,
                "id": instance_id,
                "token_type": "Bearer",
                "issued_at": issued_at,
                "signature": signature,
            }
        )

    app.add_api_route("/services/oauth2/token", oauth_token, methods=["POST"])

    async def soap_login(request: Request, version: str) -> Response:
        username = password = ""
        try:
            root = ET.fromstring(await request.body())
        except ET.ParseError:
            root = None
        if root is not None:
            for element in root.iter():
                tag = element.tag.rsplit("}", 1)[-1]
                if tag == "username":
                    username = element.text or ""
                elif tag == "password":
                    password = element.text or ""
        if not state.password_ok(username, password):
            return Response(_SOAP_FAULT, status_code=500, media_type="text/xml")
        base = _base_url(request)
        org_id = state.org.org_id
        server_url = escape(f"{base}/services/Soap/u/{version}/{org_id[:15]}")
        session = escape(state.session_token)
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns="urn:partner.soap.sforce.com" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            "<soapenv:Body><loginResponse><result>"
            f"<metadataServerUrl>{escape(base)}/services/Soap/m/{version}/{org_id[:15]}"
            "</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired><sandbox>true</sandbox>"
            f"<serverUrl>{server_url}</serverUrl><sessionId>{session}</sessionId>"
            f"<userId>{USER_ID}</userId>"
            f"<userInfo><organizationId>{org_id}</organizationId>"
            f"<userName>{escape(state.username)}</userName>"
            f"<sessionSecondsValid>7200</sessionSecondsValid></userInfo>"
            "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )
        return Response(body, media_type="text/xml")

    for suffix in ("", "/"):
        app.add_api_route(f"/services/Soap/u/{{version}}{suffix}", soap_login, methods=["POST"])

    return app
