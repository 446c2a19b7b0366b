"""Reports and zones over HTTP, on SQLite and PostgreSQL: lifecycle, validation,
idempotency, listing, imports, audit, rate limit and restarts."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from conftest import ACLED_HEADER, TEST_NOW, Api, report_body
from corridors.domain import Role, ZoneKind
from corridors.services.reports import incidents_for_risk
from corridors.services.zones import active_zones

MakeApi = Callable[..., Api]
RESTRICTED = {"source", "description", "created_by", "status_note", "external_id"}


def _post(
    api: Api, body: dict[str, Any], *, role: Role = Role.reporter, idem: str | None = None
) -> Any:
    headers = api.headers(role)
    if idem is not None:
        headers["Idempotency-Key"] = idem
    return api.client.post("/v1/reports", json=body, headers=headers)


# --- lifecycle --------------------------------------------------------------------------


def test_report_lifecycle(database_url: str, make_api: MakeApi) -> None:
    api = make_api(database_url)
    body = report_body()
    created = _post(api, body)
    assert created.status_code == 201, created.text
    doc = created.json()
    assert created.headers["location"] == f"/v1/reports/{doc['id']}"
    for name, value in body.items():
        assert doc[name] == value, name
    assert doc["status"] == "active"
    assert doc["created_by"] == "reporter"
    assert doc["created_at"] == "2026-11-24T12:00:00Z"
    assert api.changes == ["reports"]

    got = api.client.get(f"/v1/reports/{doc['id']}", headers=api.headers(Role.analyst))
    assert got.status_code == 200
    assert got.json() == doc

    api.clock.advance(minutes=5)
    verified = api.client.patch(
        f"/v1/reports/{doc['id']}",
        json={"status": "verified", "note": "confirmed by patrol"},
        headers=api.headers(Role.analyst),
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["status"] == "verified"
    assert verified.json()["status_note"] == "confirmed by patrol"
    assert verified.json()["updated_at"] == "2026-11-24T12:05:00Z"
    assert [i.id for i in incidents_for_risk(api.runtime.db, TEST_NOW)] == [doc["id"]]

    retracted = api.client.patch(
        f"/v1/reports/{doc['id']}", json={"status": "retracted"}, headers=api.headers(Role.analyst)
    )
    assert retracted.json()["status"] == "retracted"
    again = api.client.patch(
        f"/v1/reports/{doc['id']}", json={"status": "verified"}, headers=api.headers(Role.admin)
    )
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert "final" in again.json()["detail"]
    # Retracted reports stop counting but are never deleted.
    assert incidents_for_risk(api.runtime.db, TEST_NOW) == []
    still = api.client.get(f"/v1/reports/{doc['id']}", headers=api.headers(Role.viewer))
    assert still.json()["status"] == "retracted"
    assert api.changes == ["reports"] * 3

    audit = api.client.get("/v1/audit", headers=api.headers(Role.admin)).json()["items"]
    report_actions = [
        (e["action"], e["key_name"], e["object_id"]) for e in audit if e["object_type"] == "report"
    ]
    assert report_actions == [
        ("report.retract", "analyst", doc["id"]),
        ("report.verify", "analyst", doc["id"]),
        ("report.create", "reporter", doc["id"]),
    ]


def test_missing_and_bad_status(database_url: str, make_api: MakeApi) -> None:
    api = make_api(database_url)
    analyst = api.headers(Role.analyst)
    assert api.client.get("/v1/reports/nope", headers=analyst).status_code == 404
    missing = api.client.patch("/v1/reports/nope", json={"status": "verified"}, headers=analyst)
    assert missing.status_code == 404
    rid = _post(api, report_body()).json()["id"]
    bad = api.client.patch(f"/v1/reports/{rid}", json={"status": "active"}, headers=analyst)
    assert bad.status_code == 422


def test_restricted_fields_by_role(database_url: str, make_api: MakeApi) -> None:
    api = make_api(database_url)
    rid = _post(api, report_body()).json()["id"]
    for role in Role:
        item = api.client.get("/v1/reports", headers=api.headers(role)).json()["items"][0]
        one = api.client.get(f"/v1/reports/{rid}", headers=api.headers(role)).json()
        if role.includes(Role.analyst):
            assert item["source"] == "HNP radio"
            assert item["created_by"] == "reporter"
            assert one["description"].startswith("Exchange of fire")
        else:
            assert RESTRICTED.isdisjoint(item), role
            assert RESTRICTED.isdisjoint(one), role
            assert item["category"] == "armed_clash"


# --- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"location": {"lon": -71.9, "lat": 18.54}}, "outside the service area"),
        ({"occurred_at": "2026-11-24T12:06:00Z"}, "future"),
        ({"occurred_at": "2026-11-24T10:30:00"}, "occurred_at"),
        ({"category": "alien_landing"}, "category"),
        ({"severity": 6}, "severity"),
        ({"severity": 0}, "severity"),
        ({"credibility": 7}, "credibility"),
        ({"source_reliability": "G"}, "source_reliability"),
        ({"uncertainty_m": -1}, "uncertainty_m"),
        ({"fatalities": -2}, "fatalities"),
        ({"location": {"lon": "west", "lat": 18.5}}, "location"),
        ({"location": None}, "location"),
        ({"expires_at": "2026-11-24T10:00:00Z"}, "expires_at"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_reports_are_422_with_reason(
    module_api: Api, overrides: dict[str, Any], needle: str
) -> None:
    api = module_api
    response = _post(api, report_body(**overrides))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 422
    assert needle in problem["detail"]
    assert api.client.get("/v1/reports", headers=api.headers(Role.viewer)).json()["items"] == []


def test_just_inside_the_future_tolerance_is_accepted(database_url: str, make_api: MakeApi) -> None:
    api = make_api(database_url)
    assert _post(api, report_body(occurred_at="2026-11-24T12:04:59Z")).status_code == 201


# --- idempotency --------------------------------------------------------------------------


def test_idempotency_replay_and_conflict(database_url: str, make_api: MakeApi) -> None:
    api = make_api(database_url)
    first = _post(api, report_body(), idem="retry-1")
    assert first.status_code == 201
    api.clock.advance(minutes=1)
    replay = _post(api, report_body(), idem="retry-1")
    assert replay.status_code == 200
    assert replay.json() == first.json()
    other = _post(api, report_body(severity=2), idem="retry-1")
    assert other.status_code == 409
    assert "Idempotency-Key" in other.json()["detail"]
    # The key is scoped per API key: another reporter's identical key is a new report.
    third = _post(api, report_body(), role=Role.analyst, idem="retry-1")
    assert third.status_code == 201
    assert third.json()["id"] != first.json()["id"]
    items = api.client.get("/v1/reports", headers=api.headers(Role.viewer)).json()["items"]
    assert len(items) == 2
    assert api.changes == ["reports", "reports"]


# --- listing ----------------------------------------------------------------------------


def test_list_filters_pages_and_geojson(database_url: str, make_api: MakeApi) -> None:
    api = make_api(database_url)
    specs = [
        ("2026-11-20T08:00:00Z", "riot", -72.30, 18.55),
        ("2026-11-21T08:00:00Z", "arson", -72.30, 18.55),
        ("2026-11-22T08:00:00Z", "riot", -72.40, 18.50),
        ("2026-11-23T08:00:00Z", "looting", -72.30, 18.55),
        ("2026-11-23T08:00:00Z", "riot", -72.31, 18.56),
    ]
    ids = [
        _post(
            api,
            report_body(occurred_at=t, category=c, location={"lon": lon, "lat": lat}),
        ).json()["id"]
        for t, c, lon, lat in specs
    ]
    viewer = api.headers(Role.viewer)
    # Newest first, ties by id (descending): pages of 2 cover all five once.
    expected = sorted(zip([s[0] for s in specs], ids, strict=True), reverse=True)
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = api.client.get("/v1/reports", params=params, headers=viewer).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [i for _, i in expected]

    def listed(**params: Any) -> set[str]:
        response = api.client.get("/v1/reports", params=params, headers=viewer)
        assert response.status_code == 200, response.text
        return {i["id"] for i in response.json()["items"]}

    assert listed(category="riot") == {ids[0], ids[2], ids[4]}
    assert listed(category="riot,looting") == {ids[0], ids[2], ids[3], ids[4]}
    assert listed(bbox="-72.35,18.52,-72.25,18.60") == {ids[0], ids[1], ids[3], ids[4]}
    assert listed(since="2026-11-21T08:00:00Z", until="2026-11-23T08:00:00Z") == {
        ids[1],
        ids[2],
    }
    assert listed(status="retracted") == set()
    for bad in ({"bbox": "1,2,3"}, {"category": "ufo"}, {"cursor": "zzz"}, {"limit": 0}):
        response = api.client.get("/v1/reports", params=bad, headers=viewer)
        assert response.status_code == 422, bad

    geo = api.client.get(
        "/v1/reports",
        params={"category": "arson"},
        headers={**viewer, "Accept": "application/geo+json"},
    )
    assert geo.headers["content-type"].startswith("application/geo+json")
    collection = geo.json()
    assert collection["type"] == "FeatureCollection"
    (feature,) = collection["features"]
    assert feature["geometry"] == {"type": "Point", "coordinates": [-72.30, 18.55]}
    assert feature["properties"]["id"] == ids[1]
    assert "source" not in feature["properties"]


# --- imports ----------------------------------------------------------------------------


def _acled_csv(rows: list[dict[str, str]]) -> bytes:
    """An invented file in ACLED's column layout."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=ACLED_HEADER)
    writer.writeheader()
    base = dict.fromkeys(ACLED_HEADER, "")
    base.update(
        year="2026",
        time_precision="1",
        disorder_type="Political violence",
        actor1="Invented Group A",
        iso="332",
        region="Caribbean",
        country="Haiti",
        admin1="Ouest",
        location="Invented Place",
        geo_precision="1",
        source="Invented Gazette",
        notes="INVENTED NOTE",
        fatalities="0",
        timestamp="1700000000",
    )
    for row in rows:
        writer.writerow({**base, **row})
    return out.getvalue().encode()


def _event(eid: str, date: str, etype: str, sub: str, lat: str, lon: str) -> dict[str, str]:
    return {
        "event_id_cnty": eid,
        "event_date": date,
        "event_type": etype,
        "sub_event_type": sub,
        "latitude": lat,
        "longitude": lon,
    }


MIXED = _acled_csv(
    [
        _event("INV1", "2026-11-01", "Battles", "Armed clash", "18.5400", "-72.3000"),  # row 2
        _event("INV2", "2026-11-02", "Riots", "Violent demonstration", "18.55", "-72.31"),
        _event("INV3", "2026-11-03", "Violence against civilians", "Attack", "18.53", "-72.33"),
        _event("INV4", "2026-11-03", "Battles", "Armed clash", "abc", "-72.30"),  # row 5: bad
        _event("INV5", "2026-11-03", "Battles", "Armed clash", "18.54", "-72.00"),  # 6: outside
        _event("INV1", "2026-11-01", "Battles", "Armed clash", "18.5400", "-72.3000"),  # 7: dup
        _event("INV6", "2027-01-01", "Battles", "Armed clash", "18.54", "-72.30"),  # 8: future
    ]
)


def _import(api: Api, data: bytes, fmt: str = "acled", role: Role = Role.analyst) -> Any:
    return api.client.post(
        "/v1/reports/import",
        params={"format": fmt},
        content=data,
        headers=api.headers(role, **{"Content-Type": "text/csv"}),
    )


def test_import_mixed_good_and_bad_rows(database_url: str, make_api: MakeApi) -> None:
    api = make_api(database_url)
    response = _import(api, MIXED)
    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["imported"] == 3
    assert summary["duplicates"] == 1
    assert [r["row"] for r in summary["rejected"]] == [5, 6, 8]
    reasons = {r["row"]: r["error"] for r in summary["rejected"]}
    assert "latitude" in reasons[5]
    assert "outside the service area" in reasons[6]
    assert "future" in reasons[8]
    assert api.changes == ["reports"]

    items = api.client.get("/v1/reports", headers=api.headers(Role.analyst)).json()["items"]
    assert len(items) == 3
    assert {i["created_by"] for i in items} == {"analyst"}
    assert {(i["location"]["lon"], i["location"]["lat"]) for i in items} == {
        (-72.30, 18.54),
        (-72.31, 18.55),
        (-72.33, 18.53),
    }

    # The same file again: everything already stored is a duplicate, nothing new.
    again = _import(api, MIXED).json()
    assert (again["imported"], again["duplicates"], len(again["rejected"])) == (0, 4, 3)
    assert len(api.client.get("/v1/reports", headers=api.headers(Role.viewer)).json()["items"]) == 3
    audit = api.client.get(
        "/v1/audit", params={"action": "report.import"}, headers=api.headers(Role.admin)
    ).json()["items"]
    assert [e["detail"]["imported"] for e in audit] == [0, 3]


def test_import_geojson_and_unreadable(database_url: str, make_api: MakeApi) -> None:
    api = make_api(database_url)
    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [-72.33, 18.54]},
                "properties": {
                    "occurred_at": "2026-11-20T10:00:00Z",
                    "category": "roadblock",
                    "severity": 2,
                },
            }
        ],
    }
    ok = _import(api, json.dumps(collection).encode(), fmt="geojson")
    assert ok.status_code == 200, ok.text
    assert ok.json()["imported"] == 1
    binary = _import(api, b"PK\x03\x04 not a csv", fmt="acled")
    assert binary.status_code == 422
    assert binary.headers["content-type"].startswith("application/problem+json")
    unknown = _import(api, MIXED, fmt="xlsx")
    assert unknown.status_code == 422


def test_oversized_import_is_413(database_url: str, make_api: MakeApi) -> None:
    api = make_api(database_url, max_import_bytes=len(MIXED) - 1)
    response = _import(api, MIXED)
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    assert api.client.get("/v1/reports", headers=api.headers(Role.viewer)).json()["items"] == []


# --- zones ------------------------------------------------------------------------------

SQUARE = {
    "type": "Polygon",
    "coordinates": [
        [
            [-72.345, 18.540],
            [-72.335, 18.540],
            [-72.335, 18.548],
            [-72.345, 18.548],
            [-72.345, 18.540],
        ]
    ],
}


def test_zone_lifecycle(database_url: str, make_api: MakeApi) -> None:
    api = make_api(database_url)
    analyst = api.headers(Role.analyst)
    created = api.client.post(
        "/v1/zones",
        json={"name": "Market", "kind": "caution", "geometry": SQUARE, "multiplier": 3},
        headers=analyst,
    )
    assert created.status_code == 201, created.text
    zone = created.json()
    assert (zone["kind"], zone["multiplier"], zone["active"]) == ("caution", 3.0, True)
    assert zone["valid_from"] == "2026-11-24T12:00:00Z"
    assert zone["geometry"]["type"] == "Polygon"
    default = api.client.post(
        "/v1/zones", json={"name": "Road", "kind": "no_go", "geometry": SQUARE}, headers=analyst
    ).json()
    assert api.changes == ["zones", "zones"]

    listed = api.client.get("/v1/zones", headers=api.headers(Role.viewer)).json()["items"]
    assert {z["id"] for z in listed} == {zone["id"], default["id"]}
    assert "created_by" not in listed[0]
    zones = active_zones(api.runtime.db, TEST_NOW)
    assert {z.kind for z in zones} == {ZoneKind.caution, ZoneKind.no_go}
    for z in zones:
        assert z.geometry.bounds == pytest.approx((-72.345, 18.540, -72.335, 18.548))

    api.clock.advance(hours=2)
    ended = api.client.delete(f"/v1/zones/{zone['id']}", headers=analyst)
    assert ended.status_code == 200
    assert ended.json()["ended_at"] == "2026-11-24T14:00:00Z"
    assert ended.json()["active"] is False
    now_listed = api.client.get("/v1/zones", headers=api.headers(Role.viewer)).json()["items"]
    assert [z["id"] for z in now_listed] == [default["id"]]
    all_listed = api.client.get(
        "/v1/zones", params={"include_ended": "true"}, headers=api.headers(Role.viewer)
    ).json()["items"]
    assert len(all_listed) == 2
    # History is kept: an hour after creation the zone was in force, now it is not.
    then = {z.id for z in active_zones(api.runtime.db, TEST_NOW + timedelta(hours=1))}
    now = {z.id for z in active_zones(api.runtime.db, TEST_NOW + timedelta(hours=2))}
    assert then == {zone["id"], default["id"]}
    assert now == {default["id"]}
    assert api.client.delete("/v1/zones/nope", headers=analyst).status_code == 404

    geo = api.client.get("/v1/zones", headers={**analyst, "Accept": "application/geo+json"})
    assert geo.json()["features"][0]["geometry"]["type"] == "Polygon"


@pytest.mark.parametrize(
    ("geometry", "needle"),
    [
        (  # bow tie: self-intersecting ring
            {
                "type": "Polygon",
                "coordinates": [
                    [
                        [-72.34, 18.54],
                        [-72.33, 18.55],
                        [-72.33, 18.54],
                        [-72.34, 18.55],
                        [-72.34, 18.54],
                    ]
                ],
            },
            "invalid polygon",
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [[[-71.9, 18.54], [-71.8, 18.54], [-71.8, 18.55], [-71.9, 18.54]]],
            },
            "outside the service area",
        ),
        ({"type": "Point", "coordinates": [-72.34, 18.54]}, "geometry"),
        ({"type": "Polygon", "coordinates": [[[-72.34, 18.54], [-72.33]]]}, "geometry"),
        ({"type": "Polygon", "coordinates": []}, "geometry"),
    ],
)
def test_bad_zone_geometry_is_422(
    database_url: str, make_api: MakeApi, geometry: dict[str, Any], needle: str
) -> None:
    api = make_api(database_url)
    response = api.client.post(
        "/v1/zones",
        json={"name": "x", "kind": "no_go", "geometry": geometry},
        headers=api.headers(Role.analyst),
    )
    assert response.status_code == 422, response.text
    assert needle in response.json()["detail"]


# --- abuse limits and durability ----------------------------------------------------------


def test_write_rate_limit_is_429_with_retry_after(database_url: str, make_api: MakeApi) -> None:
    api = make_api(database_url, write_rate_per_minute=2)
    assert _post(api, report_body()).status_code == 201
    assert _post(api, report_body()).status_code == 201
    limited = _post(api, report_body())
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) == 30  # one write per 30 s at 2 a minute
    # Reads are not limited, and other keys have their own budget.
    assert api.client.get("/v1/reports", headers=api.headers(Role.reporter)).status_code == 200
    assert _post(api, report_body(), role=Role.analyst).status_code == 201


def test_restart_keeps_everything(database_url: str, make_api: MakeApi) -> None:
    first = make_api(database_url)
    rid = _post(first, report_body(), idem="k1").json()["id"]
    zid = first.client.post(
        "/v1/zones",
        json={"name": "Z", "kind": "no_go", "geometry": SQUARE},
        headers=first.headers(Role.analyst),
    ).json()["id"]
    first.client.delete("/v1/keys/viewer", headers=first.headers(Role.admin))

    second = make_api(database_url, keys=first.keys)  # a new process on the same database
    got = second.client.get(f"/v1/reports/{rid}", headers=second.headers(Role.analyst))
    assert got.status_code == 200
    assert got.json()["created_by"] == "reporter"
    replay = _post(second, report_body(), idem="k1")
    assert (replay.status_code, replay.json()["id"]) == (200, rid)
    zones = second.client.get("/v1/zones", headers=second.headers(Role.analyst)).json()["items"]
    assert [z["id"] for z in zones] == [zid]
    assert second.client.get("/v1/reports", headers=second.headers(Role.viewer)).status_code == 401
    actions = [
        e["action"]
        for e in second.client.get("/v1/audit", headers=second.headers(Role.admin)).json()["items"]
    ]
    assert actions[:3] == ["key.revoke", "zone.create", "report.create"]
