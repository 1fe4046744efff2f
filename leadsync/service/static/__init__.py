"""The dashboard's stylesheet and scripts, with vendored Chart.js and its license (a package
so the wheel ships them as package data)."""
