"""Metadata API calls (list views, custom fields) through simple-salesforce's ``MetadataType``.

simple-salesforce's ``Salesforce.mdapi`` builds its zeep client with a transport of its own, so
its SOAP calls would skip the connector's session: its CA bundle and timeouts, the API usage it
counts, and the token it renews. The same ``MetadataType`` is built here over a zeep client that
posts through that session, from the WSDL simple-salesforce ships. Every call runs under the
client's retry loop; a component the API refuses, or a SOAP fault, is a ``FatalSyncError``
naming the API's status code and message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import requests
import simple_salesforce
from simple_salesforce.metadata import MetadataType
from zeep import Client, Settings
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import Fault
from zeep.transports import Transport

from connectors.salesforce.client import SalesforceClient
from leadsync.errors import FatalSyncError, RetriableSyncError

_WSDL = Path(simple_salesforce.__file__).parent / "metadata.wsdl"
_BINDING = "{http://soap.sforce.com/2006/04/metadata}MetadataBinding"
#: Components one CRUD call takes ("Limit: 10").
BATCH = 10

T = TypeVar("T")


class MetadataApi:
    """CRUD Metadata calls for one connection, over its HTTP session."""

    def __init__(self, client: SalesforceClient) -> None:
        self._client = client
        self._zeep: Client | None = None

    def _zeep_client(self) -> Client:
        if self._zeep is None:
            self._zeep = Client(
                _WSDL.absolute().as_uri(),
                settings=Settings(strict=False, xsd_ignore_sequence_order=True),
            )
            # The WSDL is a local file, read by zeep's own transport; calls go through ours.
            self._zeep.transport = Transport(session=self._client.session)
        return self._zeep

    def _type(self, name: str) -> MetadataType:
        """A ``MetadataType`` bound to the current session id (read at each call, so a
        renewed token is used)."""
        sf = self._client.sf
        client = self._zeep_client()
        service = client.create_service(_BINDING, sf.metadata_url)
        header = client.get_element("ns0:SessionHeader")(sessionId=sf.session_id)
        return MetadataType(name, service, client.get_type(f"ns0:{name}"), header)

    def build(self, kind: str, **values: Any) -> Any:
        """A component of ``kind`` (``ListView``, ``ListViewFilter``) to create or update."""
        return self._zeep_client().get_type(f"ns0:{kind}")(**values)

    def read(self, kind: str, names: Sequence[str]) -> dict[str, Any]:
        """Components by full name; a name the org lacks is left out."""
        found: dict[str, Any] = {}
        for start in range(0, len(names), BATCH):
            part = list(names[start : start + BATCH])

            def call(part: list[str] = part) -> Any:
                return self._type(kind).read(part)

            answer = self._call(f"read {kind}", call)
            records = answer if isinstance(answer, list) else [answer]
            found.update({r.fullName: r for r in records if r is not None and r.fullName})
        return found

    def create(self, kind: str, components: Sequence[Any]) -> None:
        self._each(f"create {kind}", components, lambda part: self._type(kind).create(part))

    def update(self, kind: str, components: Sequence[Any]) -> None:
        self._each(f"update {kind}", components, lambda part: self._type(kind).update(part))

    def delete(self, kind: str, names: Sequence[str]) -> None:
        self._each(f"delete {kind}", names, lambda part: self._type(kind).delete(part))

    def _each(self, what: str, items: Sequence[Any], fn: Callable[[list[Any]], None]) -> None:
        for start in range(0, len(items), BATCH):
            part = list(items[start : start + BATCH])
            self._call(what, lambda part=part: fn(part))  # type: ignore[misc]

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        name = self._client.name

        def attempt() -> T:
            try:
                return fn()
            except requests.RequestException:
                raise  # the retry loop translates and retries these
            except Fault as fault:
                code = str(fault.code or "").rpartition(":")[2]
                if code in ("SERVER_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED"):
                    raise RetriableSyncError(
                        f"Metadata API {what}: {fault.message}", connector=name
                    ) from fault
                raise FatalSyncError(
                    f"the Metadata API refused {what}: {fault.message}", connector=name
                ) from fault
            except ZeepError as exc:
                raise FatalSyncError(
                    f"the Metadata API answered {what} with what zeep cannot read: {exc}",
                    connector=name,
                ) from exc
            except Exception as exc:
                # simple-salesforce raises a bare Exception listing each refused component
                # (its SaveResult/DeleteResult errors): "(statusCode, message)".
                raise FatalSyncError(
                    f"the Metadata API refused {what}:{exc}", connector=name
                ) from exc

        return self._client.run(attempt)
