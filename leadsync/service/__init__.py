"""The HTTP side of ``leadsync run``: health, readiness, Prometheus metrics, HubSpot webhooks.

``state`` remembers how the last cycles went, ``metrics`` turns cycles into Prometheus
series, ``webhook`` verifies HubSpot deliveries, and ``app`` puts them behind one small ASGI
application with bearer-token auth.
"""
