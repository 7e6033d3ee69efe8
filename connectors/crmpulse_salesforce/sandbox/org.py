"""An in-memory Salesforce org: sObject describes (field name -> type) and their rows.

Rows are plain dicts keyed by API field name. Every row carries ``Id`` (an 18-character,
case-safe id with the object's key prefix), ``IsDeleted``, ``CreatedDate``, ``LastModifiedDate``
and ``SystemModstamp``. Deleting a row only flags it (``IsDeleted = true``), as the recycle bin
does: ``query`` hides it, ``queryAll`` still returns it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

_SYSTEM_FIELDS: dict[str, str] = {
    "Id": "id",
    "IsDeleted": "boolean",
    "CreatedDate": "datetime",
    "LastModifiedDate": "datetime",
    "SystemModstamp": "datetime",
}

_OWNED: dict[str, str] = {**_SYSTEM_FIELDS, "OwnerId": "reference"}

DESCRIBES: dict[str, dict[str, str]] = {
    "User": {**_SYSTEM_FIELDS, "Username": "string", "Name": "string", "IsActive": "boolean"},
    "Account": {
        **_OWNED,
        "Name": "string",
        "Industry": "picklist",
        "Type": "picklist",
        "AnnualRevenue": "currency",
        "NumberOfEmployees": "int",
        "Website": "url",
        "ParentId": "reference",
        "Customer_Segment__c": "picklist",
        "Customer_Since__c": "datetime",
        "Churn_Date__c": "datetime",
    },
    "Contact": {
        **_OWNED,
        "FirstName": "string",
        "LastName": "string",
        "Name": "string",
        "Email": "email",
        "Phone": "phone",
        "Title": "string",
        "LeadSource": "picklist",
        "AccountId": "reference",
        "Lifecycle_Stage__c": "picklist",
        "Became_Lead_At__c": "datetime",
        "Became_Customer_At__c": "datetime",
        "Churn_Date__c": "datetime",
    },
    "Lead": {
        **_OWNED,
        "FirstName": "string",
        "LastName": "string",
        "Name": "string",
        "Email": "email",
        "Company": "string",
        "Status": "picklist",
        "LeadSource": "picklist",
        "IsConverted": "boolean",
        "ConvertedDate": "date",
        "ConvertedContactId": "reference",
        "ConvertedAccountId": "reference",
        "ConvertedOpportunityId": "reference",
    },
    "Opportunity": {
        **_OWNED,
        "Name": "string",
        "Amount": "currency",
        "CurrencyIsoCode": "picklist",
        "StageName": "picklist",
        "CloseDate": "date",
        "IsClosed": "boolean",
        "IsWon": "boolean",
        "Probability": "percent",
        "Type": "picklist",
        "LeadSource": "picklist",
        "AccountId": "reference",
        "ContactId": "reference",
        "Closed_At__c": "datetime",
    },
    "OpportunityContactRole": {
        **_SYSTEM_FIELDS,
        "OpportunityId": "reference",
        "ContactId": "reference",
        "Role": "picklist",
        "IsPrimary": "boolean",
    },
    "Case": {
        **_OWNED,
        "CaseNumber": "string",
        "Subject": "string",
        "Description": "textarea",
        "Status": "picklist",
        "Priority": "picklist",
        "Origin": "picklist",
        "Type": "picklist",
        "IsClosed": "boolean",
        "ClosedDate": "datetime",
        "IsEscalated": "boolean",
        "AccountId": "reference",
        "ContactId": "reference",
        "First_Response__c": "datetime",
    },
    "Task": {
        **_OWNED,
        "Subject": "string",
        "Status": "picklist",
        "IsClosed": "boolean",
        "Priority": "picklist",
        "TaskSubtype": "picklist",
        "Type": "picklist",
        "CallType": "picklist",
        "ActivityDate": "date",
        "CompletedDateTime": "datetime",
        "WhoId": "reference",
        "WhatId": "reference",
        "AccountId": "reference",
        "Direction__c": "picklist",
    },
    "Event": {
        **_OWNED,
        "Subject": "string",
        "Type": "picklist",
        "EventSubtype": "picklist",
        "ActivityDate": "date",
        "ActivityDateTime": "datetime",
        "StartDateTime": "datetime",
        "EndDateTime": "datetime",
        "DurationInMinutes": "int",
        "IsAllDayEvent": "boolean",
        "WhoId": "reference",
        "WhatId": "reference",
        "AccountId": "reference",
    },
    "Survey": {
        **_OWNED,
        "Name": "string",
        "DeveloperName": "string",
        "ActiveVersionId": "reference",
        "LatestVersionId": "reference",
    },
    "SurveyVersion": {
        **_SYSTEM_FIELDS,
        "Name": "string",
        "SurveyId": "reference",
        "VersionNumber": "int",
        "SurveyStatus": "picklist",
    },
    "SurveyQuestion": {
        **_SYSTEM_FIELDS,
        "Name": "string",
        "DeveloperName": "string",
        "QuestionName": "string",
        "QuestionType": "picklist",
        "SurveyVersionId": "reference",
        "IsDeprecated": "boolean",
    },
    "SurveyInvitation": {
        **_OWNED,
        "Name": "string",
        "SurveyId": "reference",
        "ParticipantId": "reference",
        "ContactId": "reference",
        "LeadId": "reference",
        "ResponseStatus": "picklist",
        "InvitationLink": "url",
    },
    "SurveyResponse": {
        **_OWNED,
        "Name": "string",
        "SurveyId": "reference",
        "SurveyVersionId": "reference",
        "InvitationId": "reference",
        "SubmitterId": "reference",
        "Status": "picklist",
        "CompletionDateTime": "datetime",
        "Language": "picklist",
    },
    "SurveyQuestionResponse": {
        **_SYSTEM_FIELDS,
        "ResponseId": "reference",
        "QuestionId": "reference",
        "InvitationId": "reference",
        "SurveyVersionId": "reference",
        "Datatype": "picklist",
        "NumberValue": "double",
        "ResponseValue": "textarea",
        "ResponseShortText": "string",
    },
    "SurveySubject": {
        **_SYSTEM_FIELDS,
        "Name": "string",
        "ParentId": "reference",
        "SubjectId": "reference",
        "SubjectEntityType": "string",
        "SurveyId": "reference",
    },
    "PermissionSet": {**_SYSTEM_FIELDS, "Name": "string", "Label": "string"},
    "FieldPermissions": {
        **_SYSTEM_FIELDS,
        "ParentId": "reference",
        "SobjectType": "string",
        "Field": "string",
        "PermissionsRead": "boolean",
        "PermissionsEdit": "boolean",
    },
    "ObjectPermissions": {
        **_SYSTEM_FIELDS,
        "ParentId": "reference",
        "SobjectType": "string",
        "PermissionsRead": "boolean",
        "PermissionsCreate": "boolean",
        "PermissionsEdit": "boolean",
        "PermissionsDelete": "boolean",
    },
}
"""Field describe (API name -> Salesforce field type) per standard sObject type.

Fields ending in ``__c`` on Account, Contact, Opportunity, Case and Task are the org's own custom
fields the synthetic world fills (segment, lifecycle dates, first response, email direction);
the connector reads them under configurable names. Objects and fields crmpulse creates through
the Tooling API are added at run time.
"""

KEY_PREFIXES: dict[str, str] = {
    "User": "005",
    "Account": "001",
    "Contact": "003",
    "Lead": "00Q",
    "Opportunity": "006",
    "OpportunityContactRole": "00K",
    "Case": "500",
    "Task": "00T",
    "Event": "00U",
    "Survey": "0Kd",
    "SurveyVersion": "0Ko",
    "SurveyQuestion": "0Kl",
    "SurveyInvitation": "0Ki",
    "SurveyResponse": "0Kp",
    "SurveyQuestionResponse": "0Kq",
    "SurveySubject": "0Kx",
    "PermissionSet": "0PS",
    "FieldPermissions": "01k",
    "ObjectPermissions": "110",
}
"""The three-character id prefix of each sObject type."""

ORG_ID = "00D000000000001AAA"
"""The emulated organization's id."""

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def case_safe_id(id15: str) -> str:
    """Append Salesforce's three-character case-safety checksum to a 15-character id."""
    if len(id15) != 15:
        raise ValueError(f"expected a 15-character id, got {id15!r}")
    suffix = ""
    for chunk in range(3):
        flags = 0
        for bit, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                flags |= 1 << bit
        suffix += _SUFFIX[flags]
    return id15 + suffix


def make_id(prefix: str, number: int) -> str:
    """The 18-character id numbered ``number`` for key prefix ``prefix``."""
    digits = ""
    while True:
        number, rem = divmod(number, 62)
        digits = _BASE62[rem] + digits
        if number == 0:
            break
    if len(digits) > 9:
        raise ValueError("id counter overflow")
    return case_safe_id(prefix + "000" + digits.rjust(9, "0"))


class Org:
    """Rows of Account, Contact and Case held in memory, in insertion order."""

    def __init__(
        self, *, org_id: str = ORG_ID, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.org_id = org_id
        self.describes = {name: dict(fields) for name, fields in DESCRIBES.items()}
        self.rows: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in DESCRIBES}
        self._clock = clock or (lambda: datetime.now(UTC))
        self._counter = itertools.count(1)
        self._by_prefix = {prefix: name for name, prefix in KEY_PREFIXES.items()}

    def sobject_name(self, name: str) -> str | None:
        """The canonical spelling of sObject type ``name`` (case-insensitive), or None."""
        low = name.lower()
        return next((n for n in self.describes if n.lower() == low), None)

    def sobject_for_id(self, record_id: str) -> str | None:
        """The sObject type an id belongs to, from its key prefix."""
        return self._by_prefix.get(record_id[:3])

    def insert(
        self,
        sobject: str,
        values: Mapping[str, Any],
        *,
        created: datetime | None = None,
        number: int | None = None,
    ) -> str:
        """Add a row of type ``sobject`` and return its new id.

        ``created`` sets ``CreatedDate`` (defaults to now); ``LastModifiedDate`` and
        ``SystemModstamp`` default to it unless ``values`` gives them. ``number`` fixes the id's
        numeric part (seeding a world under stable ids); otherwise the org's counter picks it.
        """
        name = self.sobject_name(sobject)
        if name is None:
            raise KeyError(f"unsupported sObject type {sobject!r}")
        unknown = [f for f in values if f not in self.describes[name]]
        if unknown:
            raise KeyError(f"no such field(s) on {name}: {', '.join(unknown)}")
        stamp = created or self._clock()
        record_id = make_id(KEY_PREFIXES[name], next(self._counter) if number is None else number)
        if record_id in self.rows[name]:
            raise KeyError(f"duplicate id {record_id}")
        row: dict[str, Any] = {
            "Id": record_id,
            "IsDeleted": False,
            "CreatedDate": stamp,
            "LastModifiedDate": stamp,
            "SystemModstamp": stamp,
        }
        row.update(values)
        row["Id"] = record_id
        _compound_name(name, row)
        self.rows[name][record_id] = row
        return record_id

    def update(
        self, record_id: str, values: Mapping[str, Any], *, when: datetime | None = None
    ) -> None:
        """Change fields of a live row and bump ``LastModifiedDate`` / ``SystemModstamp``."""
        row = self.get(record_id)
        if row is None or row["IsDeleted"]:
            raise KeyError(record_id)
        name = self.sobject_for_id(record_id)
        assert name is not None
        unknown = [f for f in values if f not in self.describes[name]]
        if unknown:
            raise KeyError(f"no such field(s) on {name}: {', '.join(unknown)}")
        row.update(values)
        _compound_name(name, row)
        row["LastModifiedDate"] = row["SystemModstamp"] = when or self._clock()

    def find_by(self, sobject: str, field: str, value: Any) -> list[str]:
        """Ids of live rows of ``sobject`` whose ``field`` equals ``value`` (external-id lookup)."""
        name = self.sobject_name(sobject)
        if name is None:
            raise KeyError(f"unsupported sObject type {sobject!r}")
        return [r["Id"] for r in self.scan(name) if r.get(field) == value]

    def upsert(
        self,
        sobject: str,
        field: str,
        value: Any,
        values: Mapping[str, Any],
        *,
        when: datetime | None = None,
    ) -> tuple[str, bool]:
        """Update the row whose external id ``field`` equals ``value``, or insert one.

        Returns ``(id, created)``; raises ``LookupError`` when several rows match.
        """
        matches = self.find_by(sobject, field, value)
        if len(matches) > 1:
            raise LookupError(f"{len(matches)} {sobject} rows have {field} = {value!r}")
        if matches:
            self.update(matches[0], values, when=when)
            return matches[0], False
        return self.insert(sobject, {**values, field: value}, created=when), True

    def get(self, record_id: str) -> dict[str, Any] | None:
        """The row with ``record_id`` (deleted or not), or None."""
        sobject = self.sobject_for_id(record_id)
        return None if sobject is None else self.rows[sobject].get(record_id)

    def delete(self, record_id: str, *, when: datetime | None = None) -> None:
        """Move a row to the recycle bin: flag ``IsDeleted`` and bump ``SystemModstamp``."""
        row = self.get(record_id)
        if row is None:
            raise KeyError(record_id)
        stamp = when or self._clock()
        row["IsDeleted"] = True
        row["LastModifiedDate"] = row["SystemModstamp"] = stamp

    def scan(self, sobject: str, *, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        """Rows of ``sobject`` in insertion order; deleted rows only with ``include_deleted``."""
        for row in self.rows[sobject].values():
            if include_deleted or not row["IsDeleted"]:
                yield row

    def resolve_parent(self, relationship: str, record_id: str) -> dict[str, Any] | None:
        """The parent row behind a relationship id (SOQL dotted paths); None when unknown."""
        del relationship  # the id's key prefix tells the type
        return self.get(record_id)


def _compound_name(sobject: str, row: dict[str, Any]) -> None:
    """Contact and Lead ``Name`` is derived from first and last name, as Salesforce does."""
    if sobject in ("Contact", "Lead"):
        parts = [row.get("FirstName"), row.get("LastName")]
        row["Name"] = " ".join(p for p in parts if p) or None
