from __future__ import annotations

from tests.report.conftest import history_url

__all__ = ["history_url"]
