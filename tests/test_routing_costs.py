"""Cost model: lambda(alpha), quantisation, impassable edges."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from corridors.routing.costs import MAX_FACTOR, CostModel, edge_costs, impassable


def test_lambda_shape() -> None:
    model = CostModel(seconds_per_exposure=60.0)
    assert model.exposure_weight_s(0.0) == 0.0
    assert model.exposure_weight_s(0.5) == pytest.approx(60.0)
    assert model.exposure_weight_s(0.75) == pytest.approx(180.0)
    assert model.exposure_weight_s(1.0) == pytest.approx(60.0 * MAX_FACTOR)
    values = [model.exposure_weight_s(a) for a in np.linspace(0, 1, 21)]
    assert all(b >= a for a, b in itertools.pairwise(values))
    with pytest.raises(ValueError, match="risk_aversion"):
        model.exposure_weight_s(1.2)


def test_from_high_risk_and_quantise() -> None:
    model = CostModel.from_high_risk(4.0, detour_s_per_high_km=600.0)
    # One km at the high threshold = 4 exposure units = 600 s at alpha 0.5.
    assert model.exposure_weight_s(0.5) * 4.0 == pytest.approx(600.0)
    assert model.quantise(0.8) == 0.75
    assert model.quantise(0.95) == 1.0  # tie between 0.9 and 1.0 goes to the safer
    assert model.quantise(0.1) == 0.0


def test_costs_and_impassable() -> None:
    mask = impassable(
        4,
        blocked=np.array([True, False, False, False]),
        risk_per_km=np.array([0.0, 9.0, 3.0, 0.0]),
        max_edge_risk=5.0,
        avoid_edges=np.array([3]),
    )
    assert mask.tolist() == [True, True, False, True]
    cost = edge_costs(
        np.array([10.0, 10.0, 10.0, 10.0]), np.array([0, 1, 2, 0.0]), 5.0, impassable_mask=mask
    )
    assert np.isinf(cost[[0, 1, 3]]).all()
    assert cost[2] == pytest.approx(20.0)
