"""Login: ``POST /services/oauth2/token`` (``password``, ``client_credentials`` and JWT bearer
grants) and the partner SOAP ``POST /services/Soap/u/{version}``.

Each successful login starts a new session with a fresh token; the configured token stays valid
until sessions are expired (:meth:`~.state.SandboxState.expire_sessions`). Failures answer as
Salesforce does: OAuth ``400 {"error", "error_description"}``, SOAP a 500 ``INVALID_LOGIN``
fault. Logins are recorded in the call statistics but do not use API allocation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import parse_qs
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

import jwt
from fastapi import APIRouter, Request, Response

from .state import USER_ID, SandboxState
from .web import add_route, base_url, json_response, route_of

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
"""The OAuth grant type of the JWT bearer flow."""
JWT_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
"""Audiences a JWT bearer assertion may name."""

_SOAP_FAULT = """<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" \
xmlns:sf="urn:fault.partner.soap.sforce.com" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>\
<faultcode>sf:INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN: Invalid username, password, \
security token; or user locked out.</faultstring><detail><sf:LoginFault xsi:type="sf:LoginFault">\
<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode><sf:exceptionMessage>Invalid username, \
password, security token; or user locked out.</sf:exceptionMessage></sf:LoginFault></detail>\
</soapenv:Fault></soapenv:Body></soapenv:Envelope>"""


class GrantError(Exception):
    """An OAuth failure: ``{"error": code, "error_description": description}``."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def check_jwt(state: SandboxState, assertion: str) -> None:
    """Verify a JWT bearer assertion as Salesforce does (RS256 signature with the connected
    app's certificate, ``iss`` = consumer key, ``sub`` = username, ``aud`` = login or test
    URL, ``exp`` in the future); raise :class:`GrantError` otherwise."""
    if state.jwt_public_key is None:
        raise GrantError("invalid_grant", "invalid assertion")
    try:
        claims = jwt.decode(
            assertion,
            state.jwt_public_key,
            algorithms=["RS256"],
            options={"verify_aud": False, "require": ["iss", "sub", "aud", "exp"]},
        )
    except jwt.ExpiredSignatureError:
        raise GrantError("invalid_grant", "expired authorization code") from None
    except jwt.PyJWTError:
        raise GrantError("invalid_grant", "invalid assertion") from None
    if not hmac.compare_digest(str(claims["iss"]), state.consumer_key):
        raise GrantError("invalid_client_id", "client identifier invalid")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if not any(str(a).rstrip("/") in JWT_AUDIENCES for a in audiences):
        raise GrantError("invalid_grant", "audience is invalid")
    if not hmac.compare_digest(str(claims["sub"]), state.username):
        raise GrantError("invalid_grant", "user hasn't approved this consumer")


def _client(request: Request, form: dict[str, str]) -> tuple[str, str]:
    client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(auth[6:]).decode()
        except ValueError:
            decoded = ":"
        client_id, _, client_secret = decoded.partition(":")
    return client_id, client_secret


def _token_response(state: SandboxState, request: Request) -> Response:
    base = base_url(request)
    issued_at = str(int(time.time() * 1000))
    instance_id = f"{base}/id/{state.org.org_id}/{USER_ID}"
    signature = base64.b64encode(
        hmac.new(
            state.consumer_secret.encode(), (instance_id + issued_at).encode(), hashlib.sha256
        ).digest()
    ).decode()
    return json_response(
        {
            "access_token": state.issue_token(),
            "instance_url": base,
            "id": instance_id,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": signature,
        }
    )


def router(state: SandboxState) -> APIRouter:
    """The login routes over ``state``."""
    api = APIRouter()

    async def oauth_token(request: Request) -> Response:
        response = await _oauth(request)
        state.stats.record("POST", route_of(request), response.status_code)
        return response

    async def _oauth(request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        grant = form.get("grant_type", "")
        client_id, client_secret = _client(request, form)
        try:
            if grant == "password":
                if not (
                    state.client_ok(client_id, client_secret)
                    and state.password_ok(form.get("username", ""), form.get("password", ""))
                ):
                    raise GrantError("invalid_grant", "authentication failure")
            elif grant == "client_credentials":
                if not state.client_ok(client_id, client_secret):
                    raise GrantError("invalid_grant", "authentication failure")
            elif grant == JWT_GRANT:
                check_jwt(state, form.get("assertion", ""))
            else:
                raise GrantError("unsupported_grant_type", "grant type not supported")
        except GrantError as exc:
            return json_response({"error": exc.code, "error_description": exc.description}, 400)
        return _token_response(state, request)

    add_route(api, "/services/oauth2/token", oauth_token, ["POST"])

    async def soap_login(request: Request, version: str) -> Response:
        response = _soap(request, version, await request.body())
        state.stats.record("POST", route_of(request), response.status_code)
        return response

    def _soap(request: Request, version: str, raw: bytes) -> Response:
        username = password = ""
        try:
            root = ET.fromstring(raw)
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
        base = base_url(request)
        org_id = state.org.org_id
        server_url = escape(f"{base}/services/Soap/u/{version}/{org_id[:15]}")
        session = escape(state.issue_token())
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

    add_route(api, "/services/Soap/u/{version}", soap_login, ["POST"])

    async def userinfo(request: Request) -> Response:
        # OpenID Connect userinfo: who the session belongs to. Not metered as an API call.
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not state.token_ok(auth[7:]):
            response: Response = Response(
                "Bad_OAuth_Token", status_code=403, media_type="text/plain"
            )
        else:
            base = base_url(request)
            org_id = state.org.org_id
            response = json_response(
                {
                    "sub": f"{base}/id/{org_id}/{USER_ID}",
                    "user_id": USER_ID,
                    "organization_id": org_id,
                    "preferred_username": state.username,
                    "nickname": state.username.split("@", 1)[0],
                    "name": "crmpulse Integration",
                    "user_type": "STANDARD",
                    "active": True,
                    "urls": {"rest": f"{base}/services/data/v{{version}}/"},
                }
            )
        state.stats.record(request.method, route_of(request), response.status_code)
        return response

    add_route(api, "/services/oauth2/userinfo", userinfo, ["GET"])
    return api
