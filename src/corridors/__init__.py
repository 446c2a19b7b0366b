"""Corridors: safe-corridor routing for humanitarian convoys in Port-au-Prince."""

__all__ = ["__version__"]

__version__ = "0.1.0"
