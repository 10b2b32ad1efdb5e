"""Web glue shared by every domain: the request's unit of work, templates, static files, widget."""
