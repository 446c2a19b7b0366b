"""Graph cache: identical round trip, keys, corrupt files."""

from __future__ import annotations

import os
import zipfile
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from corridors.errors import GraphBuildError
from corridors.graph.cache import (
    cache_key,
    cache_path,
    fetch_cache_key,
    load_graph,
    newest_cache,
    save_graph,
)
from corridors.graph.model import RoadGraph
from corridors.graph.synthetic import synthetic_city

BUILT_AT = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def graph() -> RoadGraph:
    return synthetic_city(12, 15, seed=3, built_at=BUILT_AT)


def assert_same_graph(a: RoadGraph, b: RoadGraph) -> None:
    assert a.meta == b.meta
    assert a.strings == b.strings
    for f in fields(RoadGraph):
        if f.name in ("meta", "strings"):
            continue
        x, y = getattr(a, f.name), getattr(b, f.name)
        assert x.dtype == y.dtype, f.name
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), f.name


def test_round_trip_is_identical(graph: RoadGraph, tmp_path: Path) -> None:
    path = tmp_path / "graphs" / "g.npz"
    save_graph(graph, path)
    loaded = load_graph(path)
    assert_same_graph(graph, loaded)
    assert loaded.street(0) == graph.street(0)
    # no stray temporary files
    assert [p.name for p in path.parent.iterdir()] == ["g.npz"]


def test_round_trip_keeps_timestamp_and_unicode(tmp_path: Path) -> None:
    from dataclasses import replace

    base = synthetic_city(3, 3, seed=1, built_at=BUILT_AT)
    meta = replace(base.meta, osm_timestamp=datetime(2024, 9, 2, 8, tzinfo=UTC), demo=True)
    strings = (*base.strings[:-1], "Route des Frères – Pétion-Ville")
    graph = replace(base, meta=meta, strings=strings)
    save_graph(graph, tmp_path / "u.npz")
    assert_same_graph(graph, load_graph(tmp_path / "u.npz"))


def test_no_pickle_inside(graph: RoadGraph, tmp_path: Path) -> None:
    path = tmp_path / "g.npz"
    save_graph(graph, path)
    with np.load(path, allow_pickle=False) as data:
        for name in data.files:
            assert data[name].dtype != object


@pytest.mark.parametrize("damage", ["truncate", "garbage", "drop_array", "bad_dtype", "bad_csr"])
def test_corrupt_cache_raises(graph: RoadGraph, tmp_path: Path, damage: str) -> None:
    path = tmp_path / "g.npz"
    save_graph(graph, path)
    if damage == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a zip file")
    else:
        with np.load(path) as stored:
            arrays = {k: stored[k] for k in stored.files}
        if damage == "drop_array":
            del arrays["edge_head"]
        elif damage == "bad_dtype":
            arrays["edge_tail"] = arrays["edge_tail"].astype(np.float64)
        else:
            arrays["edge_offsets"] = arrays["edge_offsets"][::-1].copy()
        with path.open("wb") as handle:
            np.savez(handle, **arrays)
    with pytest.raises(GraphBuildError, match="corrupt graph cache"):
        load_graph(path)


def test_missing_cache_raises(tmp_path: Path) -> None:
    with pytest.raises(GraphBuildError, match="no such graph cache"):
        load_graph(tmp_path / "absent.npz")


def test_cache_key_follows_content_and_settings(tmp_path: Path) -> None:
    a = tmp_path / "a.osm"
    a.write_text("<osm/>")
    b = tmp_path / "b.osm"
    b.write_text("<osm/>")
    key = cache_key(a, include_tracks=False)
    assert len(key) == 20
    assert cache_key(b, include_tracks=False) == key  # same content
    assert cache_key(a, include_tracks=True) != key
    assert cache_key(a, include_tracks=False, demo=True) != key
    a.write_text("<osm></osm>")
    assert cache_key(a, include_tracks=False) != key
    assert cache_key("osmnx:place=Port-au-Prince, Haiti", include_tracks=False) != key
    assert cache_path(tmp_path, key) == tmp_path / f"graph-{key}.npz"


def test_fetch_cache_key_changes_with_time_and_settings() -> None:
    key = fetch_cache_key("Port-au-Prince, Haiti", now=BUILT_AT)
    assert key == fetch_cache_key("Port-au-Prince, Haiti", now=BUILT_AT)
    assert key != fetch_cache_key("Port-au-Prince, Haiti", now=datetime(2025, 3, 2, tzinfo=UTC))
    assert key != fetch_cache_key("Port-au-Prince, Haiti", now=BUILT_AT, include_tracks=True)
    assert key != fetch_cache_key("Carrefour, Haiti", now=BUILT_AT)


def test_newest_cache(graph: RoadGraph, tmp_path: Path) -> None:
    assert newest_cache(tmp_path / "none") is None
    assert newest_cache(tmp_path) is None
    old, new = cache_path(tmp_path, "old"), cache_path(tmp_path, "new")
    save_graph(graph, old)
    save_graph(graph, new)
    os.utime(old, ns=(1_000_000_000, 1_000_000_000))
    assert newest_cache(tmp_path) == new


def test_saved_file_is_a_plain_npz(graph: RoadGraph, tmp_path: Path) -> None:
    path = tmp_path / "g.npz"
    save_graph(graph, path)
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
    assert {"meta.npy", "strings.npy", "edge_tail.npy", "geometry_lon.npy"} <= names


def test_contraction_order_is_stored_and_reused(
    graph: RoadGraph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from corridors.graph import order as order_module

    path = tmp_path / "g.npz"
    save_graph(graph, path)
    with np.load(path) as stored:
        saved = stored["cch_order"]
    assert saved.dtype == np.uint32
    assert np.array_equal(np.sort(saved), np.arange(graph.node_count))

    def no_ordering(*args: object) -> None:
        raise AssertionError("the order was recomputed")

    monkeypatch.setattr(order_module.rk, "compute_order_inertial", no_ordering)
    loaded = load_graph(path)
    assert np.array_equal(order_module.contraction_order(loaded), saved)


def test_cache_without_order_loads_and_orders_on_demand(graph: RoadGraph, tmp_path: Path) -> None:
    from corridors.graph.order import contraction_order

    path = tmp_path / "g.npz"
    save_graph(graph, path, with_order=False)
    with np.load(path) as stored:
        assert "cch_order" not in stored.files
    loaded = load_graph(path)
    assert np.array_equal(np.sort(contraction_order(loaded)), np.arange(graph.node_count))


@pytest.mark.parametrize("damage", ["duplicate", "short", "bad_dtype"])
def test_bad_order_is_a_corrupt_cache(graph: RoadGraph, tmp_path: Path, damage: str) -> None:
    path = tmp_path / "g.npz"
    save_graph(graph, path)
    with np.load(path) as stored:
        arrays = {k: stored[k] for k in stored.files}
    order = arrays["cch_order"]
    if damage == "duplicate":
        order[0] = order[1]
    elif damage == "short":
        order = order[:-1]
    else:
        order = order.astype(np.int64)
    arrays["cch_order"] = order
    with path.open("wb") as handle:
        np.savez(handle, **arrays)
    with pytest.raises(GraphBuildError, match="corrupt graph cache"):
        load_graph(path)
