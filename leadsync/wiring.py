"""Building the running parts from validated settings: store, connectors, engine.

Connector types come from ``connectors.registry`` (the ``leadsync.connectors`` entry points);
the engine only ever sees the ``Connector`` contract.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.base import Connector
from connectors.registry import connector_type
from leadsync.config import Settings
from leadsync.engine.accounts import AccountRollup
from leadsync.engine.act import Actor, ActSettings
from leadsync.engine.cycle import EngineSettings, LogProgress, Progress, SyncEngine
from leadsync.engine.preview import PreviewWork
from leadsync.engine.scoring import ModelScorer
from leadsync.errors import ConfigError
from leadsync.logs import register_secrets
from leadsync.model.spec import alias_tables
from leadsync.service.state import STALE_INTERVALS, HealthRules
from leadsync.store import Store


def utc_now() -> datetime:
    return datetime.now(UTC)


def health_rules(settings: Settings) -> HealthRules:
    """``[health]``, with the freshness defaulting to three sync intervals."""
    freshness = settings.health.freshness_seconds
    if freshness is None:
        freshness = settings.sync.interval_seconds * STALE_INTERVALS
    return HealthRules(timedelta(seconds=freshness), settings.health.unready_after_failures)


def build_connectors(settings: Settings, only: Sequence[str] | None = None) -> dict[str, Connector]:
    """The configured connectors (or those named in ``only``), ready to call."""
    configured = {name: settings.connectors.section(name) for name in settings.require_connectors()}
    wanted = list(only) if only else list(configured)
    unknown = [name for name in wanted if name not in configured]
    if unknown:
        raise ConfigError(
            f"{settings.source}: connectors: no connector named {', '.join(unknown)}; "
            f"configured: {', '.join(configured)}"
        )
    built: dict[str, Connector] = {}
    for name in wanted:
        section = configured[name]
        register_secrets(_secret_values(section))
        # Paths in the settings were resolved against the config file's folder at load time.
        built[name] = connector_type(name).build(name, section, None)
    return built


def _secret_values(section: Any) -> list[str]:
    values = []
    for field in type(section).model_fields:
        value = getattr(section, field)
        if hasattr(value, "get_secret_value"):
            values.append(value.get_secret_value())
    return values


#: The config sections that make the model: a change to any of them changes scores.
MODEL_SECTIONS = frozenset({"icp", "titles", "aliases", "engagement", "matrix", "accounts"})


def model_fingerprint(settings: Settings) -> str:
    """A short, stable fingerprint of the model's config (and of the CRM whose fit
    attributes win, which changes merged attributes): equal configs, equal fingerprints,
    whatever the file's layout, comments or key order."""
    model = settings.model_dump(mode="json", include=set(MODEL_SECTIONS))
    model["fit_source"] = settings.identity.fit_source
    blob = json.dumps(model, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


def engine_settings(settings: Settings) -> EngineSettings:
    sync = settings.sync
    return EngineSettings(
        model=model_fingerprint(settings),
        overlap=timedelta(seconds=sync.overlap_seconds),
        pull_batch=sync.pull_batch,
        max_write_attempts=sync.max_write_attempts,
        retry_backoff=timedelta(seconds=sync.retry_backoff_seconds),
        score_change_threshold=sync.score_change_threshold,
    )


def open_store(settings: Settings) -> Store:
    return Store(settings.store.url)


def build_engine(
    settings: Settings,
    store: Store,
    connectors: dict[str, Connector],
    *,
    clock: Callable[[], datetime] = utc_now,
    progress: Progress | None = None,
) -> SyncEngine:
    scorer = ModelScorer(
        settings.model_spec(),
        settings.identity.fit_source,
        settings.accounts.key,
        model_fingerprint(settings),
    )
    rollup = AccountRollup(scorer) if settings.accounts.enabled else None
    acting = act_settings(settings)
    actor = None
    if acting.handoff.enabled or acting.recycle.enabled or acting.nurture.enrol:
        actor = Actor(acting, connectors, clock)
    return SyncEngine(
        store,
        connectors,
        scorer,
        engine_settings(settings),
        clock,
        progress or LogProgress(),
        accounts=rollup,
        actor=actor,
    )


def preview_work(settings: Settings, now: datetime) -> PreviewWork:
    """What ``leadsync preview`` scores and decides with: this config's model and hand-off
    rules, as a cycle would use them (``build_engine``), and no connector."""
    acting = act_settings(settings)
    acts = acting.handoff.enabled or acting.recycle.enabled
    return PreviewWork(
        scorer=ModelScorer(
            settings.model_spec(),
            settings.identity.fit_source,
            settings.accounts.key,
            model_fingerprint(settings),
        ),
        acting=acting if acts else None,
        crms=tuple(settings.connectors.configured()),
        now=now,
    )


def act_settings(settings: Settings) -> ActSettings:
    """Hand-off and recycle act only when the file has their section: a fit-only roll-out
    (no [handoff], no [recycle]) writes fields and never touches an owner or a status."""
    aliases = {attr: {k: list(v) for k, v in t.items()} for attr, t in settings.aliases.items()}
    given = settings.model_fields_set
    handoff = settings.handoff
    if "handoff" not in given:
        handoff = handoff.model_copy(update={"enabled": False})
    recycle = settings.recycle
    if "recycle" not in given:
        recycle = recycle.model_copy(update={"enabled": False})
    return ActSettings(
        handoff=handoff,
        recycle=recycle,
        nurture=settings.nurture,
        sales_crm=settings.identity.sales_crm,
        handoffs_per_cycle=settings.sync.handoffs_per_cycle,
        aliases=alias_tables(aliases),
        max_action_attempts=settings.sync.max_write_attempts,
        action_backoff=timedelta(seconds=settings.sync.retry_backoff_seconds),
    )
