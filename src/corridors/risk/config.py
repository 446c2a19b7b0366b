"""The risk model's constants, read from a versioned TOML file (``data/risk-model.toml``).

Every number that turns reports into risk lives in that file next to the reasoning behind it;
this module only declares and validates the shape. A bad file raises
:class:`corridors.errors.ConfigError` naming the key (and the line, when it can be found).
"""

from __future__ import annotations

import itertools
import math
import tomllib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from corridors.domain import Category, ReportStatus, RiskLevel
from corridors.errors import ConfigError
from corridors.toml_lines import key_lines, line_of

__all__ = [
    "CategoryParams",
    "ChronicParams",
    "FatalitiesParams",
    "KernelParams",
    "LevelThresholds",
    "NightParams",
    "RiskModelConfig",
    "ZoneParams",
    "load_risk_model",
    "parse_risk_model",
]

Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Reliability = Literal["A", "B", "C", "D", "E", "F"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CategoryParams(_Frozen):
    """Weight, memory and reach of one incident category."""

    base_weight: NonNegative
    half_life_h: Positive
    sigma_m: Positive


class ChronicParams(_Frozen):
    """The long-memory (chronic) term: where violence has been reported again and again.

    Each counted report of a category in ``categories`` also adds a second kernel of weight
    ``weight x (the report's fresh weight) x 0.5 ** (age / half_life_h)`` and width
    ``sqrt(sigma_m^2 + (uncertainty_to_sigma x uncertainty_m)^2)``, for up to
    ``max_age_half_lives`` of its own half-lives, if the report's ``uncertainty_m`` is at most
    ``max_uncertainty_m``. ``weight = 0`` (the default) turns the term off.
    """

    weight: NonNegative = 0.0
    half_life_h: Positive = 4380.0
    sigma_m: Positive = 100.0
    uncertainty_to_sigma: NonNegative = 0.5
    max_uncertainty_m: NonNegative = 3000.0
    categories: frozenset[Category] = frozenset()

    @property
    def enabled(self) -> bool:
        """True when the term adds anything."""
        return self.weight > 0 and bool(self.categories)


class FatalitiesParams(_Frozen):
    """``factor = min(cap, 1 + a * ln(1 + fatalities))``."""

    a: NonNegative
    cap: Annotated[float, Field(ge=1, allow_inf_nan=False)]

    def factor(self, fatalities: int) -> float:
        """Multiplier for a report with ``fatalities`` deaths (dimensionless)."""
        return min(self.cap, 1.0 + self.a * math.log1p(max(fatalities, 0)))


class KernelParams(_Frozen):
    """Shape of the spatial kernel and, for the Gaussian, where it is cut off."""

    shape: Literal["gaussian", "epanechnikov"] = "gaussian"
    cutoff_sigmas: Positive = 3.0

    def support_m(self, sigma_m: float) -> float:
        """Distance from the report beyond which the kernel is zero, m."""
        if self.shape == "epanechnikov":
            return math.sqrt(5.0) * sigma_m
        return self.cutoff_sigmas * sigma_m


class NightParams(_Frozen):
    """Night-time multiplier; night is ``[start_hour, end_hour)`` local time (may wrap)."""

    enabled: bool = False
    timezone: str = "America/Port-au-Prince"
    start_hour: Annotated[int, Field(ge=0, le=23)] = 18
    end_hour: Annotated[int, Field(ge=0, le=23)] = 6
    factor: Positive = 1.0

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    def is_night(self, at: datetime) -> bool:
        """True when the aware time ``at`` falls in the night window, local time."""
        hour = at.astimezone(ZoneInfo(self.timezone)).hour
        if self.start_hour <= self.end_hour:
            return self.start_hour <= hour < self.end_hour
        return hour >= self.start_hour or hour < self.end_hour

    def factor_at(self, at: datetime) -> float:
        """The risk multiplier in force at ``at`` (1.0 by day or when disabled)."""
        return self.factor if self.enabled and self.is_night(at) else 1.0


class ZoneParams(_Frozen):
    """How caution zones act on risk."""

    caution_default_multiplier: Annotated[float, Field(gt=1, allow_inf_nan=False)] = 2.0
    caution_floor_per_km: NonNegative = 0.0


class LevelThresholds(_Frozen):
    """Lower bounds of each level on a segment's risk per km (below ``medium`` is low)."""

    medium: Positive
    high: Positive
    very_high: Positive
    unacceptable: Positive

    @model_validator(mode="after")
    def _increasing(self) -> LevelThresholds:
        values = [self.medium, self.high, self.very_high, self.unacceptable]
        if any(b <= a for a, b in itertools.pairwise(values)):
            raise ValueError("level thresholds must increase: medium < high < very_high < ...")
        return self

    def level_of(self, risk_per_km: float) -> RiskLevel:
        """The level of a segment whose risk is ``risk_per_km`` (1/km)."""
        if risk_per_km >= self.unacceptable:
            return RiskLevel.unacceptable
        if risk_per_km >= self.very_high:
            return RiskLevel.very_high
        if risk_per_km >= self.high:
            return RiskLevel.high
        if risk_per_km >= self.medium:
            return RiskLevel.medium
        return RiskLevel.low


class _Reliability(_Frozen):
    A: NonNegative
    B: NonNegative
    C: NonNegative
    D: NonNegative
    E: NonNegative
    F: NonNegative
    default: Reliability = "F"


class RiskModelConfig(_Frozen):
    """The whole risk model: see ``data/risk-model.toml`` for the meaning of every value.

    Risk is expressed in *expected weighted incidents per km of road* (1/km); a report's
    weight is dimensionless (1.0 = a fresh, confirmed, severity-3 armed clash).
    """

    version: Annotated[str, Field(min_length=1)]
    max_age_half_lives: Positive
    max_uncertainty_m: Positive
    uncertainty_to_sigma: NonNegative = 1.0
    categories: dict[Category, CategoryParams]
    severity: dict[Annotated[int, Field(ge=1, le=5)], NonNegative]
    fatalities: FatalitiesParams
    reliability: _Reliability
    credibility: dict[str, NonNegative]
    status: dict[ReportStatus, NonNegative]
    kernel: KernelParams = KernelParams()
    night: NightParams = NightParams()
    zones: ZoneParams = ZoneParams()
    chronic: ChronicParams = ChronicParams()
    levels: LevelThresholds

    @field_validator("categories")
    @classmethod
    def _all_categories(
        cls, value: dict[Category, CategoryParams]
    ) -> dict[Category, CategoryParams]:
        missing = [c.value for c in Category if c not in value]
        if missing:
            raise ValueError(f"missing categories: {', '.join(missing)}")
        return value

    @field_validator("severity")
    @classmethod
    def _all_severities(cls, value: dict[int, float]) -> dict[int, float]:
        missing = [str(s) for s in range(1, 6) if s not in value]
        if missing:
            raise ValueError(f"missing severities: {', '.join(missing)}")
        return value

    @field_validator("credibility")
    @classmethod
    def _credibility_keys(cls, value: dict[str, float]) -> dict[str, float]:
        expected = {str(c) for c in range(1, 7)}
        missing = sorted(expected - value.keys())
        if missing:
            raise ValueError(f"missing credibility grades: {', '.join(missing)}")
        extra = sorted(value.keys() - expected - {"default"})
        if extra:
            raise ValueError(f"unknown credibility keys: {', '.join(extra)}")
        default = value.get("default", 6)
        if not float(default).is_integer() or str(int(default)) not in expected:
            raise ValueError("credibility.default must be a grade 1..6")
        return value

    @field_validator("status")
    @classmethod
    def _all_statuses(cls, value: dict[ReportStatus, float]) -> dict[ReportStatus, float]:
        missing = [s.value for s in ReportStatus if s not in value]
        if missing:
            raise ValueError(f"missing statuses: {', '.join(missing)}")
        return value

    # -- lookups used by the engine ------------------------------------------------------------

    def reliability_factor(self, grade: str | None) -> float:
        """Multiplier for an Admiralty source-reliability grade A..F (None: the default)."""
        key = (grade or self.reliability.default).upper()
        value = getattr(self.reliability, key, None) if key in "ABCDEF" and len(key) == 1 else None
        if value is None:
            value = getattr(self.reliability, self.reliability.default)
        return float(value)

    def credibility_factor(self, grade: int | None) -> float:
        """Multiplier for an Admiralty information-credibility grade 1..6 (None: the default)."""
        if grade is None or str(grade) not in self.credibility:
            grade = int(self.credibility.get("default", 6))
        return float(self.credibility[str(grade)])

    def severity_factor(self, severity: int) -> float:
        """Multiplier for a report's 1..5 severity (clamped into range)."""
        return float(self.severity[min(5, max(1, int(severity)))])

    def half_life(self, category: Category) -> timedelta:
        """Half-life of a category's weight."""
        return timedelta(hours=self.categories[category].half_life_h)

    def level_of(self, risk_per_km: float) -> RiskLevel:
        """Level of a segment risk (1/km); see :class:`LevelThresholds`."""
        return self.levels.level_of(risk_per_km)


# -- loading ---------------------------------------------------------------------------------


def parse_risk_model(text: str, *, source: str = "<risk model>") -> RiskModelConfig:
    """Parse and validate the TOML text of a risk model.

    Parameters
    ----------
    text
        TOML document (see ``data/risk-model.toml``).
    source
        Name used in error messages (usually the file path).

    Returns
    -------
    RiskModelConfig

    Raises
    ------
    ConfigError
        Invalid TOML (with the line) or a missing/invalid value (with its dotted key and,
        where found, its line); ``errors`` lists ``{"key", "line", "error"}`` per problem.
    """
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{source}: not valid TOML: {exc}", errors=[{"key": None, "error": str(exc)}]
        ) from exc
    try:
        return RiskModelConfig.model_validate(raw)
    except ValidationError as exc:
        lines = key_lines(text)
        problems: list[dict[str, Any]] = []
        for err in exc.errors():
            loc = [str(part) for part in err["loc"]]
            key = ".".join(loc) if loc else "<root>"
            problems.append({"key": key, "line": line_of(err["loc"], lines), "error": err["msg"]})
        first = problems[0]
        where = f" (line {first['line']})" if first["line"] else ""
        more = f" and {len(problems) - 1} more problem(s)" if len(problems) > 1 else ""
        raise ConfigError(
            f"{source}: {first['key']}{where}: {first['error']}{more}", errors=problems
        ) from exc


def load_risk_model(path: Path | str) -> RiskModelConfig:
    """Read and validate a risk-model TOML file.

    Parameters
    ----------
    path
        The file, usually ``Settings.risk_model_file``.

    Raises
    ------
    ConfigError
        The file is unreadable or invalid (see :func:`parse_risk_model`).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read risk model {path}: {exc}") from exc
    return parse_risk_model(text, source=str(path))
