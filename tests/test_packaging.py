"""The image and the package agree: every package pip installs is copied into the build."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _copied_paths() -> set[str]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    return {m.group(1) for m in re.finditer(r"^COPY (?!--)(\S+) ", text, re.MULTILINE)}


def test_dockerfile_copies_every_installed_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.rstrip("*") for p in patterns}
    assert packages <= _copied_paths(), packages - _copied_paths()


def test_image_runs_the_service_as_a_non_root_user_with_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}
    assert re.search(r'^HEALTHCHECK .*\n\s+CMD \["leadsync", "healthcheck"', text, re.MULTILINE)
    assert 'ENTRYPOINT ["leadsync"]' in text and 'CMD ["run"]' in text
