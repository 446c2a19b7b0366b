"""The escort policy: every number the escort decision uses, loaded from a TOML file.

The shipped policy is ``data/escort-policy.toml``; ``docs/escort-policy.md`` explains it to
planners. :func:`load_policy` validates the whole file before anything uses it, so a bad file
fails start-up with a :class:`~corridors.errors.ConfigError` naming the line at fault.
"""

from __future__ import annotations

import re
import tomllib
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from corridors.domain import CargoKind, EscortRecommendation, RiskLevel, VehicleClass
from corridors.errors import ConfigError
from corridors.toml_lines import key_lines, line_of

__all__ = [
    "ArmourRules",
    "DaylightRules",
    "EscalationRules",
    "EscortKind",
    "EscortPolicy",
    "EscortType",
    "HandoverRules",
    "ImpactScale",
    "LikelihoodScale",
    "RiskMatrix",
    "SizingRule",
    "load_policy",
    "policy_from_toml",
]

#: The two escort kinds the policy knows (the other recommendations are not escorts).
EscortKind = Literal["police_escort", "armed_escort"]

_LEVELS = list(RiskLevel)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _strictly_increasing(values: tuple[float, ...]) -> tuple[float, ...]:
    for i in range(1, len(values)):
        if not values[i] > values[i - 1]:
            raise ValueError(
                f"thresholds must increase strictly, but item {i + 1} ({values[i]:g}) "
                f"is not above item {i} ({values[i - 1]:g})"
            )
    return values


class LikelihoodScale(_Frozen):
    """Thresholds of the likelihood scale 1..5.

    Each list holds the four values at or above which likelihood 2, 3, 4 and 5 are reached.
    The route's likelihood is the higher of the exposure likelihood and the peak likelihood.
    """

    exposure_thresholds: tuple[float, float, float, float] = Field(
        description="Route exposure (risk per km x km) reaching likelihood 2, 3, 4, 5."
    )
    peak_risk_per_km_thresholds: tuple[float, float, float, float] = Field(
        description="Worst segment/hotspot risk per km reaching likelihood 2, 3, 4, 5."
    )

    @field_validator("exposure_thresholds", "peak_risk_per_km_thresholds")
    @classmethod
    def _check_thresholds(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if v[0] <= 0:
            raise ValueError(f"thresholds must be positive, got {v[0]:g}")
        return _strictly_increasing(v)


class ImpactScale(_Frozen):
    """Impact scale 1..5 of a convoy: cargo base plus adjustments, clamped to 1..5."""

    armored_reduction: int = Field(ge=0, le=4, description="Impact steps removed if armoured.")
    vehicle_count_thresholds: tuple[int, ...] = Field(
        max_length=4, description="Each convoy size reached adds one impact step."
    )
    cargo: dict[CargoKind, Annotated[int, Field(ge=1, le=5)]] = Field(
        description="Base impact 1..5 per cargo kind."
    )
    vehicle_class: dict[VehicleClass, Annotated[int, Field(ge=-2, le=2)]] = Field(
        description="Impact steps added (or removed) per vehicle class, -2..2."
    )

    @field_validator("vehicle_count_thresholds")
    @classmethod
    def _check_counts(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if v and v[0] < 2:
            raise ValueError(f"vehicle count thresholds start at 2 vehicles, got {v[0]}")
        _strictly_increasing(tuple(float(x) for x in v))
        return v

    @field_validator("cargo")
    @classmethod
    def _check_cargo(cls, v: dict[CargoKind, int]) -> dict[CargoKind, int]:
        missing = [c.value for c in CargoKind if c not in v]
        if missing:
            raise ValueError(f"a base impact is needed for every cargo kind; missing {missing}")
        return v

    @field_validator("vehicle_class")
    @classmethod
    def _check_classes(cls, v: dict[VehicleClass, int]) -> dict[VehicleClass, int]:
        missing = [c.value for c in VehicleClass if c not in v]
        if missing:
            raise ValueError(f"an adjustment is needed for every vehicle class; missing {missing}")
        return v


_Row = tuple[RiskLevel, RiskLevel, RiskLevel, RiskLevel, RiskLevel]


def _check_row(v: _Row, info: ValidationInfo) -> _Row:
    """A row must not fall as impact grows, nor sit below the row of a lower likelihood."""
    for i in range(1, 5):
        if v[i].rank < v[i - 1].rank:
            raise ValueError(
                f"levels must not fall as impact grows: impact {i + 1} is {v[i].value} "
                f"but impact {i} is {v[i - 1].value}"
            )
    name = info.field_name or ""
    row = int(name.rsplit("_", 1)[1])
    below = info.data.get(f"likelihood_{row - 1}") if row > 1 else None
    if below is not None:
        for i in range(5):
            if v[i].rank < below[i].rank:
                raise ValueError(
                    f"levels must not fall as likelihood grows: at impact {i + 1} likelihood "
                    f"{row} is {v[i].value} but likelihood {row - 1} is {below[i].value}"
                )
    return v


class RiskMatrix(_Frozen):
    """The likelihood x impact matrix; row ``likelihood_N`` lists impact 1..5."""

    likelihood_1: _Row
    likelihood_2: _Row
    likelihood_3: _Row
    likelihood_4: _Row
    likelihood_5: _Row

    @field_validator("likelihood_1", "likelihood_2", "likelihood_3", "likelihood_4", "likelihood_5")
    @classmethod
    def _check_rows(cls, v: _Row, info: ValidationInfo) -> _Row:
        return _check_row(v, info)

    def level(self, likelihood: int, impact: int) -> RiskLevel:
        """Level at ``likelihood`` and ``impact`` (both 1..5)."""
        rows = (
            self.likelihood_1,
            self.likelihood_2,
            self.likelihood_3,
            self.likelihood_4,
            self.likelihood_5,
        )
        return rows[likelihood - 1][impact - 1]


class EscalationRules(_Frozen):
    """The order of what is tried before an escort, and when an escort is needed."""

    escort_from_level: RiskLevel = Field(description="Lowest level that calls for an escort.")
    detour_budget_fraction: float = Field(
        gt=0, le=2, description="A safer route may take at most this much longer (0.3 = 30 %)."
    )
    departure_offsets_h: tuple[float, ...] = Field(
        max_length=12, description="Departure shifts to try, hours relative to the request."
    )
    try_daylight_shifts: bool = Field(
        description="Also try the next daylight start and the last departure arriving by dusk."
    )
    escort_for_level: dict[RiskLevel, EscortKind] = Field(
        description="First escort to consider at each level that calls for one."
    )
    do_not_travel_residual: RiskLevel = Field(
        description="Residual level (after the escort's reduction) at or above which the "
        "convoy must not travel."
    )

    @field_validator("departure_offsets_h")
    @classmethod
    def _check_offsets(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        for x in v:
            if x == 0 or abs(x) > 72:
                raise ValueError(f"departure offsets must be non-zero and within 72 h, got {x:g}")
        if len(set(v)) != len(v):
            raise ValueError("departure offsets must not repeat")
        return v

    @field_validator("escort_for_level")
    @classmethod
    def _check_escort_for_level(
        cls, v: dict[RiskLevel, EscortKind], info: ValidationInfo
    ) -> dict[RiskLevel, EscortKind]:
        start = info.data.get("escort_from_level")
        if start is None:
            return v
        needed = [lv for lv in _LEVELS if lv.rank >= start.rank]
        missing = [lv.value for lv in needed if lv not in v]
        if missing:
            raise ValueError(f"an escort is needed for every level from {start.value}: {missing}")
        extra = [lv.value for lv in v if lv.rank < start.rank]
        if extra:
            raise ValueError(f"levels below {start.value} need no escort: {extra}")
        order = ["police_escort", "armed_escort"]
        ranks = [order.index(v[lv]) for lv in needed]
        if ranks != sorted(ranks):
            raise ValueError("the escort must not get lighter as the level rises")
        return v

    @field_validator("do_not_travel_residual")
    @classmethod
    def _check_residual(cls, v: RiskLevel, info: ValidationInfo) -> RiskLevel:
        start = info.data.get("escort_from_level")
        if start is not None and v.rank <= start.rank:
            raise ValueError(
                f"do_not_travel_residual ({v.value}) must be above escort_from_level "
                f"({start.value}), or no escort could ever be enough"
            )
        return v


class EscortType(_Frozen):
    """What one escort kind achieves."""

    likelihood_reduction: int = Field(ge=1, le=4, description="Likelihood steps removed.")


class SizingRule(_Frozen):
    """Escort vehicles at one level: ``max(min, ceil(convoy vehicles / per))``."""

    convoy_vehicles_per_escort: int = Field(ge=1, le=50)
    min_escort_vehicles: int = Field(ge=1, le=10)


class ArmourRules(_Frozen):
    """When the convoy's own vehicles must be armoured (only when it travels with an escort)."""

    required_from_level: RiskLevel
    required_for_cargo: tuple[CargoKind, ...] = ()


class DaylightRules(_Frozen):
    """The daylight window (UTC) and when travel is restricted to it."""

    start_utc: time
    end_utc: time
    only_from_level: RiskLevel
    only_for_cargo: tuple[CargoKind, ...] = ()

    @field_validator("end_utc")
    @classmethod
    def _check_window(cls, v: time, info: ValidationInfo) -> time:
        start = info.data.get("start_utc")
        if start is not None and start == v:
            raise ValueError("the daylight window must not be empty")
        return v


class HandoverRules(_Frozen):
    """How hotspots become escort segments."""

    merge_gap_m: float = Field(
        ge=0, le=20_000, description="Hotspots closer than this share one escort segment."
    )
    pad_m: float = Field(
        ge=0, le=5_000, description="The escort joins this far before and leaves this far after."
    )


class EscortPolicy(_Frozen):
    """The whole escort policy. Build it with :func:`load_policy`."""

    policy_version: str = Field(min_length=1, max_length=80)
    likelihood: LikelihoodScale
    impact: ImpactScale
    matrix: RiskMatrix
    escalation: EscalationRules
    escort: dict[EscortKind, EscortType]
    sizing: dict[RiskLevel, SizingRule]
    armour: ArmourRules
    daylight: DaylightRules
    handover: HandoverRules

    @field_validator("escort")
    @classmethod
    def _check_escort(cls, v: dict[EscortKind, EscortType]) -> dict[EscortKind, EscortType]:
        for kind in ("police_escort", "armed_escort"):
            if kind not in v:
                raise ValueError(f"the policy must describe {kind}")
        police = v["police_escort"].likelihood_reduction
        armed = v["armed_escort"].likelihood_reduction
        if armed < police:
            raise ValueError(
                f"an armed escort must reduce likelihood at least as much as a police "
                f"escort ({armed} < {police})"
            )
        return v

    @field_validator("sizing")
    @classmethod
    def _check_sizing(
        cls, v: dict[RiskLevel, SizingRule], info: ValidationInfo
    ) -> dict[RiskLevel, SizingRule]:
        esc = info.data.get("escalation")
        if esc is None:
            return v
        missing = [
            lv.value for lv in _LEVELS if lv.rank >= esc.escort_from_level.rank and lv not in v
        ]
        if missing:
            raise ValueError(f"escort sizing is needed for every escorted level: {missing}")
        return v

    def escort_reduction(self, kind: EscortRecommendation | str) -> int:
        """Likelihood steps an escort of ``kind`` removes (0 for non-escorts)."""
        key = str(kind)
        if key in self.escort:
            return self.escort[key].likelihood_reduction
        return 0


# -- loading -------------------------------------------------------------------------------

_DECODE_POS = re.compile(r"\(at line (\d+), column (\d+)\)")


def policy_from_toml(text: str, *, source: str = "<escort policy>") -> EscortPolicy:
    """Parse and validate an escort policy from TOML text.

    Parameters
    ----------
    text
        The TOML document.
    source
        Name used in error messages (usually the file path).

    Returns
    -------
    EscortPolicy
        The validated, frozen policy.

    Raises
    ------
    ConfigError
        The text is not TOML, or a key is unknown, missing or out of range. The message names
        the line at fault (``<source>, line N: ...``); ``errors`` lists each problem with its
        ``line`` and ``loc``.
    """
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        pos = _DECODE_POS.search(msg)
        # No position means "at end of document": blame the last line.
        line = int(pos.group(1)) if pos else max(1, len(text.splitlines()))
        reason = _DECODE_POS.sub("", msg).strip()
        raise ConfigError(
            f"{source}, line {line}: not valid TOML: {reason}",
            errors=[{"line": line, "loc": [], "msg": reason}],
        ) from exc
    try:
        return EscortPolicy.model_validate(data)
    except ValidationError as exc:
        lines = key_lines(text)
        problems: list[dict[str, Any]] = []
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            key_line = line_of(loc, lines)
            where = ".".join(str(p) for p in loc) or "(top level)"
            reason = err["msg"]
            if err["type"] == "extra_forbidden":
                reason = "unknown key"
            elif err["type"] == "missing":
                reason = "missing key"
            problems.append({"line": key_line, "loc": list(loc), "msg": f"{where}: {reason}"})
        first = problems[0]
        at = f"line {first['line']}" if first["line"] is not None else "top level"
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise ConfigError(f"{source}, {at}: {first['msg']}{more}", errors=problems) from exc


def load_policy(path: Path) -> EscortPolicy:
    """Load and validate the escort policy file at ``path``.

    Parameters
    ----------
    path
        A TOML file, normally ``Settings.escort_policy_file`` (``data/escort-policy.toml``).

    Returns
    -------
    EscortPolicy
        The validated, frozen policy.

    Raises
    ------
    ConfigError
        The file is unreadable, not TOML, or fails validation; the message names the line.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the escort policy: {exc}") from exc
    return policy_from_toml(text, source=str(path))
