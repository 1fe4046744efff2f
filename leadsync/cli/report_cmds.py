"""``report`` and ``tune``: is the model working, and what would work better."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from leadsync.cli.app import app
from leadsync.cli.options import JsonOpt
from leadsync.cli.output import console, emit_json
from leadsync.cli.tune_view import print_impact, print_tune, review_header
from leadsync.config import Settings, load_settings
from leadsync.errors import ConfigError, LeadSyncError
from leadsync.wiring import open_store

# The report and the tuner stand on SciPy and scikit-learn (~2.5 s to import): they load when
# one of these commands runs, not with every ``leadsync`` command.
if TYPE_CHECKING:
    from leadsync.report import Dataset
    from leadsync.tune.impact import Impact

CycleOpt = Annotated[
    float,
    typer.Option(
        "--sales-cycle-days",
        metavar="DAYS",
        min=1,
        help="A lead counts as converted if it converts within this many days of entering.",
    ),
]
StageOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--converted-stage",
        metavar="STAGE",
        help="Also count a record whose lifecycle_stage attribute is this stage as converted "
        "(needs lifecycle_stage mapped under [attributes] in mappings/hubspot.toml; "
        "repeatable).",
    ),
]
WindowOpt = Annotated[
    float,
    typer.Option(
        "--window-days",
        metavar="DAYS",
        min=0,
        help="Back-test: place each lead in the cell the model gives it this many days after "
        "it entered the CRM (or just before it converted, if sooner), from the activities "
        "before then.",
    ),
]
ExportOpt = Annotated[
    Path | None,
    typer.Option(
        "--csv",
        "--export",
        metavar="FILE",
        help="Read this CRM report export (CSV, one row per lead) instead of the store; "
        "needs --csv-map (the format is in the README, 'Reports from a CRM export').",
    ),
]
MappingOpt = Annotated[
    Path | None,
    typer.Option(
        "--csv-map",
        "--mapping",
        metavar="MAP.toml",
        help="Which of the export's columns is what: converted flag, created date, ICP "
        "attributes, activity counts.",
    ),
]
_CONVERSION_HELP = (
    "Converted means: a Salesforce lead converted (ConvertedDate), or a HubSpot contact whose "
    "lifecycle stage reached one of converted_stages in mappings/hubspot.toml (customer by "
    "default; add e.g. 'opportunity' there to count earlier stages). The store holds no "
    "opportunity data, so 'opportunity won' cannot be told apart from 'lead converted'."
)


#: ``leadsync.report.dataset.BACKTEST_WINDOW_DAYS``, not imported: the report loads lazily.
_WINDOW_DAYS = 30.0


@dataclass(frozen=True, slots=True)
class Periods:
    """How long after entering a lead counts as converted, and when its back-test reads it."""

    cycle_days: float
    window_days: float = _WINDOW_DAYS


def _dataset(
    settings: Settings,
    export: Path | None,
    mapping: Path | None,
    periods: Periods,
    stages: list[str],
    now: datetime,
) -> tuple[Dataset, str]:
    from leadsync.report import CONVERSION_CSV, leads_from_csv, leads_from_store, load_csv_mapping

    spec = settings.model_spec()
    if export is not None:
        if mapping is None:
            raise ConfigError(
                f"--csv {export} needs --csv-map MAP.toml naming its columns (see the README, "
                "'Reports from a CRM export')"
            )
        converted = load_csv_mapping(mapping).converted
        ds = leads_from_csv(export, mapping, spec, now)
        return ds, CONVERSION_CSV.format(column=converted)
    if mapping is not None:
        raise ConfigError("--csv-map is only read together with --csv FILE (a CRM export)")
    store = open_store(settings)
    try:
        with store.reading() as conn:
            ds = leads_from_store(
                conn,
                spec,
                fit_source=settings.identity.fit_source,
                cycle_days=periods.cycle_days,
                now=now,
                stages=stages,
                window_days=periods.window_days,
            )
    finally:
        store.close()
    return ds, ""


@app.command(
    help="Does the model work? Conversion per cell, box and rule.\n\n"
    "Leads per month they entered the CRM, in the matrix cell a back-test gives them "
    "(--window-days after entering, or just before converting), and how they convert "
    "(95% Wilson intervals, counts shown so small samples read as such); per ICP criterion and "
    "engagement rule, how often it fires and the conversion lift when it does, flagged "
    "'revisit your ICP' where the lift's interval includes 1; poor-fit leads by source and "
    "campaign; hand-raisers against other sales-ready leads (conversion, hours to first sales "
    "touch); the recycle flow. " + _CONVERSION_HELP + " With --csv FILE and --csv-map MAP it "
    "reads a CRM report export instead of the store (one row per lead; the map names the "
    "converted column, optional created/source/campaign columns, and the attributes, "
    "activity_counts and last_activity tables; see the README); the months, hand-off and "
    "recycle sections then need the store. Exit 2: the export or map cannot be used."
)
def report(
    ctx: typer.Context,
    months: Annotated[
        int, typer.Option("--months", metavar="N", min=1, help="Months to cover.")
    ] = 12,
    sales_cycle_days: CycleOpt = 90.0,
    window_days: WindowOpt = _WINDOW_DAYS,
    as_json: JsonOpt = False,
    tables: Annotated[
        Path | None,
        typer.Option(
            "--tables", metavar="FOLDER", help="Also write one CSV per table into this folder."
        ),
    ] = None,
    export: ExportOpt = None,
    mapping: MappingOpt = None,
    converted_stage: StageOpt = None,
) -> None:
    from leadsync.report import report_document
    from leadsync.report.build import data_end
    from leadsync.report.render import print_report

    if tables is not None and tables.exists() and not tables.is_dir():
        # Said before the report is computed: the folder is wrong whatever the data says.
        raise ConfigError(f"--tables {tables} is a file; give a folder for the CSV tables")
    settings = load_settings(ctx.obj.config)
    now = datetime.now(UTC)
    stages = converted_stage or []
    periods = Periods(sales_cycle_days, window_days)
    ds, conversion = _dataset(settings, export, mapping, periods, stages, now)
    if export is None:
        store = open_store(settings)
        try:
            with store.reading() as conn:
                document = report_document(
                    ds, now=now, months=months, conn=conn, stages=stages, conversion=conversion
                )
        finally:
            store.close()
    else:
        # An export that ends before today: its months end where its rows do.
        end = data_end(ds, now)
        document = report_document(ds, now=end, months=months, conversion=conversion)
        if end < now - timedelta(days=31) and "data_quality" in document:
            document["data_quality"]["notes"].insert(
                0, f"the export's newest row entered on {end:%Y-%m-%d}: the months end there"
            )
    if tables is not None:
        document["csv_files"] = [str(p) for p in _write_tables(document, tables)]
    if as_json:
        emit_json(document)
        return
    print_report(document, console)
    for path in document.get("csv_files", []):
        console.print(f"wrote {path}", markup=False)


@app.command(
    help="Suggest engagement points and a good-fit cut-off.\n\n"
    "Learned from history: an "
    "L2-regularised logistic regression over the ICP boxes and each rule's (decayed) activity "
    "count, mapped back to integer points, trained on earlier leads and checked on the last "
    "--holdout-months of leads (AUC of the current config against the suggestion). Prints the "
    "suggestion as a TOML snippet and a unified diff against the config file; --out writes "
    "them to a file for review. Never changes the config. Leads without entry dates (an "
    "undated export), or months held out that hold only one class, get a stratified random "
    "hold-out instead (--holdout share of converted and other leads, drawn with --seed); the "
    "split made is said on screen. Exit 2: the export or map cannot be used, or it holds too "
    "few converted or other leads to tune on. " + _CONVERSION_HELP
)
def tune(
    ctx: typer.Context,
    holdout_months: Annotated[
        int,
        typer.Option(
            "--holdout-months", metavar="N", min=1, help="Months of the latest leads held out."
        ),
    ] = 3,
    holdout: Annotated[
        float,
        typer.Option(
            "--holdout",
            metavar="SHARE",
            min=0.05,
            max=0.5,
            help="Share held out when the hold-out is stratified random (undated leads, or "
            "months holding one class).",
        ),
    ] = 0.25,
    seed: Annotated[
        int,
        typer.Option("--seed", metavar="N", help="Seed of a stratified random hold-out."),
    ] = 7,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="FILE",
            help="Write the snippet and the diff (as comments) to this file.",
        ),
    ] = None,
    sales_cycle_days: CycleOpt = 90.0,
    export: ExportOpt = None,
    mapping: MappingOpt = None,
    converted_stage: StageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    from leadsync.tune import review_file, snippet, suggest, suggested_text, unified_diff

    settings = load_settings(ctx.obj.config)
    config_path = Path(settings.source)
    if out is not None and out.resolve() == config_path.resolve():
        raise ConfigError(
            f"--out {out} is the live config; tune never edits it: write elsewhere and review"
        )
    if out is not None:
        _writable(out)
    now = datetime.now(UTC)
    ds, _ = _dataset(
        settings, export, mapping, Periods(sales_cycle_days), converted_stage or [], now
    )
    spec = settings.model_spec()
    try:
        found = suggest(
            ds, holdout_months, share=holdout, seed=seed, now=now,
            sales_ready_threshold=spec.sales_ready_threshold,
        )  # fmt: skip
    except LeadSyncError as exc:
        # Too little history in the data given: the input cannot be tuned on (exit 2).
        raise ConfigError(f"{ds.origin}: {exc}") from None
    current_text = config_path.read_text(encoding="utf-8")
    header = review_header(found, ds, now)
    snippet_text = snippet(spec, found.proposal(), header, current_text)
    after_text = suggested_text(current_text, spec, found.proposal())
    diff_text = unified_diff(current_text, after_text, str(config_path))
    document = found.to_dict(ds)
    document.update({"snippet": snippet_text, "diff": diff_text})
    impact = None
    if export is None:  # a CRM export has no activities to place leads in cells with
        impact = _impact(
            settings, ds, after_text, Periods(sales_cycle_days), converted_stage or [], now
        )
        document["impact"] = impact.to_dict()
    if ds.quality is not None:
        document["data_quality"] = ds.quality.to_dict()
    if ds.notes:
        document["config_against_data"] = list(ds.notes)
    if out is not None:
        try:
            out.write_text(review_file(snippet_text, diff_text, now), encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"--out {out}: cannot write ({exc.strerror})") from None
        document["written"] = str(out)
    if as_json:
        emit_json(document)
        return
    print_tune(found, ds, diff_text, out, console)
    if impact is not None:
        print_impact(impact, console)


def _impact(
    settings: Settings,
    ds: Dataset,
    after_text: str,
    periods: Periods,
    stages: list[str],
    now: datetime,
) -> Impact:
    """The store's leads read again with the config as the suggestion would leave it, and
    each config's hand-offs routed again with ``[handoff]`` when it is on."""
    import tomllib

    from leadsync.config import settings_from_dict
    from leadsync.config.loading import expand_env
    from leadsync.report import leads_from_store
    from leadsync.store.history import histories
    from leadsync.tune.impact import impact
    from leadsync.tune.routing_impact import Router, facts_by_person
    from leadsync.wiring import act_settings

    path = Path(settings.source)
    source = f"{path} (as suggested)"
    suggested = settings_from_dict(
        expand_env(tomllib.loads(after_text), source), source, base_dir=path.resolve().parent
    ).model_spec()
    acting = act_settings(settings)
    # The store keeps no CRM user list: every pool member counts as active (said on screen).
    router = (
        Router.of(
            acting.handoff, aliases=acting.aliases, nurture_owner=acting.recycle.nurture_owner
        )
        if acting.handoff.enabled
        else None
    )
    store = open_store(settings)
    try:
        with store.reading() as conn:
            after = leads_from_store(
                conn, suggested, fit_source=settings.identity.fit_source,
                cycle_days=periods.cycle_days, now=now, stages=stages,
                window_days=periods.window_days,
            )  # fmt: skip
            facts = None
            if router is not None:
                facts = facts_by_person(
                    histories(conn, stages), settings.identity.fit_source, acting.aliases
                )
    finally:
        store.close()
    return impact(ds.leads, after.leads, settings.model_spec(), suggested, router, facts)


def _write_tables(document: dict[str, Any], folder: Path) -> list[Path]:
    from leadsync.report.render import write_csvs

    try:
        return write_csvs(document, folder)
    except OSError as exc:
        raise LeadSyncError(f"--tables {folder}: cannot write ({exc.strerror})") from None


def _writable(out: Path) -> None:
    """Refuse an ``--out`` that cannot be written before the work, not after it (usage: 2)."""
    folder = out.parent if str(out.parent) else Path(".")
    if out.is_dir():
        raise ConfigError(f"--out {out}: is a folder; name a file to write the suggestion to")
    if not folder.is_dir():
        raise ConfigError(f"--out {out}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise ConfigError(f"--out {out}: cannot write there (permission denied)")
