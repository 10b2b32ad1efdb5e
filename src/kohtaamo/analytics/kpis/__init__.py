"""The KPIs of the registry in `analytics.metrics`, per agent (and team), per rule and per shop."""
