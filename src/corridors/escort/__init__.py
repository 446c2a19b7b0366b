"""escort package."""
