"""Route summary on a hand-made street with known lengths and risks."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest

from corridors.graph.geo import haversine_m
from corridors.routing._toygraph import graph_from_edges
from corridors.routing.engine import PathArrays, Piece
from corridors.routing.summary import cut_polyline, measure, summarise, summarise_many


@dataclass
class Risk:
    edge_risk_per_km: np.ndarray
    edge_blocked: np.ndarray

    def contributors(self, edge: int) -> list[tuple[str, float]]:
        return [("rep-b", 0.4), ("rep-a", 0.6)] if self.edge_risk_per_km[edge] > 0 else []


def _line():
    lon = [-72.300, -72.299, -72.298, -72.297]
    lat = [18.55] * 4
    g = graph_from_edges(
        lon,
        lat,
        [0, 1, 2],
        [1, 2, 3],
        [10.0, 10.0, 10.0],
        length_m=[100.0, 100.0, 100.0],
        street_names=["Rue A", "Rue A", "Rue B"],
    )
    return g, lon, lat


def test_summary_known_answers() -> None:
    g, lon, lat = _line()
    risk = Risk(np.array([0.0, 5.0, 1.0]), np.zeros(3, dtype=bool))
    s = summarise(g, risk, [Piece(0, 0.5, 1.0), Piece(1), Piece(2, 0.0, 0.5)], high_risk_per_km=2.0)
    assert s.distance_m == pytest.approx(200.0)
    assert s.duration_s == pytest.approx(20.0)
    assert s.exposure == pytest.approx(5.0 * 0.1 + 1.0 * 0.05)
    assert s.max_edge_risk_per_km == 5.0
    assert s.high_risk_distance_m == pytest.approx(100.0)
    (h,) = s.hotspots
    assert (h.from_m, h.to_m, h.risk_per_km, h.street) == (
        pytest.approx(50.0),
        pytest.approx(150.0),
        5.0,
        "Rue A",
    )
    assert h.report_ids == ("rep-a", "rep-b")
    assert h.start == pytest.approx((lon[1], lat[1]))
    assert h.end == pytest.approx((lon[2], lat[2]))
    a, b = s.steps
    assert (a.street, b.street) == ("Rue A", "Rue B")
    assert a.distance_m == pytest.approx(150.0)
    assert a.risk_per_km == pytest.approx(0.5 / 0.15)
    assert a.max_risk_per_km == 5.0
    assert b.distance_m == pytest.approx(50.0)
    assert sum(x.exposure for x in s.steps) == pytest.approx(s.exposure)
    # Geometry: cut at the middle of the first and last edges, no duplicate vertices.
    assert s.coordinates[0] == pytest.approx([(lon[0] + lon[1]) / 2, lat[0]])
    assert s.coordinates[-1] == pytest.approx([(lon[2] + lon[3]) / 2, lat[0]])
    assert len(s.coordinates) == 4
    assert s.profile.exposure == s.exposure
    assert not s.profile.starts_in_risk
    assert not s.profile.ends_in_risk


def test_starts_in_risk() -> None:
    g, _, _ = _line()
    risk = Risk(np.array([3.0, 0.0, 0.0]), np.zeros(3, dtype=bool))
    s = summarise(g, risk, [Piece(0, 0.2, 0.6)], high_risk_per_km=2.0)
    assert s.profile.starts_in_risk
    assert s.profile.ends_in_risk
    assert s.distance_m == pytest.approx(40.0)


def test_cut_polyline_by_length() -> None:
    lon, lat = [-72.3, -72.3, -72.299], [18.5, 18.501, 18.501]
    leg1 = haversine_m(lon[0], lat[0], lon[1], lat[1])
    leg2 = haversine_m(lon[1], lat[1], lon[2], lat[2])
    total = leg1 + leg2
    pts = cut_polyline(lon, lat, 0.0, 0.5)
    end = pts[-1]
    walked = (
        leg1 + haversine_m(lon[1], lat[1], end[0], end[1])
        if end[0] > lon[0]
        else (haversine_m(lon[0], lat[0], end[0], end[1]))
    )
    assert walked == pytest.approx(total / 2, rel=1e-3)
    assert pts[0] == pytest.approx([lon[0], lat[0]])


# -- the vectorised summary against a plain per-piece loop ---------------------------------


def _reference(graph, risk, pieces, high_per_km):
    """A straightforward per-piece implementation of the summary conventions (the oracle)."""
    length, duration, rpk, coords, piece_coords = [], [], [], [], []
    for p in pieces:
        share = p.end - p.start
        length.append(float(graph.edge_length_m[p.edge]) * share)
        duration.append(float(graph.edge_duration_s[p.edge]) * share)
        r = float(risk.edge_risk_per_km[p.edge])
        rpk.append(0.0 if np.isnan(r) else r)
        lon, lat = zip(*graph.edge_coords(p.edge), strict=True)
        if p.start <= 0.0 and p.end >= 1.0 and len(lon) >= 2:
            part = [[x, y] for x, y in zip(lon, lat, strict=True)]
        else:
            part = cut_polyline(lon, lat, p.start, p.end)
        piece_coords.append(part)
        for pt in part:
            if not coords or coords[-1] != pt:
                coords.append(pt)
    if len(coords) == 1:
        coords.append(list(coords[0]))
    exposure = [r * m / 1000.0 for r, m in zip(rpk, length, strict=True)]
    high = [r >= high_per_km for r in rpk]
    hotspots, steps, i = [], [], 0
    starts_m = [sum(length[:k]) for k in range(len(pieces) + 1)]
    while i < len(pieces):
        if not high[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(pieces) and high[j + 1]:
            j += 1
        shares: dict[str, float] = {}
        for k in range(i, j + 1):
            for rid, s in risk.contributors(pieces[k].edge):
                shares[rid] = shares.get(rid, 0.0) + s * length[k]
        longest = max(range(i, j + 1), key=lambda k: length[k])
        hotspots.append(
            (
                starts_m[i],
                starts_m[j + 1],
                max(rpk[i : j + 1]),
                graph.street(pieces[longest].edge),
                tuple(sorted(shares, key=lambda r: (-shares[r], r))),
                tuple(piece_coords[i][0]),
                tuple(piece_coords[j][-1]),
            )
        )
        i = j + 1
    i = 0
    while i < len(pieces):
        label = graph.street(pieces[i].edge)
        j = i
        while j + 1 < len(pieces) and graph.street(pieces[j + 1].edge) == label:
            j += 1
        dist = sum(length[i : j + 1])
        expo = sum(exposure[i : j + 1])
        mean = expo / (dist / 1000.0) if dist > 0 else rpk[i]
        steps.append((label, dist, sum(duration[i : j + 1]), expo, mean, max(rpk[i : j + 1])))
        i = j + 1
    return {
        "distance_m": sum(length),
        "duration_s": sum(duration),
        "exposure": sum(exposure),
        "max": max(rpk),
        "high_m": sum(m for m, h in zip(length, high, strict=True) if h),
        "hotspots": hotspots,
        "steps": steps,
        "coordinates": coords,
    }


def _random_paths(graph, rng, count):
    """Random walks along the graph as pieces, partial at both ends."""
    out = []
    for _ in range(count):
        edge = int(rng.integers(graph.edge_count))
        pieces = [Piece(edge, float(rng.uniform(0, 0.9)), 1.0)]
        for _ in range(int(rng.integers(0, 40))):
            node = int(graph.edge_head[pieces[-1].edge])
            out_edges = np.flatnonzero(graph.edge_tail == node)
            if out_edges.size == 0:
                break
            pieces.append(Piece(int(rng.choice(out_edges))))
        last = pieces[-1]
        pieces[-1] = Piece(last.edge, last.start, float(rng.uniform(last.start, 1.0)))
        out.append(pieces)
    return out


def _close(got, want) -> None:
    got_a, want_a = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    assert got_a.shape == want_a.shape
    np.testing.assert_allclose(got_a, want_a, rtol=1e-9, atol=1e-9)


def _assert_matches(s, ref) -> None:
    """A summary against the reference's figures, hotspots, steps and polyline."""
    assert s.distance_m == pytest.approx(ref["distance_m"])
    assert s.duration_s == pytest.approx(ref["duration_s"])
    assert s.exposure == pytest.approx(ref["exposure"])
    assert s.max_edge_risk_per_km == pytest.approx(ref["max"])
    assert s.high_risk_distance_m == pytest.approx(ref["high_m"])
    assert [(h.street, h.report_ids) for h in s.hotspots] == [(r[3], r[4]) for r in ref["hotspots"]]
    _close(
        [(h.from_m, h.to_m, h.risk_per_km, *h.start, *h.end) for h in s.hotspots],
        [(*r[:3], *r[5], *r[6]) for r in ref["hotspots"]],
    )
    assert [st.street for st in s.steps] == [r[0] for r in ref["steps"]]
    _close(
        [
            (st.distance_m, st.duration_s, st.exposure, st.risk_per_km, st.max_risk_per_km)
            for st in s.steps
        ],
        [r[1:] for r in ref["steps"]],
    )
    _close(s.coordinates, ref["coordinates"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_summary_matches_the_per_piece_reference(seed: int) -> None:
    from corridors.graph.synthetic import synthetic_city

    graph = synthetic_city(12, 12, seed=seed)
    rng = np.random.default_rng(seed)
    rpk = np.where(rng.random(graph.edge_count) < 0.4, rng.uniform(0, 9, graph.edge_count), 0.0)
    rpk[rng.random(graph.edge_count) < 0.02] = np.nan
    risk = Risk(rpk, np.zeros(graph.edge_count, dtype=bool))
    for pieces in _random_paths(graph, rng, 40):
        s = summarise(graph, risk, pieces, high_risk_per_km=3.0)
        _assert_matches(s, _reference(graph, risk, pieces, 3.0))
        profile = measure(graph, risk, pieces, high_risk_per_km=3.0)
        assert profile == s.profile


@pytest.mark.parametrize("seed", [4, 5])
def test_routes_summarised_together_get_each_routes_own_figures(seed: int) -> None:
    """Laid end to end, the routes must not leak into each other: a run of high-risk pieces
    or a step never spans two routes, each route starts its distances at 0, keeps its own
    first point and gets the same profile as alone."""
    from corridors.graph.synthetic import synthetic_city

    graph = synthetic_city(12, 12, seed=seed)
    rng = np.random.default_rng(seed)
    rpk = np.where(rng.random(graph.edge_count) < 0.5, rng.uniform(0, 9, graph.edge_count), 0.0)
    risk = VariedRisk(rpk, np.zeros(graph.edge_count, dtype=bool))
    walks = _random_paths(graph, rng, 30)
    # Each route then one starting where it ends, on the same edge (street, risk, point):
    # where a run, a step or a duplicate point would join across the routes.
    for k in range(0, 20, 2):
        end = walks[k][-1]
        rpk[end.edge] = 5.0
        walks.insert(k + 1, [Piece(end.edge, end.end, 1.0), *walks[k + 1][1:]])
    paths = [PathArrays.of(pieces) for pieces in walks]
    together = summarise_many(graph, risk, paths, high_risk_per_km=3.0)
    assert len(together) == len(paths)
    for pieces, path, s in zip(walks, paths, together, strict=True):
        assert s.path is path
        _assert_matches(s, _reference(graph, risk, pieces, 3.0))
        alone = summarise(graph, risk, pieces, high_risk_per_km=3.0)
        assert s.profile == alone.profile
        assert s.coordinates == alone.coordinates
    assert summarise_many(graph, risk, [], high_risk_per_km=3.0) == []


@dataclass
class VariedRisk(Risk):
    """Up to three of six reports per edge, shares of a quarter or a half: ties abound."""

    def contributors(self, edge: int) -> list[tuple[str, float]]:
        rng = np.random.default_rng(edge)
        ids = rng.choice(6, int(rng.integers(0, 4)), replace=False).tolist()
        return [(f"r{i}", float(rng.choice([0.25, 0.5]))) for i in ids]


@dataclass
class FlatRisk(VariedRisk):
    """The same answers through the flat ``contributor_entries`` a risk field offers."""

    def contributor_entries(self, edges: np.ndarray) -> object:
        answers = [self.contributors(int(e)) for e in edges]
        ids = [rid for a in answers for rid, _ in a]
        # Names against id order, as a field's are (stored order): the rank tells ties apart.
        names = sorted(set(ids), reverse=True)
        return SimpleNamespace(
            counts=np.array([len(a) for a in answers], dtype=np.int64),
            report=np.array([names.index(rid) for rid in ids], dtype=np.int64),
            names=names,
            rank=np.arange(len(names), dtype=np.int32)[::-1].copy(),
            shares=np.array([v for a in answers for _, v in a], dtype=np.float64),
        )


@pytest.mark.parametrize("view", [VariedRisk, FlatRisk])
def test_hotspot_reports_are_summed_over_the_run_and_ties_go_by_id(view: type[Risk]) -> None:
    from corridors.graph.synthetic import synthetic_city

    graph = synthetic_city(12, 12, seed=4)
    rng = np.random.default_rng(4)
    rpk = np.where(rng.random(graph.edge_count) < 0.7, rng.uniform(2, 9, graph.edge_count), 0.0)
    risk = view(rpk, np.zeros(graph.edge_count, dtype=bool))
    runs = 0
    for pieces in _random_paths(graph, rng, 60):
        got = [h.report_ids for h in summarise(graph, risk, pieces, high_risk_per_km=3.0).hotspots]
        want = [r[4] for r in _reference(graph, risk, pieces, 3.0)["hotspots"]]
        assert got == want
        runs += sum(len(ids) > 1 for ids in got)
    assert runs > 20  # the orders compared were orders of several reports


def test_steps_merge_by_label_not_by_tag() -> None:
    """A street named on one edge and carrying the same text as its ref on the next is one step."""
    import dataclasses

    g, _, _ = _line()
    rue_a = g.strings.index("Rue A")
    name = g.edge_name.copy()
    ref = g.edge_ref.copy()
    name[1], ref[1] = g.strings.index(""), rue_a
    g2 = dataclasses.replace(g, edge_name=name, edge_ref=ref)
    assert g2.street(1) == "Rue A"
    risk = Risk(np.zeros(3), np.zeros(3, dtype=bool))
    s = summarise(g2, risk, [Piece(0), Piece(1), Piece(2)], high_risk_per_km=2.0)
    assert [(st.street, round(st.distance_m)) for st in s.steps] == [("Rue A", 200), ("Rue B", 100)]


def _cut_polyline_reference(lon, lat, start, end):
    """The array-based cut the plain-float one replaced (the same formulas)."""
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    kx = np.cos(np.radians(float(y.mean())))
    seg = np.hypot(np.diff(x) * kx, np.diff(y))
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    s_d, e_d = start * float(cum[-1]), end * float(cum[-1])

    def point(d):
        i = int(np.clip(np.searchsorted(cum, d, side="right") - 1, 0, seg.shape[0] - 1))
        t = 0.0 if seg[i] <= 0 else (d - cum[i]) / seg[i]
        t = min(1.0, max(0.0, t))
        return [float(x[i] + t * (x[i + 1] - x[i])), float(y[i] + t * (y[i + 1] - y[i]))]

    inner = [[float(x[i]), float(y[i])] for i in range(1, x.shape[0] - 1) if s_d < cum[i] < e_d]
    return [point(s_d), *inner, point(e_d)]


@pytest.mark.parametrize("seed", [1, 2])
def test_cut_polyline_matches_the_array_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(200):
        n = int(rng.integers(2, 8))
        lon = (-72.3 + np.cumsum(rng.uniform(-1e-3, 1e-3, n))).tolist()
        lat = (18.5 + np.cumsum(rng.uniform(-1e-3, 1e-3, n))).tolist()
        if rng.random() < 0.2:  # a repeated vertex: a zero-length leg
            k = int(rng.integers(1, n))
            lon[k], lat[k] = lon[k - 1], lat[k - 1]
        a, b = sorted(rng.choice([0.0, 1.0, *rng.uniform(0, 1, 3)], 2))
        got, want = cut_polyline(lon, lat, a, b), _cut_polyline_reference(lon, lat, a, b)
        assert len(got) == len(want)  # the same vertices kept
        for point, expected in zip(got, want, strict=True):
            assert point == pytest.approx(expected, rel=0, abs=1e-12)  # degrees: ~0.1 um


def test_a_path_measured_on_two_risk_views_gets_each_views_figures() -> None:
    """Lengths are kept with the path; risk figures never are."""
    from corridors.graph.synthetic import synthetic_city

    graph = synthetic_city(12, 12, seed=5)
    rng = np.random.default_rng(5)
    (pieces,) = _random_paths(graph, rng, 1)
    first = Risk(rng.uniform(0, 9, graph.edge_count), np.zeros(graph.edge_count, dtype=bool))
    second = Risk(rng.uniform(0, 9, graph.edge_count), np.zeros(graph.edge_count, dtype=bool))
    shared = PathArrays.of(pieces)
    measure(graph, first, shared, high_risk_per_km=3.0)
    again = measure(graph, second, shared, high_risk_per_km=3.0)
    assert again == measure(graph, second, PathArrays.of(pieces), high_risk_per_km=3.0)
    assert again != measure(graph, first, PathArrays.of(pieces), high_risk_per_km=3.0)


def test_polyline_array_and_lists_agree() -> None:
    g, lon, lat = _line()
    risk = Risk(np.array([0.0, 5.0, 1.0]), np.zeros(3, dtype=bool))
    s = summarise(g, risk, [Piece(0, 0.5, 1.0), Piece(1), Piece(2, 0.0, 0.5)], high_risk_per_km=2.0)
    assert s.lonlat_deg.shape == (4, 2)
    assert s.coordinates == s.lonlat_deg.tolist()
    # A zero-length route is still a line of two (equal) points.
    point = summarise(g, risk, [Piece(1, 0.5, 0.5)], high_risk_per_km=2.0)
    assert point.coordinates == [[(lon[1] + lon[2]) / 2, lat[0]]] * 2
