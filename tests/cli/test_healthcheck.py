"""``leadsync healthcheck``, the image's HEALTHCHECK: it asks the port the config names."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from leadsync.cli.service_cmds import healthz_url
from tests.cli.test_cli import leadsync
from tests.service.helpers import free_port


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[http.server.ThreadingHTTPServer]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    _Health.status = 200


def _config(tmp_path: Path, host: str, port: int) -> Path:
    path = tmp_path / "leadsync.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n\n'
        f'[service]\nhost = "{host}"\nport = {port}\naccess_token = "${{LEADSYNC_TOKEN}}"\n'
    )
    return path


def test_a_service_bound_to_every_address_is_asked_on_loopback_at_its_configured_port(
    tmp_path: Path, server: http.server.ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADSYNC_TOKEN", "t" * 32)
    port = server.server_address[1]
    result = leadsync(
        "--config", str(_config(tmp_path, "0.0.0.0", port)), "healthcheck", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert f"http://127.0.0.1:{port}/healthz: ok" in result.stdout


def test_an_unhealthy_or_absent_service_exits_1_saying_what_it_asked(
    tmp_path: Path, server: http.server.ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADSYNC_TOKEN", "t" * 32)
    _Health.status = 503
    port = server.server_address[1]
    config = _config(tmp_path, "127.0.0.1", port)
    unhealthy = leadsync("--config", str(config), "healthcheck", cwd=tmp_path)
    assert unhealthy.returncode == 1
    assert f"http://127.0.0.1:{port}/healthz: HTTP 503" in unhealthy.stderr

    absent_port = free_port()
    absent = leadsync(
        "--config", str(_config(tmp_path, "127.0.0.1", absent_port)), "healthcheck", cwd=tmp_path
    )
    assert absent.returncode == 1
    assert f"http://127.0.0.1:{absent_port}/healthz: ConnectError" in absent.stderr


def test_ipv6_hosts_are_bracketed() -> None:
    assert healthz_url("::", 8080) == "http://[::1]:8080/healthz"
    assert healthz_url("::1", 9000) == "http://[::1]:9000/healthz"
    assert healthz_url("10.0.0.5", 80) == "http://10.0.0.5:80/healthz"
