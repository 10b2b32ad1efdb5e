"""Contacts: the shop's customers as Kohtaamo knows them (order history facts for rules)."""
