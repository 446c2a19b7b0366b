"""Is the risk model any good? A week-by-week backtest on the real ACLED Port-au-Prince file.

Usage::

    python bench/backtest.py [ACLED_CSV]

Reads ``../shared/data/acled_port-au-prince_2024-2025_events.csv`` in place (ACLED terms: the
rows are never copied; only aggregate figures are printed) through the project's ACLED importer.

Protocol
--------
* Weeks run Monday 00:00 to Monday 00:00 Port-au-Prince time (05:00 UTC), from 2024-01-08 (a
  week of history first) to the end of 2025; a week belongs to the year it starts in.
* Risk for a week is evaluated ``at`` the week's start from every report (all ACLED event
  types, as the service imports them) that occurred before it.
* Target: the week's *violent* events = ACLED's political-violence types Battles, Violence
  against civilians and Explosions/Remote violence (categories armed_clash, attack, abduction,
  sexual_violence, explosion). Riots and protests are left out: ACLED counts them as
  demonstrations, and most Port-au-Prince riots are barricades, not armed violence.
* An event falls on the road segment nearest to its point if that is within 500 m
  (:class:`corridors.graph.snap.EdgeSnapper`); events farther from any road are not counted.
* Road segments (both directions of a street once) are ranked by risk per km; the riskiest
  5 % of road length is the "hot" set. Ties at the cut are split by length, i.e. the expected
  result of a random tie break, so the hot set is exactly 5 % of length for every method.
  hit rate = share of the week's violent events on the hot set; PAI = hit rate / length share.
  Weeks without a violent event on the network are skipped.
* Baselines in the same run: (a) density: all violent events before the week per km, no decay;
  (b) last week: the previous week's violent events per km.
* Networks: the demo network (``data/port-au-prince-demo.osm``; coarse) and a synthetic grid
  of 150 m blocks over the Port-au-Prince box lon -72.45..-72.20, lat 18.45..18.65 as a
  stand-in for a fine street network.
* Tuning: a grid search over multipliers of the violent categories' half-lives and kernel
  widths, the weight of the other categories and the largest location uncertainty, on the
  2024 weeks of the grid network only; 2025 is held out. Only configs with the shipped kernel
  widths and an armed-clash half-life of at most 14 days are admissible (see ``main``); within
  0.01 of the best admissible mean hit rate, ties go to the shortest memory and the shipped
  values. The whole search is printed to stderr. Risk is linear in the report weights, so the
  search uses each (point, kernel width)'s risk vector once, scaled by the week's summed
  decayed weights; this shortcut is checked against :meth:`RiskEngine.compute` first.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from corridors.config import SHIPPED_DATA_DIR
from corridors.domain import Category, Incident, ReportStatus
from corridors.graph.build import build_graph, build_graph_from_file, settings_key
from corridors.graph.model import RoadGraph
from corridors.graph.snap import EdgeSnapper
from corridors.graph.synthetic import synthetic_ways
from corridors.ingest import parse_import
from corridors.risk.config import CategoryParams, RiskModelConfig, load_risk_model
from corridors.risk.engine import RiskEngine

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FILE = ROOT.parent / "shared" / "data" / "acled_port-au-prince_2024-2025_events.csv"
DEMO_OSM = ROOT / "data" / "port-au-prince-demo.osm"
BBOX = (-72.45, 18.45, -72.20, 18.65)
BUILT_AT = datetime(2026, 1, 1, tzinfo=UTC)
FIRST_WEEK = datetime(2024, 1, 8, 5, 0, tzinfo=UTC)  # Monday 00:00 in Port-au-Prince
LAST_DAY = datetime(2026, 1, 1, 5, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
HOT_SHARE = 0.05
SNAP_M = 500.0
GRID_SPACING_M = 150.0
VIOLENT = frozenset(
    {
        Category.armed_clash,
        Category.attack,
        Category.abduction,
        Category.sexual_violence,
        Category.explosion,
    }
)
#: The search grid (multipliers of the shipped values; see the module docstring).
HALF_LIFE_SCALES = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
SIGMA_SCALES = (0.5, 1.0, 2.0)
NONVIOLENT_WEIGHTS = (1.0, 0.0)
MAX_UNCERTAINTIES_M = (3000.0, 2000.0)
#: Mean hit rates this close to the best count as ties in the search.
TIE_HIT_RATE = 0.01
#: Longest admissible armed-clash half-life, h (issue 4: "an armed clash [fades] in days").
MAX_CLASH_HALF_LIFE_H = 14 * 24.0


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def load_incidents(path: Path) -> list[Incident]:
    """The file's events as the service's incidents (imported reports are ``active``)."""
    batch = parse_import(path.read_bytes(), "acled")
    return [
        Incident(
            id=f"acled-{parsed.row}",
            occurred_at=d.occurred_at,
            lon=d.location.lon,
            lat=d.location.lat,
            category=d.category,
            severity=d.severity,
            uncertainty_m=d.uncertainty_m,
            fatalities=d.fatalities,
            source_reliability=d.source_reliability,
            credibility=d.credibility,
            status=ReportStatus.active,
        )
        for parsed in batch.drafts
        for d in [parsed.draft]
    ]


def grid_network() -> RoadGraph:
    """A synthetic street grid (150 m blocks) covering the Port-au-Prince box."""
    lon0, lat0, lon1, lat1 = BBOX
    centre = ((lon0 + lon1) / 2, (lat0 + lat1) / 2)
    width_m = (lon1 - lon0) * 111_320 * np.cos(np.radians(centre[1]))
    height_m = (lat1 - lat0) * 110_574
    cols = int(width_m // GRID_SPACING_M) + 1
    rows = int(height_m // GRID_SPACING_M) + 1
    table = synthetic_ways(rows, cols, seed=2024, spacing_m=GRID_SPACING_M, center=centre)
    return build_graph(
        table,
        source=f"synthetic-pap:{rows}x{cols}",
        built_at=BUILT_AT,
        settings=settings_key(include_tracks=False),
    )


@dataclass
class Network:
    """A road network with its segments and where the violent events fall on it."""

    name: str
    graph: RoadGraph
    length_km: FloatArray
    event_segment: IntArray  # per violent event, -1 when no road within SNAP_M
    event_time_s: FloatArray

    @property
    def segments(self) -> int:
        return int(self.length_km.shape[0])


def prepare(name: str, graph: RoadGraph, cfg: RiskModelConfig, violent: list[Incident]) -> Network:
    engine = RiskEngine(graph, cfg)
    snapper = EdgeSnapper(graph)
    cache: dict[tuple[float, float], int] = {}
    segment = np.full(len(violent), -1, dtype=np.int64)
    for k, inc in enumerate(violent):
        key = (inc.lon, inc.lat)
        if key not in cache:
            snap = snapper.nearest(inc.lon, inc.lat)
            cache[key] = int(engine.edge_segment[snap.edge]) if snap.distance_m <= SNAP_M else -1
        segment[k] = cache[key]
    times = np.array([i.occurred_at.timestamp() for i in violent])
    return Network(name, graph, engine.segment_length_m / 1000.0, segment, times)


# ---------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------


def hit_rate(score: FloatArray, length_km: FloatArray, events: IntArray) -> float:
    """Share of ``events`` (segment per event) on the top ``HOT_SHARE`` of length by ``score``.

    Ties at the cut count by the share of the tied length taken (a random tie break's mean).
    """
    order = np.argsort(-score, kind="stable")
    target = HOT_SHARE * float(length_km.sum())
    cum = np.cumsum(length_km[order])
    cut = min(int(np.searchsorted(cum, target)), order.shape[0] - 1)
    value = score[order[cut]]
    above = score > value
    tied = score == value
    taken = (target - float(length_km[above].sum())) / float(length_km[tied].sum())
    taken = min(max(taken, 0.0), 1.0)
    hits = float(above[events].sum()) + taken * float(tied[events].sum())
    return float(hits) / float(events.shape[0])


def weeks() -> list[datetime]:
    out = []
    at = FIRST_WEEK
    while at < LAST_DAY:
        out.append(at)
        at += WEEK
    return out


def week_events(net: Network, at: datetime) -> IntArray:
    lo, hi = at.timestamp(), (at + WEEK).timestamp()
    mask = (net.event_time_s >= lo) & (net.event_time_s < hi) & (net.event_segment >= 0)
    return net.event_segment[mask]


def baseline_scores(net: Network, at: datetime) -> dict[str, FloatArray]:
    """Density (all violent events before ``at`` per km) and last week's events per km."""
    t = at.timestamp()
    ok = net.event_segment >= 0
    before = ok & (net.event_time_s < t)
    last = before & (net.event_time_s >= t - WEEK.total_seconds())
    inv = np.where(net.length_km > 0, 1.0 / np.maximum(net.length_km, 1e-12), 0.0)
    n = net.segments
    density = np.bincount(net.event_segment[before], minlength=n).astype(np.float64)
    recent = np.bincount(net.event_segment[last], minlength=n).astype(np.float64)
    return {"baseline: all-time density": density * inv, "baseline: last week only": recent * inv}


# ---------------------------------------------------------------------------------------------
# The model, fast: risk = sum over (point, width) groups of their unit risk x summed weight
# ---------------------------------------------------------------------------------------------


class LinearModel:
    """Risk per segment of a config for many instants, using the model's linearity in weights.

    ``unit`` holds, per group of reports sharing a point and a kernel width, the segment risk
    of a unit-weight report there (from :meth:`RiskEngine.compute` of one report).
    """

    def __init__(self, graph: RoadGraph, cfg: RiskModelConfig, incidents: Sequence[Incident]):
        self.cfg = cfg
        engine = RiskEngine(graph, cfg, workers=1)
        cats = list(Category)
        code = {c: i for i, c in enumerate(cats)}
        self.cat = np.array([code[i.category] for i in incidents])
        self.occurred_s = np.array([i.occurred_at.timestamp() for i in incidents])
        self.uncertainty = np.array([i.uncertainty_m for i in incidents])
        self.static = np.array(
            [
                cfg.severity_factor(i.severity)
                * cfg.fatalities.factor(i.fatalities)
                * cfg.reliability_factor(i.source_reliability)
                * cfg.credibility_factor(i.credibility)
                * cfg.status[ReportStatus(i.status)]
                for i in incidents
            ]
        )
        sigma = np.hypot(
            np.array([cfg.categories[c].sigma_m for c in cats])[self.cat],
            cfg.uncertainty_to_sigma * self.uncertainty,
        )
        keys = [(i.lon, i.lat, float(s)) for i, s in zip(incidents, sigma, strict=True)]
        index: dict[tuple[float, float, float], int] = {}
        self.group = np.array([index.setdefault(k, len(index)) for k in keys], dtype=np.int64)
        rows: list[FloatArray] = []
        for k in index.values():
            first = int(np.flatnonzero(self.group == k)[0])
            inc = incidents[first]
            probe = Incident(
                id="probe",
                occurred_at=inc.occurred_at,
                lon=inc.lon,
                lat=inc.lat,
                category=inc.category,
                severity=inc.severity,
                uncertainty_m=inc.uncertainty_m,
                fatalities=inc.fatalities,
                source_reliability=inc.source_reliability,
                credibility=inc.credibility,
                status=ReportStatus.verified,
            )
            weight = float(engine.report_weights([probe], at=inc.occurred_at)[0])
            field = engine.compute([probe], at=inc.occurred_at)
            rows.append(field.segment_risk_per_km / weight)
        self.unit = sp.csr_matrix(np.vstack(rows)) if rows else sp.csr_matrix((0, 0))
        self.groups = len(index)

    def risk(self, at: datetime, cfg: RiskModelConfig | None = None) -> FloatArray:
        """Segment risk per km at ``at`` under ``cfg`` (same kernel widths as the one built)."""
        cfg = cfg or self.cfg
        cats = list(Category)
        base = np.array([cfg.categories[c].base_weight for c in cats])[self.cat]
        half_life_s = np.array([cfg.categories[c].half_life_h * 3600.0 for c in cats])[self.cat]
        age = at.timestamp() - self.occurred_s
        live = (
            (age >= 0)
            & (age <= cfg.max_age_half_lives * half_life_s)
            & (self.uncertainty <= cfg.max_uncertainty_m)
        )
        weight = np.where(live, base * self.static * np.exp2(-np.maximum(age, 0) / half_life_s), 0)
        group_weight = np.bincount(self.group, weights=weight, minlength=self.groups)
        return np.asarray(self.unit.T @ group_weight, dtype=np.float64)


def variant(
    cfg: RiskModelConfig, half_life: float, sigma: float, nonviolent: float, max_unc: float
) -> RiskModelConfig:
    """``cfg`` with the violent categories' half-lives and kernel widths scaled and the other
    categories' weights scaled."""
    cats = {
        c: CategoryParams(
            base_weight=p.base_weight * nonviolent,
            half_life_h=p.half_life_h,
            sigma_m=p.sigma_m,
        )
        if c not in VIOLENT
        else CategoryParams(
            base_weight=p.base_weight,
            half_life_h=p.half_life_h * half_life,
            sigma_m=p.sigma_m * sigma,
        )
        for c, p in cfg.categories.items()
    }
    return cfg.model_copy(update={"categories": cats, "max_uncertainty_m": max_unc})


def mean_hits(
    net: Network, risk_at: dict[datetime, FloatArray], at_list: Sequence[datetime]
) -> tuple[float, int]:
    rates = []
    for at in at_list:
        events = week_events(net, at)
        if events.shape[0]:
            rates.append(hit_rate(risk_at[at], net.length_km, events))
    return (float(np.mean(rates)) if rates else float("nan")), len(rates)


def main(argv: list[str] | None = None) -> int:
    """Run the backtest and print markdown tables of aggregate figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT_FILE)
    args = parser.parse_args(argv)
    if not args.file.exists():
        print(f"ACLED file not found: {args.file}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    shipped = load_risk_model(SHIPPED_DATA_DIR / "risk-model.toml")
    incidents = load_incidents(args.file)
    violent = [i for i in incidents if i.category in VIOLENT]
    all_weeks = weeks()
    train = [w for w in all_weeks if w.year == 2024]
    test = [w for w in all_weeks if w.year == 2025]
    nets = [
        prepare("demo network", build_graph_from_file(DEMO_OSM, built_at=BUILT_AT, demo=True),
                shipped, violent),
        prepare("synthetic 150 m grid", grid_network(), shipped, violent),
    ]  # fmt: skip
    for net in nets:
        on = int((net.event_segment >= 0).sum())
        print(
            f"{net.name}: {net.graph.edge_count} edges, {net.segments} segments, "
            f"{net.length_km.sum():.0f} km; {on}/{len(violent)} violent events within "
            f"{SNAP_M:.0f} m of a road",
            file=sys.stderr,
        )

    # -- check the linear shortcut against the engine ---------------------------------------
    grid = nets[1]
    models: dict[float, LinearModel] = {}
    for s in SIGMA_SCALES:
        models[s] = LinearModel(grid.graph, variant(shipped, 1.0, s, 1.0, 3000.0), incidents)
    engine = RiskEngine(grid.graph, shipped)
    for at in (train[10], test[20]):
        full = engine.compute(incidents, at=at).segment_risk_per_km
        fast = models[1.0].risk(at, shipped)
        np.testing.assert_allclose(fast, full, rtol=1e-7, atol=1e-12)
    print(f"linear shortcut matches RiskEngine.compute ({time.perf_counter() - started:.0f} s)",
          file=sys.stderr)  # fmt: skip

    # -- tune on 2024 weeks of the grid network ---------------------------------------------
    results: list[tuple[float, tuple[float, float, float, float]]] = []
    for hl, s, nv, mu in itertools.product(
        HALF_LIFE_SCALES, SIGMA_SCALES, NONVIOLENT_WEIGHTS, MAX_UNCERTAINTIES_M
    ):
        cfg = variant(shipped, hl, s, nv, mu)
        risk_at = {at: models[s].risk(at, cfg) for at in train}
        score, _ = mean_hits(grid, risk_at, train)
        results.append((score, (hl, s, nv, mu)))
    results.sort(key=lambda r: -r[0])
    print("2024 grid search (violent half-life x, violent sigma x, non-violent weight x, max "
          "uncertainty m -> mean hit rate):", file=sys.stderr)  # fmt: skip
    for score, params in results:
        print(f"  {params} -> {score:.3f}", file=sys.stderr)
    # Admissible: kernel widths as shipped (events are coded at neighbourhood centroids and
    # scored at the same centroids, which rewards ever narrower kernels for a reason that has
    # nothing to do with streets) and an armed clash fading within two weeks (issue 4: "an
    # armed clash in days"; a one-week horizon rewards ever longer memory, turning the model
    # into a territory map). Among admissible configs within TIE_HIT_RATE of their best: the
    # shortest memory, then the weights and cut-off closest to the shipped ones.
    clash_h = shipped.categories[Category.armed_clash].half_life_h
    admissible = [
        (score, p)
        for score, p in results
        if p[1] == 1.0 and clash_h * p[0] <= MAX_CLASH_HALF_LIFE_H
    ]
    top = admissible[0][0]
    near = [p for score, p in admissible if score >= top - TIE_HIT_RATE]
    best = min(near, key=lambda p: (p[0], -p[2], -p[3]))
    print(f"unconstrained best {results[0][1]} -> {results[0][0]:.3f}; admissible best "
          f"{admissible[0][1]} -> {top:.3f}", file=sys.stderr)  # fmt: skip
    tuned = variant(shipped, *best)
    print(f"tuned: half-life x{best[0]}, sigma x{best[1]}, non-violent weight x{best[2]}, "
          f"max uncertainty {best[3]:.0f} m ({time.perf_counter() - started:.0f} s)",
          file=sys.stderr)  # fmt: skip

    # -- report ---------------------------------------------------------------------------
    print("| network | period | model | mean hit rate | mean PAI | weeks |")
    print("|---|---|---|---:|---:|---:|")
    for net in nets:
        per_method: dict[str, dict[datetime, FloatArray]] = {}
        for label, cfg in (("risk model, shipped defaults", shipped), ("risk model, tuned", tuned)):
            model = RiskEngine(net.graph, cfg)
            per_method[label] = {
                at: model.compute(incidents, at=at).segment_risk_per_km for at in all_weeks
            }
        for at in all_weeks:
            for label, values in baseline_scores(net, at).items():
                per_method.setdefault(label, {})[at] = values
        for period, at_list in (("2024 (tuning)", train), ("2025 (held out)", test)):
            for label, risk_at in per_method.items():
                rate, n = mean_hits(net, risk_at, at_list)
                print(f"| {net.name} | {period} | {label} | {rate:.3f} | {rate / HOT_SHARE:.2f} "
                      f"| {n} |")  # fmt: skip
    print(f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
