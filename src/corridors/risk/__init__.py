"""Incident reports -> risk per road edge: decay, spatial spread, zones, explanation.

Public API::

    config = load_risk_model(settings.risk_model_file)
    engine = RiskEngine(graph, config)            # once per graph
    field = engine.compute(incidents, zones, at=depart_at)
    field = engine.updated(field, add=[report])   # a new report, milliseconds
    edges_intersecting(engine, polygon)           # avoid polygons, zones
    risk_features(graph, field, bbox=...)         # GET /v1/risk
"""

from corridors.risk.config import RiskModelConfig, load_risk_model, parse_risk_model
from corridors.risk.engine import RiskEngine, RiskField
from corridors.risk.layer import risk_feature_collection, risk_features
from corridors.risk.zones import EdgeIndex, edges_intersecting

__all__ = [
    "EdgeIndex",
    "RiskEngine",
    "RiskField",
    "RiskModelConfig",
    "edges_intersecting",
    "load_risk_model",
    "parse_risk_model",
    "risk_feature_collection",
    "risk_features",
]
