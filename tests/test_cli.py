"""The ``corridors`` command line: graph build/info, route, and its error behaviour."""

from __future__ import annotations

import bz2
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SHARED_OSM = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm"
CORRIDORS = Path(sys.executable).parent / "corridors"

# A tiny drivable square of four streets, and a footway across it that must not become an edge.
TINY_OSM = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="test">
  <node id="1" lat="18.5400" lon="-72.3400" version="1" timestamp="2026-10-01T00:00:00Z"/>
  <node id="2" lat="18.5400" lon="-72.3300" version="1" timestamp="2026-10-02T00:00:00Z"/>
  <node id="3" lat="18.5500" lon="-72.3300" version="1" timestamp="2026-10-01T00:00:00Z"/>
  <node id="4" lat="18.5500" lon="-72.3400" version="1" timestamp="2026-10-01T00:00:00Z"/>
  <way id="20" version="1" timestamp="2026-10-01T00:00:00Z">
    <nd ref="1"/><nd ref="2"/><tag k="highway" v="residential"/><tag k="name" v="Rue 0"/>
  </way>
  <way id="21" version="1" timestamp="2026-10-01T00:00:00Z">
    <nd ref="2"/><nd ref="3"/><tag k="highway" v="residential"/><tag k="name" v="Rue 1"/>
  </way>
  <way id="22" version="1" timestamp="2026-10-01T00:00:00Z">
    <nd ref="3"/><nd ref="4"/><tag k="highway" v="residential"/><tag k="name" v="Rue 2"/>
  </way>
  <way id="23" version="1" timestamp="2026-10-01T00:00:00Z">
    <nd ref="4"/><nd ref="1"/><tag k="highway" v="residential"/><tag k="name" v="Rue 3"/>
  </way>
  <way id="11" version="1" timestamp="2026-10-01T00:00:00Z">
    <nd ref="1"/><nd ref="3"/><tag k="highway" v="footway"/>
  </way>
</osm>
"""


def run(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CORRIDORS_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [str(CORRIDORS), *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]


def test_build_then_info_serves_the_built_graph(tmp_path: Path) -> None:
    osm = tmp_path / "tiny.osm"
    osm.write_text(TINY_OSM)
    built = run("graph", "build", "--osm-file", str(osm), data_dir=tmp_path / "data")
    assert built.returncode == 0, built.stderr
    doc = json.loads(built.stdout)
    # Four corners of a two-way square: 4 nodes, 8 directed edges; the footway is dropped.
    assert (doc["nodes"], doc["edges"]) == (4, 8)
    assert doc["demo"] is False
    assert doc["osm_timestamp"].startswith("2026-10-02")
    info = run("graph", "info", data_dir=tmp_path / "data")
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["source"] == doc["source"]


def test_info_without_any_graph_uses_the_demo(tmp_path: Path) -> None:
    info = run("graph", "info", data_dir=tmp_path)
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["demo"] is True
    assert "DEMO" in info.stderr


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"", "empty.osm"),
        (TINY_OSM.encode()[: len(TINY_OSM) // 2], "truncated.osm"),
        (b"this is not OpenStreetMap data\n", "notosm.osm"),
        (bz2.compress(TINY_OSM.encode())[:60], "truncated.osm.bz2"),
    ],
)
def test_bad_osm_files_fail_with_one_line(tmp_path: Path, content: bytes, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = run("graph", "build", "--osm-file", str(path), data_dir=tmp_path / "data")
    assert_one_line_error(result, name)
    assert not (tmp_path / "data" / "graphs" / "active.json").exists()


def test_missing_file_and_bad_arguments(tmp_path: Path) -> None:
    assert_one_line_error(
        run("graph", "build", "--osm-file", str(tmp_path / "nope.osm"), data_dir=tmp_path),
        "no such file",
    )
    assert_one_line_error(run("graph", "fetch", data_dir=tmp_path), "--place or --bbox")
    assert_one_line_error(
        run("graph", "fetch", "--bbox", "1,2,3", data_dir=tmp_path), "minlon,minlat,maxlon,maxlat"
    )
    assert_one_line_error(
        run("route", "--from", "x", "--to", "-72.34,18.55", data_dir=tmp_path), "LON,LAT"
    )


def test_route_prints_the_routes_document(tmp_path: Path) -> None:
    result = run(
        "route",
        "--from",
        "-72.2925,18.58",
        "--to",
        "-72.348,18.556",
        "--risk-aversion",
        "0.8",
        data_dir=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["routes"][0]["label"] == "recommended"
    assert doc["routes"][0]["distance_m"] > 1000
    assert doc["graph"]["demo"] is True


def test_route_far_from_roads_fails(tmp_path: Path) -> None:
    result = run("route", "--from", "-72.9,18.1", "--to", "-72.348,18.556", data_dir=tmp_path)
    assert_one_line_error(result, "nearest road")


@pytest.mark.realdata
def test_build_a_real_extract(tmp_path: Path) -> None:
    path = SHARED_OSM / "osmnx-aguascalientes.osm.pbf"
    if not path.exists():
        pytest.skip(f"{path} not present")
    result = run("graph", "build", "--osm-file", str(path), data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert 500 < doc["nodes"] < 2000
    assert doc["edges"] > doc["nodes"]
