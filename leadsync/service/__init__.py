"""The HTTP side of ``leadsync run``: health, readiness, Prometheus metrics, HubSpot webhooks.

``state`` remembers how the last cycles went, ``metrics`` turns cycles into Prometheus
series, ``webhook`` verifies HubSpot deliveries, and ``app`` puts them behind one small ASGI
application with bearer-token auth (``auth``) that answers only known host names (``hosts``).
``names`` holds the paths the app routes, ``offload`` keeps store work off the event loop,
and ``server`` is uvicorn with deadlines for slow clients.
"""
