"""Opening rules: JsonLogic conditions over a visitor's live context, decisions, holdouts."""
