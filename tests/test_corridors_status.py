"""The corridor status rule, and the compare-and-set that records a change once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from conftest import TEST_NOW
from corridors.domain import EscortRecommendation as Rec
from corridors.domain import RiskLevel as L
from corridors.services.corridors import corridor_status
from corridors.store import Database
from corridors.store.models import CorridorRow
from corridors.store.repositories import CorridorRepository


@pytest.mark.parametrize(
    ("kwargs", "want"),
    [
        ({"no_route": "No route: blocked by zone z1."}, "closed"),
        ({"recommendation": Rec.do_not_travel, "level": L.unacceptable}, "closed"),
        ({"recommendation": Rec.armed_escort, "level": L.very_high}, "restricted"),
        ({"recommendation": Rec.police_escort, "level": L.high}, "restricted"),
        ({"recommendation": Rec.none, "level": L.medium}, "caution"),
        ({"recommendation": Rec.none, "level": L.high}, "caution"),
        ({"recommendation": Rec.none, "level": L.low, "caution_zones": ["z2"]}, "caution"),
        ({"recommendation": Rec.none, "level": L.low, "hotspot_streets": ["Rue X"]}, "caution"),
        ({"recommendation": Rec.none, "level": L.low}, "open"),
    ],
)
def test_status_rule(kwargs: dict[str, object], want: str) -> None:
    status, reason = corridor_status(**kwargs)  # type: ignore[arg-type]
    assert status == want
    assert reason.endswith(".")


def test_reasons_name_what_matters() -> None:
    assert "z1" in corridor_status(no_route="No route: blocked by zone z1.")[1]
    assert "armed escort" in corridor_status(recommendation=Rec.armed_escort, level=L.high)[1]
    _, reason = corridor_status(
        recommendation=Rec.none, level=L.medium, caution_zones=["z9"], hotspot_streets=["", "B"]
    )
    for part in ("medium", "z9", "unnamed road", "B"):
        assert part in reason


def test_change_status_is_compare_and_set(database: Database) -> None:
    with database.session() as s:
        CorridorRepository(s).add(
            CorridorRow(
                id="c1",
                name="c",
                origin_lon=0.0,
                origin_lat=0.0,
                destination_lon=1.0,
                destination_lat=1.0,
                waypoints=[],
                convoy={},
                risk_aversion=0.5,
                status="open",
                status_reason="",
                status_changed_at=TEST_NOW,
                created_at=TEST_NOW,
                created_by="t",
                archived_at=None,
            )
        )
    later = TEST_NOW + timedelta(minutes=1)

    def change(expected: str, status: str, at: object) -> bool:
        with database.session() as s:
            return CorridorRepository(s).change_status(
                "c1",
                expected=expected,
                status=status,
                reason="r",
                at=at,  # type: ignore[arg-type]
            )

    assert change("open", "caution", later)  # the first process
    assert not change("open", "caution", later)  # the second: already done
    # A process whose risk field is older than the last change cannot undo it.
    assert not change("caution", "open", TEST_NOW)
    assert change("caution", "open", later + timedelta(minutes=1))
    with database.session() as s:
        history = CorridorRepository(s).history(["c1"])["c1"]
    assert [(h.previous_status, h.status) for h in history] == [
        ("caution", "open"),
        ("open", "caution"),
    ]
