"""Helpers the Salesforce tests share: a client on an emulator, an RSA key pair for JWT logins."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce

from crmpulse_salesforce.sandbox.server import SandboxServer


def client(server: SandboxServer, session_id: str | None = None, **kwargs: Any) -> Salesforce:
    """The real simple-salesforce client on ``server`` (its configured session unless given)."""
    return Salesforce(
        instance_url=server.base_url,
        session_id=session_id or server.session_token,
        session=server.http_session(),
        **kwargs,
    )


def key_pair() -> tuple[bytes, bytes]:
    """A fresh RSA key pair as PEM: (private PKCS#8, public SubjectPublicKeyInfo)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def create_fields(sf: Salesforce, sobject: str, fields: dict[str, dict[str, Any]]) -> None:
    """Create custom fields through the Tooling API and grant them read and edit, as an admin
    would (a field created that way is hidden until a permission set grants it)."""
    for name, meta in fields.items():
        sf.toolingexecute(
            "sobjects/CustomField/",
            method="POST",
            data={"FullName": f"{sobject}.{name}", "Metadata": {"label": name, **meta}},
        )
    permission_set = sf.query("SELECT Id FROM PermissionSet LIMIT 1")["records"][0]["Id"]
    sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": True,
            "records": [
                {
                    "attributes": {"type": "FieldPermissions"},
                    "ParentId": permission_set,
                    "SobjectType": sobject,
                    "Field": f"{sobject}.{name}",
                    "PermissionsRead": True,
                    "PermissionsEdit": True,
                }
                for name in fields
            ],
        },
    )
