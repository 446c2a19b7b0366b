"""GeoJSON FeatureCollection -> report drafts.

Each feature is a ``Point`` (``[lon, lat]``, an altitude is ignored) whose ``properties``
are the fields of :class:`~corridors.ingest.draft.ReportDraft` except ``location``, under
the same rules as the API body (datetimes need a zone, our category names only).
Properties the service itself adds to its GeoJSON output (``id``, ``status``,
``created_at``, ``created_by``, ``updated_at``, ``note``) are ignored so an export can be
re-imported; any other unknown property rejects the feature (a misspelt field must not
pass silently).

Deduplication key: ``properties.external_id`` if given, else ``"geojson:" + id`` from the
feature ``id`` (or ``properties.id``), else none. A repeated key within the file counts as
a duplicate. Rows are feature indexes counted from 0, as in ``features[0]``.
"""

from __future__ import annotations

import json
import math
from typing import Any

from corridors.errors import InputError
from corridors.ingest.batch import BatchBuilder, ImportBatch, decode_text

__all__ = ["OUTPUT_ONLY_PROPERTIES", "parse_geojson"]

#: Properties of the service's own GeoJSON output that an import ignores.
OUTPUT_ONLY_PROPERTIES = frozenset(
    {"id", "status", "created_at", "created_by", "updated_at", "note"}
)


def parse_geojson(data: bytes) -> ImportBatch:
    """Parse a GeoJSON FeatureCollection of Point features into report drafts.

    Parameters
    ----------
    data
        The file's bytes (UTF-8 with or without BOM, or Latin-1).

    Returns
    -------
    ImportBatch
        Drafts for the good features (row = feature index from 0), a reason for each
        rejected feature, and the count of in-file duplicates.

    Raises
    ------
    InputError
        Not JSON, or not a FeatureCollection with a ``features`` list.
    """
    text = decode_text(data, what="GeoJSON")
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"the GeoJSON file is not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        kind = document.get("type") if isinstance(document, dict) else type(document).__name__
        raise InputError(f"expected a GeoJSON FeatureCollection, got {kind!r}")
    features = document.get("features")
    if not isinstance(features, list):
        raise InputError("the FeatureCollection has no 'features' list")

    builder = BatchBuilder()
    for index, feature in enumerate(features):
        try:
            fields = _feature_fields(feature)
        except ValueError as exc:
            builder.reject(index, str(exc))
            continue
        builder.add(index, fields)
    return builder.batch


def _feature_fields(feature: Any) -> dict[str, object]:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise ValueError("not a GeoJSON Feature")
    geometry = feature.get("geometry")
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        kind = geometry.get("type") if isinstance(geometry, dict) else geometry
        raise ValueError(f"geometry must be a Point, got {kind!r}")
    coords = geometry.get("coordinates")
    if (
        not isinstance(coords, list)
        or len(coords) not in (2, 3)
        or not all(
            isinstance(c, int | float) and not isinstance(c, bool) and math.isfinite(c)
            for c in coords
        )
    ):
        raise ValueError("Point coordinates must be [lon, lat] numbers")
    properties = feature.get("properties")
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise ValueError("properties must be an object")
    if "location" in properties:
        raise ValueError("location comes from the geometry; remove the 'location' property")
    fields: dict[str, object] = {
        k: v for k, v in properties.items() if k not in OUTPUT_ONLY_PROPERTIES
    }
    fields["location"] = {"lon": coords[0], "lat": coords[1]}
    if fields.get("external_id") is None:
        fid = feature.get("id", properties.get("id"))
        if isinstance(fid, str | int) and not isinstance(fid, bool) and str(fid).strip():
            fields["external_id"] = f"geojson:{fid}"
        else:
            fields.pop("external_id", None)
    return fields
