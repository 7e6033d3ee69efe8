"""The HubSpot emulator, driven through the real ``hubspot-api-client`` over HTTP."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import hubspot
import pytest
import requests
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
)
from hubspot.crm.associations.v4.exceptions import (
    ApiException as AssociationsApiException,
)
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.contacts.exceptions import (
    ApiException,
    NotFoundException,
    UnauthorizedException,
)
from hubspot.crm.objects.exceptions import (
    ApiException as ObjectsApiException,
)
from hubspot.crm.objects.exceptions import (
    ForbiddenException,
)
from hubspot.crm.properties import PropertyCreate, PropertyGroupCreate
from hubspot.crm.properties.exceptions import (
    ApiException as PropertiesApiException,
)

from crmpulse.model import Account, Contact, SurveyKind, SurveyResponse
from crmpulse_hubspot.sandbox import Portal, RateLimits, SandboxServer, build_portal
from crmpulse_hubspot.sandbox.demo import AS_OF, demo_records

TOKEN = "test-token"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
RATE_HEADERS = (
    "X-HubSpot-RateLimit-Interval-Milliseconds",
    "X-HubSpot-RateLimit-Max",
    "X-HubSpot-RateLimit-Remaining",
    "X-HubSpot-RateLimit-Daily",
    "X-HubSpot-RateLimit-Daily-Remaining",
)
NOTES = 10_500
SRC = "hubspot:test"


class Clock:
    """A settable wall clock for the portal."""

    def __init__(self, value: datetime):
        self.value = value

    def __call__(self) -> datetime:
        return self.value

    def advance(self, **delta: float) -> datetime:
        self.value += timedelta(**delta)
        return self.value


def _extra_records() -> list[Any]:
    """A churned company, a contact without company and a detractor answer."""
    t0 = datetime(2024, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
    return [
        Account(
            source=SRC,
            id="900",
            created_at=t0,
            updated_at=t0,
            name="Gone Ltd",
            became_customer_at=t0,
            churned_at=t0 + timedelta(days=40),
        ),
        Contact(
            source=SRC,
            id="9001",
            created_at=t0,
            updated_at=t0,
            email="lone@x.example",
            first_name="Lone",
            last_name="Wolf",
        ),
        SurveyResponse(
            source=SRC,
            id="9100",
            created_at=t0,
            updated_at=t0,
            survey_kind=SurveyKind.NPS,
            score=3,
            scale_min=0,
            scale_max=10,
            comment="slow support",
            answered_at=t0,
            contact_id="9001",
        ),
        SurveyResponse(
            source=SRC,
            id="9101",
            created_at=t0,
            updated_at=t0,
            survey_kind=SurveyKind.CSAT,
            score=4.5,
            scale_min=1,
            scale_max=5,
            answered_at=t0,
            contact_id="9001",
        ),
    ]


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock(AS_OF)


@pytest.fixture(scope="module")
def portal(clock: Clock) -> Portal:
    records = [*demo_records(seed=7, companies=6, contacts_per_company=5), *_extra_records()]
    portal = Portal.from_records(records, now=clock)
    # Many tiny objects for the 10,000-result search cap.
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(NOTES):
        stamp = t0 + timedelta(seconds=i)
        portal.insert(
            "notes",
            100_000 + i,
            {"hs_note_body": f"note {i}", "hs_timestamp": None},
            created=stamp,
            updated=stamp,
        )
    return portal


@pytest.fixture(scope="module")
def server(portal: Portal) -> Iterator[SandboxServer]:
    # Generous limits: the rate-limit tests run their own server with a fake clock.
    limits = RateLimits(burst=100_000, search_per_second=100_000)
    with SandboxServer(portal, token=TOKEN, limits=limits) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: SandboxServer) -> Any:
    return hubspot.HubSpot(access_token=TOKEN, host=server.base_url)


def _seeded_contact_ids(portal: Portal) -> set[str]:
    return {str(o.id) for o in portal.iter_objects("contacts")}


# --------------------------------------------------------------------------- list / read
def test_list_paging_collects_exactly_the_seeded_contacts(client: Any, portal: Portal) -> None:
    api = client.crm.contacts.basic_api
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = api.get_page(limit=7, after=after, properties=["email", "lifecyclestage"])
        seen += [r.id for r in page.results]
        pages += 1
        if page.paging is None:
            break
        assert page.paging.next.link.endswith(f"after={page.paging.next.after}")
        after = page.paging.next.after
    assert len(seen) == len(set(seen))
    assert set(seen) == _seeded_contact_ids(portal)
    assert pages == -(-len(seen) // 7)
    assert {c.id for c in client.crm.contacts.get_all()} == set(seen)


def test_list_defaults_and_requested_properties(client: Any, server: SandboxServer) -> None:
    page = client.crm.contacts.basic_api.get_page(limit=1)
    assert set(page.results[0].properties) == {
        "firstname",
        "lastname",
        "email",
        "createdate",
        "lastmodifieddate",
        "hs_object_id",
    }
    # Comma-separated lists and unknown names (silently ignored) over raw HTTP.
    raw = requests.get(
        f"{server.base_url}/crm/v3/objects/0-1",
        params={"limit": "1", "properties": "email,nosuchprop", "archived": "FALSE"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    ).json()
    assert set(raw["results"][0]["properties"]) == {
        "email",
        "createdate",
        "lastmodifieddate",
        "hs_object_id",
    }


def test_list_associations_inline(client: Any) -> None:
    contact = client.crm.contacts.basic_api.get_by_id("10000", associations=["companies"])
    companies = contact.associations["companies"].results
    assert {a.type for a in companies} == {"contact_to_company", "contact_to_company_unlabeled"}
    assert len({a.id for a in companies}) == 1


def test_list_limit_over_max_is_400(client: Any) -> None:
    with pytest.raises(ApiException) as err:
        client.crm.contacts.basic_api.get_page(limit=101)
    assert err.value.status == 400
    assert json.loads(err.value.body)["category"] == "VALIDATION_ERROR"
    with pytest.raises(ApiException) as err:
        client.crm.contacts.basic_api.get_page(limit=51, properties_with_history=["email"])
    assert err.value.status == 400
    page = client.crm.contacts.basic_api.get_page(limit=50, properties_with_history=["email"])
    assert page.results[0].properties_with_history["email"][0].value


def test_get_by_id_404_raises_not_found(client: Any) -> None:
    with pytest.raises(NotFoundException) as err:
        client.crm.contacts.basic_api.get_by_id("424242")
    body = json.loads(err.value.body)
    assert body["status"] == "error"
    assert body["category"] == "OBJECT_NOT_FOUND"
    assert body["context"] == {"id": ["424242"]}
    assert body["message"] == "Object not found.  objectId are usually numeric."
    assert body["correlationId"] == err.value.headers["X-HubSpot-Correlation-Id"]


def test_every_property_value_is_a_string(client: Any, portal: Portal) -> None:
    for otype in ("contacts", "companies", "deals", "tickets", "feedback_submissions", "calls"):
        types = {p.name: p.type for p in portal.properties.all(otype)}
        names = list(types)
        for obj in client.crm.objects.get_all(otype, properties=names):
            for name, value in obj.properties.items():
                assert value is None or isinstance(value, str), (otype, name, value)
                if value and types[name] == "datetime":
                    assert ISO_MS.match(value), (otype, name, value)


def test_seed_mapping(client: Any) -> None:
    company = client.crm.companies.basic_api.get_by_id(
        "900", properties=["lifecyclestage", "churn_date", "hs_lifecyclestage_customer_date"]
    )
    assert company.properties["lifecyclestage"] == "other"
    assert company.properties["churn_date"] == "2024-04-10T12:00:00.123Z"
    subs = client.crm.objects.basic_api.get_by_id(
        "feedback_submissions",
        "9100",
        properties=[
            "hs_value",
            "hs_response_group",
            "hs_submission_name",
            "hs_contact_id",
            "hs_content",
            "hs_survey_channel",
        ],
    )
    assert subs.properties["hs_value"] == "3"
    assert subs.properties["hs_response_group"] == "DETRACTOR"
    assert subs.properties["hs_submission_name"] == "NPS Survey - lone@x.example"
    assert subs.properties["hs_contact_id"] == "9001"
    assert subs.properties["hs_survey_channel"] == "EMAIL"
    csat = client.crm.objects.basic_api.get_by_id(
        "0-19", "9101", properties=["hs_value", "hs_response_group"]
    )
    assert csat.properties == {**csat.properties, "hs_value": "4.5", "hs_response_group": None}
    ticket = client.crm.tickets.basic_api.get_by_id(
        "30000", properties=["hs_pipeline_stage", "time_to_close", "time_to_first_agent_reply"]
    )
    assert ticket.properties["hs_pipeline_stage"] == "4"
    assert ticket.properties["time_to_close"] == str(86_400_000)
    assert ticket.properties["time_to_first_agent_reply"] == str(7_200_000)


# --------------------------------------------------------------------------- batch
def test_batch_read_partial_is_207(client: Any) -> None:
    body = BatchReadInputSimplePublicObjectId(
        inputs=[{"id": "10000"}, {"id": "777777"}], properties=["email"]
    )
    result, status, _ = client.crm.contacts.batch_api.read_with_http_info(body)
    assert status == 207
    assert [r.id for r in result.results] == ["10000"]
    assert result.num_errors == 1
    assert result.errors[0].category == "OBJECT_NOT_FOUND"
    assert result.errors[0].context == {"ids": ["777777"]}
    full, status, _ = client.crm.contacts.batch_api.read_with_http_info(
        BatchReadInputSimplePublicObjectId(inputs=[{"id": "10000"}], properties=["email"])
    )
    assert status == 200
    assert getattr(full, "errors", None) is None


def test_batch_update_bumps_last_modified(client: Any, clock: Clock) -> None:
    before = client.crm.contacts.basic_api.get_by_id("10001")
    stamp = clock.advance(hours=1)
    body = BatchInputSimplePublicObjectBatchInput(
        inputs=[{"id": "10001", "properties": {"firstname": "Renamed"}}]
    )
    result, status, _ = client.crm.contacts.batch_api.update_with_http_info(body)
    assert status == 200
    assert result.results[0].properties["firstname"] == "Renamed"
    after = client.crm.contacts.basic_api.get_by_id("10001")
    assert after.properties["firstname"] == "Renamed"
    assert after.properties["lastmodifieddate"] == "2025-01-01T01:00:00.000Z"
    assert after.updated_at == stamp > before.updated_at
    assert after.created_at == before.created_at


def test_batch_update_rejects_unknown_property_and_non_strings(client: Any) -> None:
    with pytest.raises(ApiException) as err:
        client.crm.contacts.batch_api.update(
            BatchInputSimplePublicObjectBatchInput(
                inputs=[{"id": "10002", "properties": {"nps_score": "9"}}]
            )
        )
    body = json.loads(err.value.body)
    assert err.value.status == 400
    assert body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith("Property values were not valid: ")
    assert json.loads(body["message"].split(": ", 1)[1])[0]["error"] == "PROPERTY_DOESNT_EXIST"
    with pytest.raises(ApiException) as err:
        client.crm.contacts.batch_api.update(
            BatchInputSimplePublicObjectBatchInput(
                inputs=[{"id": "10002", "properties": {"firstname": 5}}]
            )
        )
    assert err.value.status == 400
    with pytest.raises(ApiException) as err:
        client.crm.contacts.batch_api.update(
            BatchInputSimplePublicObjectBatchInput(
                inputs=[{"id": str(i), "properties": {}} for i in range(101)]
            )
        )
    assert err.value.status == 400
    # Nothing was written by the rejected batches.
    assert client.crm.contacts.basic_api.get_by_id("10002").properties["firstname"] == "First2"


def test_create_patch_archive(client: Any, portal: Portal) -> None:
    created = client.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(
            properties={"email": "new@x.example", "firstname": "New"},
            associations=[
                {
                    "to": {"id": "1000"},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}],
                }
            ],
        )
    )
    assert created is not None
    assert int(created.id) > 100_000
    with pytest.raises(ApiException) as err:
        client.crm.contacts.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"email": "NEW@x.example"})
        )
    assert err.value.status == 409
    assert json.loads(err.value.body)["category"] == "CONFLICT"
    patched = client.crm.contacts.basic_api.update(
        created.id, SimplePublicObjectInput(properties={"lastname": "Person"})
    )
    assert patched.properties["lastname"] == "Person"
    client.crm.contacts.basic_api.archive(created.id)
    with pytest.raises(NotFoundException):
        client.crm.contacts.basic_api.get_by_id(created.id)
    gone = client.crm.contacts.basic_api.get_by_id(created.id, archived=True)
    assert gone.archived is True
    assert gone.archived_at is not None
    archived = client.crm.contacts.basic_api.get_page(archived=True, limit=100)
    assert created.id in {r.id for r in archived.results}
    assert created.id not in {c.id for c in client.crm.contacts.get_all()}
    found = client.crm.contacts.search_api.do_search(
        PublicObjectSearchRequest(
            filter_groups=[
                {"filters": [{"propertyName": "email", "operator": "EQ", "value": "new@x.example"}]}
            ]
        )
    )
    assert found.total == 0


# --------------------------------------------------------------------------- search
def _search(client: Any, **body: Any) -> Any:
    return client.crm.contacts.search_api.do_search(PublicObjectSearchRequest(**body))


def test_search_filters_sort_paging_total(client: Any, portal: Portal) -> None:
    contacts = list(portal.iter_objects("contacts"))
    cut = sorted(o.updated_ms for o in contacts)[len(contacts) // 2]
    expected = sorted(
        (o for o in contacts if o.updated_ms >= cut), key=lambda o: (o.updated_ms, o.id)
    )
    flt = {"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(cut)}
    seen: list[str] = []
    after = "0"
    while True:
        page = _search(
            client,
            filter_groups=[{"filters": [flt]}],
            limit=4,
            after=after,
            sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            properties=["email"],
        )
        assert page.total == len(expected)
        seen += [r.id for r in page.results]
        if page.paging is None:
            break
        after = page.paging.next.after
        assert after == str(len(seen))
    assert seen == [str(o.id) for o in expected]

    # ISO filter values, string sort form, descending.
    iso_value = next(o for o in contacts if o.updated_ms == cut).updated
    desc = _search(
        client,
        filter_groups=[{"filters": [{**flt, "value": iso_value}]}],
        sorts=["-lastmodifieddate"],
        limit=200,
    )
    assert [r.id for r in desc.results] == [str(o.id) for o in expected][::-1]

    # Groups are ORed, filters ANDed; strings compare case-insensitively.
    ored = _search(
        client,
        filter_groups=[
            {
                "filters": [
                    {"propertyName": "email", "operator": "EQ", "value": "PERSON0@company0.example"}
                ]
            },
            {
                "filters": [
                    {
                        "propertyName": "email",
                        "operator": "IN",
                        "values": ["person1@company1.example", "lone@x.example"],
                    },
                    {"propertyName": "firstname", "operator": "HAS_PROPERTY"},
                ]
            },
        ],
    )
    assert sorted(r.properties["email"] for r in ored.results) == [
        "lone@x.example",
        "person0@company0.example",
        "person1@company1.example",
    ]
    assert (
        _search(
            client,
            filter_groups=[
                {
                    "filters": [
                        {"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "company3"}
                    ]
                }
            ],
        ).total
        == 5
    )
    assert (
        _search(
            client,
            filter_groups=[
                {
                    "filters": [
                        {"propertyName": "associations.company", "operator": "EQ", "value": "1002"}
                    ]
                }
            ],
        ).total
        == 5
    )
    # Default order is creation (id) order.
    default = _search(client, limit=200)
    assert [r.id for r in default.results] == sorted((r.id for r in default.results), key=int)


def test_search_numbers_compare_numerically(client: Any) -> None:
    deals = client.crm.deals.search_api.do_search(
        {
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "amount",
                            "operator": "BETWEEN",
                            "value": "5000",
                            "highValue": "30000",
                        }
                    ]
                }
            ],
            "properties": ["amount"],
            "limit": 100,
        }
    )
    assert deals.results
    assert all(5000 <= float(d.properties["amount"]) <= 30000 for d in deals.results)


def test_search_limits(client: Any) -> None:
    notes = client.crm.objects.search_api
    page = notes.do_search("notes", {"limit": 200})
    assert len(page.results) == 200
    assert page.total == NOTES
    bad: dict[str, Any]
    for bad in (
        {"limit": 201},
        {"sorts": ["a", "b"]},
        {"filterGroups": [{"filters": []}] * 6},
        {
            "filterGroups": [
                {"filters": [{"propertyName": "hs_note_body", "operator": "HAS_PROPERTY"}] * 7}
            ]
        },
        {
            "filterGroups": [
                {"filters": [{"propertyName": "hs_note_body", "operator": "HAS_PROPERTY"}] * 6}
            ]
            * 4
        },
    ):
        with pytest.raises(ObjectsApiException) as err:
            notes.do_search("notes", bad)
        assert err.value.status == 400, bad
        assert json.loads(err.value.body)["category"] == "VALIDATION_ERROR"


def test_search_10k_cap(client: Any) -> None:
    notes = client.crm.objects.search_api
    last = notes.do_search(
        "notes",
        {
            "limit": 200,
            "after": "9800",
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "DESCENDING"}],
        },
    )
    assert len(last.results) == 200
    assert last.total == NOTES
    assert last.paging.next.after == "10000"
    assert last.results[0].id == str(100_000 + NOTES - 1 - 9800)
    with pytest.raises(ObjectsApiException) as err:
        notes.do_search("notes", {"limit": 200, "after": last.paging.next.after})
    assert err.value.status == 400


def test_search_has_no_rate_limit_headers(client: Any) -> None:
    _, status, headers = client.crm.contacts.search_api.do_search_with_http_info(
        PublicObjectSearchRequest(limit=1)
    )
    assert status == 200
    assert not any(h in headers for h in RATE_HEADERS)
    assert headers["X-HubSpot-Correlation-Id"]
    _, _, headers = client.crm.contacts.basic_api.get_page_with_http_info(limit=1)
    assert all(h in headers for h in RATE_HEADERS)
    assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"


# --------------------------------------------------------------------------- properties
def test_property_create_then_conflict(client: Any) -> None:
    api = client.crm.properties.core_api
    fields = {
        "name": "crmpulse_nps",
        "label": "NPS",
        "type": "number",
        "field_type": "number",
        "group_name": "contactinformation",
    }
    spec = PropertyCreate(**fields)
    created, status, _ = api.create_with_http_info("contacts", spec)
    assert status == 201
    assert created.name == "crmpulse_nps"
    assert created.hubspot_defined is False
    with pytest.raises(PropertiesApiException) as err:
        api.create("contacts", spec)
    assert err.value.status == 409
    assert json.loads(err.value.body)["category"] == "OBJECT_ALREADY_EXISTS"
    for bad in (
        {"name": "Bad Name"},
        {"name": "hs_mine"},
        {"type": "float"},
        {"field_type": "slider"},
        {"group_name": "nosuchgroup"},
    ):
        with pytest.raises(PropertiesApiException) as err:
            api.create("contacts", PropertyCreate(**{**fields, **bad}))
        assert err.value.status == 400, bad
    # The new property is writable and searchable.
    client.crm.contacts.basic_api.update(
        "10003", SimplePublicObjectInput(properties={"crmpulse_nps": "42.5"})
    )
    hit = _search(
        client,
        filter_groups=[
            {"filters": [{"propertyName": "crmpulse_nps", "operator": "GT", "value": "42"}]}
        ],
    )
    assert [r.id for r in hit.results] == ["10003"]
    fetched = api.get_by_name("contacts", "crmpulse_nps")
    assert fetched.modification_metadata.archivable is True
    names = {p.name for p in api.get_all("contacts").results}
    assert {"email", "customer_segment", "churn_date", "crmpulse_nps"} <= names | {
        "customer_segment"
    }
    assert api.get_by_name("companies", "customer_segment").hubspot_defined is False
    with pytest.raises(PropertiesApiException) as err:
        api.get_by_name("contacts", "nosuch")
    assert err.value.status == 404


def test_property_group_create_then_conflict(client: Any) -> None:
    api = client.crm.properties.groups_api
    group, status, _ = api.create_with_http_info(
        "companies", PropertyGroupCreate(name="relationship_kpis", label="Relationship KPIs")
    )
    assert status == 201
    assert group.name == "relationship_kpis"
    with pytest.raises(PropertiesApiException) as err:
        api.create("companies", PropertyGroupCreate(name="relationship_kpis", label="again"))
    assert err.value.status == 409
    assert "relationship_kpis" in {g.name for g in api.get_all("companies").results}
    assert api.get_by_name("companies", "relationship_kpis").label == "Relationship KPIs"


# --------------------------------------------------------------------------- associations
def test_associations_v4_batch_read(client: Any) -> None:
    body = BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": "10000"}, {"id": "9001"}])
    result, status, _ = client.crm.associations.v4.batch_api.get_page_with_http_info(
        "contacts", "companies", body
    )
    assert status == 207
    assert result.results[0]._from.id == "10000"
    (target,) = result.results[0].to
    assert str(target.to_object_id) == "1000"
    assert {(t.type_id, t.label) for t in target.association_types} == {(279, None), (1, "Primary")}
    (err,) = result.errors
    assert err.sub_category == "crm.associations.NO_ASSOCIATIONS_FOUND"
    assert err.context["fromObjectId"] == ["9001"]
    ok, status, _ = client.crm.associations.v4.batch_api.get_page_with_http_info(
        "0-2", "contacts", BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": "1000"}])
    )
    assert status == 200
    assert len(ok.results[0].to) == 5
    with pytest.raises(AssociationsApiException) as too_many:
        client.crm.associations.v4.batch_api.get_page(
            "contacts",
            "companies",
            BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": "1"}] * 1001),
        )
    assert getattr(too_many.value, "status", None) == 400


def test_association_changes_do_not_bump_modified(client: Any) -> None:
    before = client.crm.contacts.basic_api.get_by_id("9001")
    v4 = client.crm.associations.v4.basic_api
    v4.create(
        "contacts",
        "9001",
        "companies",
        "900",
        [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}],
    )
    listed = v4.get_page("contacts", "9001", "companies")
    assert [str(r.to_object_id) for r in listed.results] == ["900"]
    back = v4.get_page("companies", "900", "contacts")
    assert [t.type_id for t in back.results[0].association_types] == [280]
    assert client.crm.contacts.basic_api.get_by_id("9001").updated_at == before.updated_at
    v4.archive("contacts", "9001", "companies", "900")
    assert v4.get_page("contacts", "9001", "companies").results == []


def test_pipelines(client: Any) -> None:
    (tickets,) = client.crm.pipelines.pipelines_api.get_all("tickets").results
    assert {s.id: s.metadata["ticketState"] for s in tickets.stages} == {
        "1": "OPEN",
        "2": "OPEN",
        "3": "OPEN",
        "4": "CLOSED",
    }
    (deals,) = client.crm.pipelines.pipelines_api.get_all("deals").results
    closed = {s.id for s in deals.stages if s.metadata["isClosed"] == "true"}
    assert closed == {"closedwon", "closedlost"}


# --------------------------------------------------------------------------- auth, limits
def test_wrong_token_is_401(server: SandboxServer) -> None:
    bad = hubspot.HubSpot(access_token="nope", host=server.base_url)
    with pytest.raises(UnauthorizedException) as err:
        bad.crm.contacts.basic_api.get_page()
    body = json.loads(err.value.body)
    assert body["status"] == "error"
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert body["message"].startswith("Authentication credentials not found.")
    assert re.fullmatch(r"[0-9a-f-]{36}", body["correlationId"])
    assert requests.get(f"{server.base_url}/crm/v3/objects/contacts", timeout=5).status_code == 401


class TickingClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limits_with_fake_clock(portal: Portal) -> None:
    tick = TickingClock()
    limits = RateLimits(burst=3, daily=7, search_per_second=2, retry_after=True)
    with SandboxServer(portal, token=TOKEN, limits=limits, clock=tick) as srv:
        client = hubspot.HubSpot(access_token=TOKEN, host=srv.base_url, retry=None)
        api = client.crm.contacts.basic_api
        remaining = [
            api.get_page_with_http_info(limit=1)[2]["X-HubSpot-RateLimit-Remaining"]
            for _ in range(3)
        ]
        assert remaining == ["2", "1", "0"]
        url = f"{srv.base_url}/crm/v3/objects/contacts"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        resp = requests.get(url, headers=auth, timeout=5)
        assert resp.status_code == 429
        body = resp.json()
        assert body["policyName"] == "TEN_SECONDLY_ROLLING"
        assert body["errorType"] == "RATE_LIMIT"
        assert body["message"] == "You have reached your ten_secondly_rolling limit."
        assert body["correlationId"] == resp.headers["X-HubSpot-Correlation-Id"]
        assert body["requestId"]
        assert resp.headers["X-HubSpot-RateLimit-Remaining"] == "0"
        assert resp.headers["X-HubSpot-RateLimit-Max"] == "3"
        assert int(resp.headers["Retry-After"]) >= 1
        tick.now += 10.0
        assert requests.get(url, headers=auth, timeout=5).status_code == 200
        # Search: own per-second limit, reported as SECONDLY, never with rate-limit headers.
        search = f"{url}/search"
        codes = [requests.post(search, json={}, headers=auth, timeout=5) for _ in range(3)]
        assert [c.status_code for c in codes] == [200, 200, 429]
        assert codes[2].json()["policyName"] == "SECONDLY"
        tick.now += 1.0
        # Daily: 4 REST + 2 searches used (rejected calls are free); one more, then DAILY.
        assert requests.get(url, headers=auth, timeout=5).status_code == 200
        daily = requests.get(url, headers=auth, timeout=5)
        assert daily.status_code == 429
        assert daily.json()["policyName"] == "DAILY"
        assert daily.json()["message"] == "You have reached your daily limit."
        tick.now += 86_400
        assert requests.get(url, headers=auth, timeout=5).status_code == 200


# --------------------------------------------------------------------------- sandbox surface
def test_stats_count_calls(client: Any, server: SandboxServer) -> None:
    requests.post(f"{server.base_url}/_sandbox/stats/reset", timeout=5)
    client.crm.contacts.basic_api.get_page(limit=2)
    client.crm.contacts.basic_api.get_page(limit=2)
    client.crm.tickets.basic_api.get_by_id("30001")
    with pytest.raises(Exception):  # noqa: B017, PT011
        client.crm.tickets.basic_api.get_by_id("1")
    client.crm.contacts.search_api.do_search(PublicObjectSearchRequest(limit=1))
    stats = requests.get(f"{server.base_url}/_sandbox/stats", timeout=5).json()
    calls = {(c["method"], c["route"], c["status"]): c["count"] for c in stats["calls"]}
    assert calls == {
        ("GET", "/crm/v3/objects/contacts", 200): 2,
        ("GET", "/crm/v3/objects/tickets/{id}", 200): 1,
        ("GET", "/crm/v3/objects/tickets/{id}", 404): 1,
        ("POST", "/crm/v3/objects/contacts/search", 200): 1,
    }
    assert stats["total"] == 5


def test_fault_injection(client: Any, server: SandboxServer) -> None:
    armed = requests.post(
        f"{server.base_url}/_sandbox/faults",
        timeout=5,
        json={"path_prefix": "/crm/v3/objects/deals", "status": 502, "count": 2},
    )
    assert armed.status_code == 201
    for _ in range(2):
        with pytest.raises(Exception) as err:  # noqa: PT011
            client.crm.deals.basic_api.get_page(limit=1)
        assert getattr(err.value, "status", None) == 502
    assert client.crm.deals.basic_api.get_page(limit=1).results


def test_inject_detractor_answer(client: Any, server: SandboxServer) -> None:
    resp = requests.post(
        f"{server.base_url}/_sandbox/objects/feedback_submissions",
        timeout=5,
        json={
            "properties": {
                "hs_survey_type": "NPS",
                "hs_value": "2",
                "hs_response_group": "DETRACTOR",
                "hs_content": "cancel it",
                "hs_contact_id": "10004",
            },
            "associations": {"contacts": ["10004"]},
        },
    )
    assert resp.status_code == 201
    new_id = resp.json()["id"]
    assert resp.json()["properties"]["hs_value"] == "2"
    found = client.crm.objects.search_api.do_search(
        "feedback_submissions",
        {
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "hs_response_group",
                            "operator": "EQ",
                            "value": "DETRACTOR",
                        },
                        {
                            "propertyName": "hs_content",
                            "operator": "CONTAINS_TOKEN",
                            "value": "cancel",
                        },
                    ]
                }
            ]
        },
    )
    assert [r.id for r in found.results] == [new_id]
    assoc = client.crm.associations.v4.batch_api.get_page(
        "feedback_submissions",
        "contacts",
        BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": new_id}]),
    )
    assert str(assoc.results[0].to[0].to_object_id) == "10004"
    assert assoc.results[0].to[0].association_types[0].type_id == 98


def test_feedback_submissions_are_read_only(client: Any) -> None:
    api = client.crm.objects.basic_api
    with pytest.raises(ForbiddenException) as err:
        api.create("feedback_submissions", {"properties": {"hs_value": "10"}})
    assert json.loads(err.value.body)["category"] == "MISSING_SCOPES"
    with pytest.raises(ForbiddenException):
        api.update("feedback_submissions", "9100", {"properties": {"hs_value": "10"}})
    with pytest.raises(ForbiddenException):
        client.crm.objects.batch_api.update(
            "feedback_submissions", {"inputs": [{"id": "9100", "properties": {"hs_value": "1"}}]}
        )
    with pytest.raises(ForbiddenException):
        api.archive("feedback_submissions", "9100")
    assert (
        api.get_by_id("feedback_submissions", "9100", properties=["hs_value"]).properties[
            "hs_value"
        ]
        == "3"
    )


def test_build_portal_uses_synth_when_present() -> None:
    pytest.importorskip("crmpulse.synth", reason="crmpulse.synth not written yet")
    try:
        portal = build_portal(seed=1, scale="tiny", as_of=AS_OF)
    except (ImportError, AttributeError):
        pytest.skip("crmpulse.synth has no generate() yet")
    assert portal.count("contacts") > 0
