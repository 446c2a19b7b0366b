"""Small geodesy helpers: great-circle distance and a local metric projection.

A city spans a few tens of kilometres, so an equirectangular projection about the
graph's centre is accurate to well under 0.1 % there and is a pair of multiplications,
cheap enough to apply to millions of vertices at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from corridors.errors import InputError

__all__ = ["EARTH_RADIUS_M", "LocalProjection", "haversine_m", "parse_bbox", "polyline_legs_m"]

EARTH_RADIUS_M = 6_371_008.8

FloatArray = npt.NDArray[np.float64]


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance between two WGS84 points, in metres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def polyline_legs_m(lon: FloatArray, lat: FloatArray) -> FloatArray:
    """:func:`haversine_m` of each leg of a polyline (vertex ``k`` to ``k + 1``), metres.

    Each vertex's latitude cosine is taken once, for the two legs it ends.
    """
    phi = np.radians(lat)
    cos_phi = np.cos(phi)
    half_dphi = np.sin(np.diff(phi) / 2)
    half_dlmb = np.sin(np.radians(np.diff(lon)) / 2)
    a = half_dphi * half_dphi + cos_phi[:-1] * cos_phi[1:] * (half_dlmb * half_dlmb)
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(a))))


@dataclass(frozen=True, slots=True)
class LocalProjection:
    """Equirectangular projection to metres about ``(lon0, lat0)``."""

    lon0: float
    lat0: float

    @property
    def _m_per_deg_lat(self) -> float:
        return math.pi * EARTH_RADIUS_M / 180.0

    @property
    def _m_per_deg_lon(self) -> float:
        return self._m_per_deg_lat * math.cos(math.radians(self.lat0))

    def to_xy(
        self, lon: FloatArray | float, lat: FloatArray | float
    ) -> tuple[FloatArray, FloatArray]:
        """Project degrees to metres east (x) and north (y) of the origin."""
        x = (np.asarray(lon, dtype=np.float64) - self.lon0) * self._m_per_deg_lon
        y = (np.asarray(lat, dtype=np.float64) - self.lat0) * self._m_per_deg_lat
        return x, y

    def to_lonlat(
        self, x: FloatArray | float, y: FloatArray | float
    ) -> tuple[FloatArray, FloatArray]:
        """Inverse of :meth:`to_xy`."""
        lon = np.asarray(x, dtype=np.float64) / self._m_per_deg_lon + self.lon0
        lat = np.asarray(y, dtype=np.float64) / self._m_per_deg_lat + self.lat0
        return lon, lat


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """``minlon,minlat,maxlon,maxlat`` -> tuple, or InputError with the reason."""
    if text is None:
        return None
    try:
        west, south, east, north = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise InputError(f"bbox must be minlon,minlat,maxlon,maxlat, got {text!r}") from exc
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise InputError(f"bbox {text!r} is not a west<east, south<north box in degrees")
    return west, south, east, north
