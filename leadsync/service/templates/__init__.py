"""The dashboard's Jinja2 templates (a package so the wheel ships them as package data)."""
