"""Emulators of the CRMs' APIs, served over real HTTP(S) so the official clients run end to end.

They are part of the product (``leadsync demo``, ``leadsync sandbox``) and strict where the real
APIs are strict. ``connectors/<crm>/`` holds what talks to a CRM; ``sandboxes/<crm>/`` what
pretends to be one. ``serving`` is the HTTP server loop both share.
"""
