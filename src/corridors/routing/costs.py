"""Edge costs from travel time and risk exposure, by risk aversion.

The cost of an edge, in seconds-equivalent, is::

    cost(e) = duration_s(e) + lambda(alpha) * exposure(e)
    exposure(e) = risk_per_km(e) * length_m(e) / 1000            (risk x km)
    lambda(alpha) = s0 * alpha / (1 - alpha),  capped at s0 * MAX_FACTOR

``alpha`` is the request's ``risk_aversion`` in ``[0, 1]``. ``s0`` (``seconds_per_exposure``)
is what one unit of exposure is worth at ``alpha = 0.5``: the detour, in seconds, a planner
accepts to avoid it. ``lambda`` is 0 at ``alpha = 0`` (fastest route), ``s0`` at 0.5,
``3 s0`` at 0.75, ``9 s0`` at 0.9 and ``MAX_FACTOR * s0`` (1000 s0) from ``alpha`` ~0.999
to 1, where the route minimises exposure and time only breaks ties.
:meth:`CostModel.from_high_risk` sets ``s0`` from the high-risk threshold of the risk model,
e.g. "at 0.5, avoiding one km of high-risk road is worth 10 minutes".

Impassable edges (cost ``inf``): edges blocked by no-go zones, the request's avoided edges
(``avoid.polygons``) and edges whose risk per km exceeds the request's ``max_edge_risk``.

Speed: a CCH metric must be customised per weight vector (~0.2 s per 360k arcs), too slow
per request. Requests are therefore answered on a few pre-customised metrics at fixed
risk-aversion :data:`LEVELS`; a request's ``alpha`` is rounded to the nearest level
(:meth:`CostModel.quantise`). Between two neighbouring levels the weighted-sum optimum
changes only at a few breakpoints, and the Pareto sweep (``routing.pareto``) shows the
planner the whole trade-off anyway.

Memory: each pre-customised metric costs RoutingKit a weight per CCH arc (forward and
backward), which grows faster than the graph (the separators grow): ~12 MB per level at
100k nodes but ~360 MB at 1M nodes (a 1000 x 1000 synthetic grid, whose CCH alone takes
~720 MB), where six levels would take ~2.2 GB on top of the graph. Large graphs therefore
get fewer levels (:data:`LEVELS_BY_SIZE`, :meth:`CostModel.for_graph`): above 400k nodes
fastest, balanced and safest (0, 0.5, 1); above 800k nodes balanced and safest (0.5, 1).
The trade-off: a request's ``risk_aversion`` is rounded more coarsely (with two levels a
request for the fastest route gets the balanced one), a Pareto sweep has only two or three
weighted-sum candidates (plus the alternatives) and may miss intermediate compromises, and
a full refresh is correspondingly cheaper. Pass ``levels_by_size=None`` to keep every level
whatever the size.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from corridors.graph.model import RoadGraph

__all__ = [
    "LEVELS",
    "LEVELS_BY_SIZE",
    "MAX_FACTOR",
    "CostModel",
    "edge_costs",
    "edge_exposure",
    "impassable",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Risk-aversion levels with a pre-customised metric each.
LEVELS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)
#: ``(nodes, levels)``: a graph with more than ``nodes`` nodes gets only ``levels`` (the
#: last tier it exceeds wins); smaller graphs get all the model's levels. Memory-bound.
LEVELS_BY_SIZE: tuple[tuple[int, tuple[float, ...]], ...] = (
    (400_000, (0.0, 0.5, 1.0)),
    (800_000, (0.5, 1.0)),
)
#: lambda(1) / lambda(0.5).
MAX_FACTOR = 1000.0


@dataclass(frozen=True, slots=True)
class CostModel:
    """How exposure trades against time (see the module docstring).

    Parameters
    ----------
    seconds_per_exposure
        ``s0``: seconds of detour worth one unit of exposure (risk x km) at
        ``risk_aversion = 0.5``.
    levels
        Risk-aversion levels that get a pre-customised metric, ascending, within [0, 1].
    levels_by_size
        ``(nodes, levels)`` tiers, ascending: graphs with more than ``nodes`` nodes use
        ``levels`` instead (see :meth:`for_graph`); ``None`` keeps ``levels`` whatever the
        size.
    """

    seconds_per_exposure: float = 60.0
    levels: tuple[float, ...] = LEVELS
    levels_by_size: tuple[tuple[int, tuple[float, ...]], ...] | None = LEVELS_BY_SIZE

    def for_graph(self, node_count: int) -> CostModel:
        """This model with the levels for a graph of ``node_count`` nodes.

        Each level costs one customised CCH metric (memory and refresh time grow faster
        than the graph; see the module docstring), so large graphs get the levels of the
        last ``levels_by_size`` tier whose node count they exceed.
        """
        levels = self.levels
        for nodes, tier in self.levels_by_size or ():
            if node_count > nodes:
                levels = tier
        return self if levels == self.levels else replace(self, levels=levels)

    @classmethod
    def from_high_risk(
        cls, high_risk_per_km: float, *, detour_s_per_high_km: float = 600.0
    ) -> CostModel:
        """Set ``s0`` so that at 0.5 one km at ``high_risk_per_km`` is worth a detour.

        Parameters
        ----------
        high_risk_per_km
            The risk model's high-risk threshold, risk per km (> 0).
        detour_s_per_high_km
            Detour, seconds, worth avoiding one km of such road at ``risk_aversion = 0.5``.
        """
        if high_risk_per_km <= 0:
            raise ValueError("high_risk_per_km must be > 0")
        return cls(seconds_per_exposure=detour_s_per_high_km / high_risk_per_km)

    def exposure_weight_s(self, risk_aversion: float) -> float:
        """``lambda(alpha)``: seconds per unit of exposure.

        Raises
        ------
        ValueError
            When ``risk_aversion`` is outside [0, 1].
        """
        a = float(risk_aversion)
        if not 0.0 <= a <= 1.0:
            raise ValueError("risk_aversion must be within [0, 1]")
        if a >= 1.0:
            return self.seconds_per_exposure * MAX_FACTOR
        return self.seconds_per_exposure * min(MAX_FACTOR, a / (1.0 - a))

    def quantise(self, risk_aversion: float) -> float:
        """The pre-customised level nearest to ``risk_aversion`` (ties to the safer one)."""
        a = float(risk_aversion)
        if not 0.0 <= a <= 1.0:
            raise ValueError("risk_aversion must be within [0, 1]")
        return min(self.levels, key=lambda lv: (round(abs(lv - a), 9), -lv))


def edge_exposure(
    graph: RoadGraph, risk_per_km: FloatArray, edges: IntArray | None = None
) -> FloatArray:
    """Exposure of each whole edge, or of ``edges`` only: ``risk_per_km * length_m / 1000``
    (risk x km); ``risk_per_km`` has an entry per edge of the graph."""
    pick = slice(None) if edges is None else edges
    return np.asarray(risk_per_km, dtype=np.float64)[pick] * graph.edge_length_m[pick] / 1000.0


def impassable(
    edge_count: int,
    *,
    blocked: BoolArray | None = None,
    risk_per_km: FloatArray | None = None,
    max_edge_risk: float | None = None,
    avoid_edges: IntArray | None = None,
) -> BoolArray:
    """Mask of edges a route may not use.

    Parameters
    ----------
    edge_count
        Number of edges.
    blocked
        Edges in no-go zones.
    risk_per_km, max_edge_risk
        Edges whose risk per km is strictly above ``max_edge_risk`` are impassable.
    avoid_edges
        Indexes of edges the request avoids (inside ``avoid.polygons``).
    """
    mask = np.zeros(edge_count, dtype=np.bool_)
    if blocked is not None:
        mask |= np.asarray(blocked, dtype=np.bool_)
    if max_edge_risk is not None and risk_per_km is not None:
        mask |= np.asarray(risk_per_km) > max_edge_risk
    if avoid_edges is not None and len(avoid_edges):
        mask[np.asarray(avoid_edges, dtype=np.int64)] = True
    return mask


def edge_costs(
    duration_s: FloatArray,
    exposure: FloatArray,
    exposure_weight_s: float,
    *,
    impassable_mask: BoolArray | None = None,
) -> FloatArray:
    """Edge cost, seconds-equivalent: ``duration_s + exposure_weight_s * exposure``.

    Impassable edges (and edges with a NaN risk) get ``inf``.
    """
    # In place on one new array: at 1M nodes each temporary of this shape is 22 MB.
    cost = np.multiply(np.asarray(exposure, dtype=np.float64), exposure_weight_s)
    cost += np.asarray(duration_s, dtype=np.float64)
    cost[np.isnan(cost)] = np.inf
    if impassable_mask is not None:
        cost[np.asarray(impassable_mask, dtype=np.bool_)] = np.inf
    return cost
