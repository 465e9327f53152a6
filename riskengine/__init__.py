"""riskengine."""
