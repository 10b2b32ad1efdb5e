"""Visitor behaviour: events from the widget and the shop's server, visitors, visits, live state."""
