"""Tests that drive a real browser (marker ``browser``)."""
