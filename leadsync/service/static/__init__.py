"""The dashboard's stylesheet (a package so the wheel ships it as package data)."""
