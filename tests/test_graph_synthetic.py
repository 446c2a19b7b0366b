"""The synthetic cities: districts cut residential streets at their edges, arterials cross."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from corridors.graph.synthetic import _district_edges, synthetic_city

ROWS, COLS, DISTRICT, ARTERIAL_EVERY = 20, 23, 5, 8


def _arterial(rows: int, cols: int) -> np.ndarray:
    line = np.concatenate([np.arange(rows), np.arange(cols)])
    return line % ARTERIAL_EVERY == 0


def test_district_edges_against_a_loop() -> None:
    rows, cols, blocks = 11, 9, 4
    arterial = _arterial(rows, cols)
    expected = []
    for r in range(rows):  # horizontal blocks: (r, c) -> (r, c + 1)
        for c in range(cols - 1):
            expected.append(c // blocks != (c + 1) // blocks and not arterial[r])
    for r in range(rows - 1):  # vertical blocks: (r, c) -> (r + 1, c)
        for c in range(cols):
            expected.append(r // blocks != (r + 1) // blocks and not arterial[rows + c])
    got = _district_edges(rows, cols, blocks, arterial)
    assert got.tolist() == expected
    assert got.any()


def test_district_edges_reject_empty_districts() -> None:
    with pytest.raises(ValueError, match="district_blocks"):
        _district_edges(5, 5, 0, _arterial(5, 5))


def test_without_districts_the_grid_is_unchanged() -> None:
    """Districts that every street crosses change nothing, and the default is no districts."""
    plain = synthetic_city(ROWS, COLS, seed=4)
    crossed = synthetic_city(ROWS, COLS, seed=4, district_blocks=DISTRICT, crossing_fraction=1.0)
    assert np.array_equal(plain.edge_tail, crossed.edge_tail)
    assert np.array_equal(plain.edge_head, crossed.edge_head)
    cut = synthetic_city(ROWS, COLS, seed=4, district_blocks=DISTRICT, crossing_fraction=0.5)
    assert cut.edge_count < plain.edge_count


def _components_off_arterials(crossing_fraction: float) -> list[set[tuple[int, int]]]:
    """Connected intersections ``(row, col)`` once the arterial lines are taken out."""
    graph = synthetic_city(
        ROWS,
        COLS,
        seed=9,
        oneway_fraction=0.0,
        closed_fraction=0.0,
        district_blocks=DISTRICT,
        crossing_fraction=crossing_fraction,
    )
    index = graph.node_osm_id - 1  # intersections have ids 1..ROWS*COLS, row-major
    assert (index < ROWS * COLS).all(), "only intersections survive the simplification"
    row, col = index // COLS, index % COLS
    on_arterial = (row % ARTERIAL_EVERY == 0) | (col % ARTERIAL_EVERY == 0)
    g = nx.Graph()
    g.add_nodes_from(np.flatnonzero(~on_arterial).tolist())
    for a, b in zip(graph.edge_tail.tolist(), graph.edge_head.tolist(), strict=True):
        if not on_arterial[a] and not on_arterial[b]:
            g.add_edge(a, b)
    return [{(int(row[v]), int(col[v])) for v in c} for c in nx.connected_components(g)]


def test_districts_meet_only_along_arterials() -> None:
    components = _components_off_arterials(0.0)
    districts = {frozenset((r // DISTRICT, c // DISTRICT) for r, c in comp) for comp in components}
    assert all(len(d) == 1 for d in districts)
    # every district interior is still in the graph, reached over its arterials
    assert len(components) >= (ROWS // DISTRICT) * (COLS // DISTRICT) - 4


def test_crossing_streets_join_districts() -> None:
    components = _components_off_arterials(0.5)
    spans = [len({(r // DISTRICT, c // DISTRICT) for r, c in comp}) for comp in components]
    assert max(spans) > 1
