from __future__ import annotations

import pytest

from tests.report.history import build_store


@pytest.fixture(scope="session")
def history_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The generated history, built once per test session (the tune tests share it)."""
    folder = tmp_path_factory.getbasetemp() / "generated-history"
    if folder.exists():
        return f"sqlite:///{folder / 'history.db'}"
    folder.mkdir()
    return build_store(folder)
