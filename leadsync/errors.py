"""LeadSync's exceptions, named by what the caller does next.

    LeadSyncError
    ├── ConfigError          fix the file named in the message (config or mapping); exit non-zero
    ├── StoreError           the state store is unreachable or its schema does not fit this version
    ├── CycleBusy            another cycle holds the store's cycle lock: run again later
    ├── AddressInUse         the address to serve on is taken: stop its holder or pick a port
    ├── CycleRefused         the cycle must not write; the message says what to do
    │   ├── CycleLockLost    the cycle lock was lost mid-cycle: it stopped before its next write;
    │   │                    the next cycle carries on
    │   └── ModelMismatch    the config's model is not the one the store is scored with: preview
    │                        it (--dry-run), then adopt it (``leadsync rescore``)
    └── SyncError            something went wrong talking to a CRM
        ├── FatalSyncError   stop this connector's cycle: bad credentials, missing permission,
        │                    a 4xx that will answer the same on retry. A human must act.
        └── RetriableSyncError
            │                retry the call with backoff: 429, 5xx, network errors, timeouts,
            │                locked rows. Raised only once the bounded retries are spent.
            └── BudgetExhausted
                             the CRM's API allowance (or our reserve of it) is used up: end the
                             cycle cleanly, keep everything pending, resume next cycle.

Record-level CRM rejections are not exceptions: a batched write answers with one
``WriteOutcome`` per record, and a rejected one carries a ``RecordError`` with the CRM's own
code and message (see ``leadsync.records``). Each connector converts its client library's
exceptions into this tree at its boundary, so no ``SalesforceError`` or ``ApiException``
escapes a connector.
"""

from __future__ import annotations


class LeadSyncError(Exception):
    """Base of every error LeadSync raises on purpose."""


class ConfigError(LeadSyncError):
    """A configuration or mapping file is wrong.

    ``problems`` holds one line per problem, each naming the file, the key path, the bad value
    and what is allowed, so the admin can fix them all in one pass.
    """

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class StoreError(LeadSyncError):
    """The state store cannot be used (unreachable, or migrated by a newer LeadSync)."""


class CycleBusy(LeadSyncError):
    """Another cycle (a scheduled one, a backfill, a manual ``leadsync sync``) is running on
    this store. Nothing was done; run again once it has finished."""


class AddressInUse(LeadSyncError):
    """The host and port a server (``leadsync run``, ``leadsync sandbox``) is to listen on
    are taken by another process. Nothing was started; the message names the port and the
    setting or option that moves it."""


class CycleRefused(LeadSyncError):
    """This cycle must not write anything more; the message says why and what to do."""


class CycleLockLost(CycleRefused):
    """The store's cycle lock went away while a cycle held it (its PostgreSQL session ended,
    its lock file was removed). Another cycle may be running, so this one stopped before
    writing anything more; what it committed stays, and the next cycle carries on."""


class ModelMismatch(CycleRefused):
    """The config's model (its fingerprint) is not the one the store is scored with: two
    models must never mix. Preview the new one with a dry run; adopt it with ``rescore``."""


class SyncError(LeadSyncError):
    """A CRM call failed. ``connector`` names the CRM connection it came from."""

    def __init__(self, message: str, *, connector: str = "", status: int | None = None) -> None:
        self.connector = connector
        self.status = status
        prefix = f"{connector}: " if connector else ""
        super().__init__(prefix + message)


class FatalSyncError(SyncError):
    """Retrying will not help; stop this connector's cycle and tell a human what to fix."""


class AuthError(FatalSyncError):
    """Credentials were refused. The message says which setting to check."""


class RetriableSyncError(SyncError):
    """A transient failure that outlasted the bounded retries; the next cycle tries again."""

    def __init__(
        self,
        message: str,
        *,
        connector: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, connector=connector, status=status)


class BudgetExhausted(RetriableSyncError):
    """The API allowance or our configured reserve of it is spent; resume next cycle."""
