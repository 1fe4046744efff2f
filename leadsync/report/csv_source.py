"""Historical leads from a CRM report export (one row per lead), for ``report`` and ``tune``
before LeadSync is connected.

A small mapping file names the columns::

    converted = "Converted"                # required: the converted flag
    created = "Create Date"                # optional: enables months and a time-based hold-out
    source = "Lead Source"                 # optional: poor-fit leads by source
    campaign = "Primary Campaign"          # optional: poor-fit leads by campaign
    converted_values = ["closed won"]      # optional: more words that mean converted
    blanks = ["Select...", "(none)"]       # optional: more cell values that mean blank

    [attributes]                           # ICP attribute = column
    industry = "Industry"
    employees = "No. of Employees"

    [activity_counts]                      # engagement rule (as named in the config) = column
    "Demo request" = "Demo Requests"

    [recency]                              # engagement rule = column of days since its last
    "Email open" = "Days Since Last Open"  # activity (blank or negative: never), decayed as
                                           # the model decays a dated activity
    [measures]                             # engagement rule = a numeric column read in units
    "Time on site" = { column = "Time on Site (s)", per = 60 }   # of ``per`` (here minutes)

    [last_activity]                        # or a column naming the lead's last activity
    column = "Last Activity"
    labels = { "Requested a demo" = "Demo request" }   # default: labels equal to rule names

Exports are messy. Blank cells, "Select"/"--None--"/"NaN"/"NULL"-style placeholders (and the
mapping's own ``blanks``), mixed case, numbers
written as text ("1,200", " 3 ", "2.0") and unreadable values are read as well as they can be
and counted per column in a data-quality summary; no cell makes the run fail. A mapping that
names a column the file lacks, or a rule the config lacks, is a ``ConfigError``.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from leadsync.config.loading import read_toml, validate
from leadsync.config.model_settings import AttributeName
from leadsync.errors import ConfigError
from leadsync.model import ModelSpec, Person, score
from leadsync.model.reading import norm
from leadsync.report.dataset import DataQuality, Dataset, Lead, tested_attributes, text_values
from leadsync.report.unmatched import closest, values_matching_nothing

#: Cell values that mean "nobody filled this in".
PLACEHOLDERS = frozenset(
    {
        "select", "--select--", "- select -", "-- select --", "please select", "select one",
        "--none--", "-- none --", "none", "n/a", "na", "#n/a", "null", "nil", "-", "--", "?",
        "unknown", "not specified", "tbd", "nan", "#null!", "(blank)", "undefined",
    }
)  # fmt: skip
TRUE_WORDS = frozenset(
    {"true", "yes", "y", "1", "x", "t", "converted", "won", "closed won", "customer"}
)
FALSE_WORDS = frozenset({"false", "no", "n", "0", "f", "open", "lost", "closed lost"})
_DATE_FORMATS_DAY_FIRST = ("%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y")
_DATE_FORMATS_MONTH_FIRST = ("%m/%d/%Y", "%m-%d-%Y")
_TIME_SUFFIXES = ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p")
#: Largest count or amount a cell is read as: beyond it a value is a typo or an overflow (a
#: 400-digit cell became infinity and failed the regression), so it is read as 0 and noted.
MAX_AMOUNT = 1e9
_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")


class LastActivity(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str = Field(min_length=1)
    #: label (any case) -> rule name; labels equal to a rule's name match it without an entry.
    labels: dict[str, str] = Field(default_factory=dict)


class Measure(BaseModel):
    """A numeric column (seconds on site, visits) whose points go per ``per`` of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str = Field(min_length=1)
    per: float = Field(default=1.0, ge=1e-6, le=1e9, allow_inf_nan=False, strict=True)


class CsvMapping(BaseModel):
    """The mapping file for a CRM report export."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    converted: str = Field(min_length=1)
    converted_values: tuple[str, ...] = ()
    #: Cell values this export uses for "nobody filled this in", beside ``PLACEHOLDERS``.
    blanks: tuple[str, ...] = ()
    created: str | None = None
    id: str | None = None
    source: str | None = None
    campaign: str | None = None
    #: ICP attribute (named as the config names it: lower-case letters, digits, _) = column.
    attributes: dict[AttributeName, str] = Field(default_factory=dict)
    activity_counts: dict[str, str] = Field(default_factory=dict)
    #: Rule -> a column of days since the lead's last such activity (negative: never).
    recency: dict[str, str] = Field(default_factory=dict)
    #: Rule -> a numeric column counted in units of ``per`` (points per minute, not second).
    measures: dict[str, Measure] = Field(default_factory=dict)
    last_activity: LastActivity | None = None


def load_csv_mapping(path: Path) -> CsvMapping:
    """Read and validate a CSV mapping file; problems name the file and key."""
    return validate(CsvMapping, read_toml(path), str(path))


class _Quality:
    """Counts problems per column while cells are read."""

    def __init__(self, blanks: Sequence[str] = ()) -> None:
        self.placeholders = PLACEHOLDERS | {b.strip().casefold() for b in blanks}
        self.columns: dict[str, Counter[str]] = defaultdict(Counter)
        self.examples: dict[tuple[str, str], list[str]] = defaultdict(list)

    def note(self, column: str, problem: str, raw: str | None = None) -> None:
        self.columns[column][problem] += 1
        examples = self.examples[(column, problem)]
        if raw is not None and len(examples) < 3 and raw not in examples:
            examples.append(raw)

    def cell(self, column: str, raw: str | None) -> str | None:
        """A cell's text, or ``None`` for a blank or placeholder (counted)."""
        text = (raw or "").strip()
        if not text:
            self.note(column, "blank")
            return None
        if text.casefold() in self.placeholders:
            self.note(column, "placeholder", text)
            return None
        return text


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, str]], list[str]]:
    notes: list[str] = []
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
        notes.append("file is not UTF-8; read as Windows-1252")
    try:
        sniffed = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
        # The sniffer guesses the delimiter well and the quoting badly: a field with a doubled
        # quote and a line break made it drop RFC 4180's doubled quotes, splitting a row in two.
        dialect: type[csv.Dialect] | csv.Dialect = type(
            "Export", (csv.excel,), {"delimiter": sniffed.delimiter}
        )
    except csv.Error:
        dialect = csv.excel
    # newline="": the csv module reads line ends itself, a bare carriage return included.
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        rows = [row for row in reader]
    except csv.Error as exc:
        raise ConfigError(
            f"{path}: line {reader.line_num} cannot be read as CSV ({exc}); export the report "
            "as CSV again, or fix that line"
        ) from None
    if not rows:
        raise ConfigError(f"{path}: the file is empty; export the report with a header row")
    header = [h.strip() for h in rows[0]]
    body = [dict(zip(header, row, strict=False)) for row in rows[1:]]
    return header, body, notes


def _check_columns(mapping: CsvMapping, header: Sequence[str], where: str, path: Path) -> None:
    wanted: list[tuple[str, str]] = [("converted", mapping.converted)]
    wanted += [(k, v) for k, v in (("created", mapping.created), ("id", mapping.id)) if v]
    wanted += [(k, v) for k, v in (("source", mapping.source), ("campaign", mapping.campaign)) if v]
    wanted += [(f"attributes.{k}", v) for k, v in mapping.attributes.items()]
    wanted += [(f"activity_counts.{k!r}", v) for k, v in mapping.activity_counts.items()]
    wanted += [(f"recency.{k!r}", v) for k, v in mapping.recency.items()]
    wanted += [(f"measures.{k!r}.column", v.column) for k, v in mapping.measures.items()]
    if mapping.last_activity is not None:
        wanted.append(("last_activity.column", mapping.last_activity.column))
    present = {h.casefold() for h in header}
    problems = [
        f"{where}: {key}: column {column!r} is not in {path.name}; columns: {', '.join(header)}"
        for key, column in wanted
        if column.strip().casefold() not in present
    ]
    # A mapped name two columns answer to (any case and spacing) was read from the last one.
    counted = Counter(h.strip().casefold() for h in header)
    problems += [
        f"{where}: {key}: column {column!r} appears {counted[column.strip().casefold()]} "
        f"times in {path.name}; rename one of them in the export"
        for key, column in wanted
        if counted[column.strip().casefold()] > 1
    ]
    if problems:
        raise ConfigError(problems)


def _column_lookup(header: Sequence[str]) -> dict[str, str]:
    """Mapping column name (any case and spacing) -> the header as written."""
    return {h.strip().casefold(): h for h in header}


def _count(quality: _Quality, column: str, raw: str | None) -> int:
    text = quality.cell(column, raw)
    if text is None:
        return 0
    cleaned = text.replace(",", "").replace("\u00a0", "").replace(" ", "").replace("'", "")
    if not _NUMBER.match(cleaned):
        quality.note(column, "unreadable (read as 0)", text)
        return 0
    value = float(cleaned)
    if value < 0 or not value.is_integer():
        quality.note(column, "not a whole count (read as 0)", text)
        return 0
    if value > MAX_AMOUNT:
        quality.note(column, f"over {MAX_AMOUNT:,.0f} (read as 0)", text)
        return 0
    if cleaned != text or cleaned != str(int(value)):
        quality.note(column, "number as text, cleaned", text)
    return int(value)


def _amount(quality: _Quality, column: str, raw: str | None) -> float:
    """A non-negative number (decimals allowed: seconds, amounts); 0 when unreadable."""
    text = quality.cell(column, raw)
    if text is None:
        return 0.0
    cleaned = text.replace(",", "").replace("\u00a0", "").replace(" ", "").replace("'", "")
    if not _NUMBER.match(cleaned):
        quality.note(column, "unreadable (read as 0)", text)
        return 0.0
    value = float(cleaned)
    if value < 0:
        quality.note(column, "negative (read as 0)", text)
        return 0.0
    if value > MAX_AMOUNT:
        quality.note(column, f"over {MAX_AMOUNT:,.0f} (read as 0)", text)
        return 0.0
    return value


def _days(quality: _Quality, column: str, raw: str | None) -> float | None:
    """Days since a lead's last activity of a kind; ``None`` for never (blank, a placeholder,
    or a negative number, as exports write "never": -1)."""
    text = quality.cell(column, raw)
    if text is None:
        return None
    cleaned = text.replace(",", "").replace("\u00a0", "").replace(" ", "")
    if not _NUMBER.match(cleaned):
        quality.note(column, "unreadable (read as never)", text)
        return None
    value = float(cleaned)
    if value < 0:
        quality.note(column, "negative: never", text)
        return None
    return value


def _parse_dates(
    quality: _Quality, column: str, raws: Sequence[str | None]
) -> list[datetime | None]:
    texts = [quality.cell(column, raw) for raw in raws]

    def parse(text: str, formats: Sequence[str]) -> datetime | None:
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        except ValueError:
            pass
        for base in formats:
            for suffix in _TIME_SUFFIXES:
                try:
                    return datetime.strptime(text, base + suffix).replace(tzinfo=UTC)
                except ValueError:
                    continue
        return None

    orders = (
        _DATE_FORMATS_DAY_FIRST + _DATE_FORMATS_MONTH_FIRST,
        _DATE_FORMATS_MONTH_FIRST + _DATE_FORMATS_DAY_FIRST,
    )
    # Day-first or month-first: whichever reads more of this column's cells.
    best = max(
        ([parse(t, order) if t else None for t in texts] for order in orders),
        key=lambda parsed: sum(p is not None for p in parsed),
    )
    for text, parsed in zip(texts, best, strict=True):
        if text is not None and parsed is None:
            quality.note(column, "unreadable date (row kept, undated)", text)
    return best


def _case_variants(quality: _Quality, column: str, values: Sequence[str | None]) -> None:
    """Count cells spelled with other capitals than their value's most common spelling."""
    spellings: dict[str, Counter[str]] = defaultdict(Counter)
    for value in values:
        if value is not None:
            spellings[value.casefold()][value] += 1
    for counter in spellings.values():
        if len(counter) > 1:
            common = counter.most_common(1)[0][0]
            for spelling, n in counter.items():
                if spelling != common:
                    quality.columns[column]["mixed case, read alike"] += n
                    examples = quality.examples[(column, "mixed case, read alike")]
                    if len(examples) < 3:
                        examples.append(f"{spelling} = {common}")


def _column_place(mapping: CsvMapping, attribute: str) -> str | None:
    column = mapping.attributes.get(attribute)
    return None if column is None else f"row of column {column!r}"


def leads_from_csv(path: Path, mapping_path: Path, spec: ModelSpec, now: datetime) -> Dataset:
    """Read an export with its mapping into a ``Dataset`` (exposure = plain counts)."""
    mapping = load_csv_mapping(mapping_path)
    rule_names = [r.name for r in spec.rules]
    where = str(mapping_path)
    unknown = [
        f"{where}: activity_counts.{name!r}: no engagement rule of that name in the config; "
        f"rules: {', '.join(rule_names)}"
        for name in mapping.activity_counts
        if name not in rule_names
    ]
    unknown += [
        f"{where}: recency.{name!r}: no engagement rule of that name in the config; "
        f"rules: {', '.join(rule_names)}"
        for name in mapping.recency
        if name not in rule_names
    ]
    unknown += [
        f"{where}: recency.{name!r}: the rule also has a column in activity_counts; map one of them"
        for name in mapping.recency
        if name in mapping.activity_counts
    ]
    unknown += [
        f"{where}: measures.{name!r}: no engagement rule of that name in the config; "
        f"rules: {', '.join(rule_names)}"
        for name in mapping.measures
        if name not in rule_names
    ]
    unknown += [
        f"{where}: measures.{name!r}: the rule also has a column in activity_counts or "
        "recency; map one of them"
        for name in mapping.measures
        if name in mapping.activity_counts or name in mapping.recency
    ]
    if mapping.last_activity is not None:
        unknown += [
            f"{where}: last_activity.labels.{label!r}: {rule!r} is not an engagement rule in "
            f"the config; rules: {', '.join(rule_names)}"
            for label, rule in mapping.last_activity.labels.items()
            if rule not in rule_names
        ]
    on_attributes = {rule.name: rule.attribute_test for rule in spec.rule_index.attribute_rules}
    for section, names in (
        ("activity_counts", mapping.activity_counts),
        ("recency", mapping.recency),
        ("measures", mapping.measures),
        (
            "last_activity.labels",
            mapping.last_activity.labels.values() if mapping.last_activity else (),
        ),
    ):
        unknown += [
            f"{where}: {section}: {name!r} is an attribute rule: it scores the [attributes] "
            "column its test reads; remove it here"
            for name in dict.fromkeys(names)
            if name in on_attributes
        ]
    if unknown:
        raise ConfigError(unknown)
    header, rows, notes = _read_rows(path)
    _check_columns(mapping, header, where, path)
    col = _column_lookup(header)

    def column(name: str) -> str:
        return col[name.strip().casefold()]

    quality = _Quality(mapping.blanks)
    kept = [row for row in rows if any((v or "").strip() for v in row.values())]
    skipped = len(rows) - len(kept)
    created: list[datetime | None] = [None] * len(kept)
    if mapping.created:
        created = _parse_dates(
            quality, column(mapping.created), [r.get(column(mapping.created)) for r in kept]
        )
    attribute_cells: dict[str, list[str | None]] = {}
    for attribute, name in mapping.attributes.items():
        header_name = column(name)
        cells = [quality.cell(header_name, row.get(header_name)) for row in kept]
        _case_variants(quality, header_name, cells)
        attribute_cells[attribute] = cells
    text_cells: dict[str, list[str | None]] = {}
    for key, named in (("source", mapping.source), ("campaign", mapping.campaign)):
        if named:
            header_name = column(named)
            cells = [quality.cell(header_name, row.get(header_name)) for row in kept]
            _case_variants(quality, header_name, cells)
            text_cells[key] = cells
    labels: dict[str, str] = {}
    if mapping.last_activity is not None:
        labels = {r.casefold(): r for r in rule_names}
        labels.update({k.strip().casefold(): v for k, v in mapping.last_activity.labels.items()})
    yes = TRUE_WORDS | {v.strip().casefold() for v in mapping.converted_values}
    converted_column = column(mapping.converted)
    index = {name: i for i, name in enumerate(rule_names)}
    caps = [rule.cap for rule in spec.rules]
    leads: list[Lead] = []
    # Built once: a default list per row made reading an export quadratic (100k rows: 33 s).
    blank: list[str | None] = [None] * len(kept)
    sources, campaigns = text_cells.get("source", blank), text_cells.get("campaign", blank)
    labels_seen: set[str] = set()
    for n, row in enumerate(kept):
        flag = quality.cell(converted_column, row.get(converted_column))
        converted = False
        if flag is not None:
            word = flag.casefold()
            if word in yes:
                converted = True
            elif word not in FALSE_WORDS:
                quality.note(converted_column, "unrecognised (read as not converted)", flag)
        counts = [0] * len(rule_names)
        for rule, name in mapping.activity_counts.items():
            header_name = column(name)
            counts[index[rule]] += _count(quality, header_name, row.get(header_name))
        # The model counts at most a rule's cap of its activities; so does a count column.
        counts = [
            count if cap is None else min(count, cap)
            for count, cap in zip(counts, caps, strict=True)
        ]
        exposure = [float(c) for c in counts]
        for rule, measure in mapping.measures.items():
            header_name = column(measure.column)
            # A rule's cap counts activities; a measure is one amount, so no cap applies.
            units = _amount(quality, header_name, row.get(header_name)) / measure.per
            exposure[index[rule]] = units
            counts[index[rule]] = 1 if units > 0 else 0
        for rule, name in mapping.recency.items():
            header_name = column(name)
            days = _days(quality, header_name, row.get(header_name))
            if days is not None and days <= spec.window_days:
                counts[index[rule]] = 1
                half_life = spec.half_life_days
                exposure[index[rule]] = 2.0 ** (-days / half_life) if half_life > 0 else 1.0
        if mapping.last_activity is not None:
            header_name = column(mapping.last_activity.column)
            label = quality.cell(header_name, row.get(header_name))
            if label is not None:
                labels_seen.add(label)
                matched = labels.get(label.casefold())
                if matched is None:
                    quality.note(header_name, "label matches no rule (ignored)", label)
                elif counts[index[matched]] == 0:
                    counts[index[matched]] = 1
        attributes = {
            attribute: cells[n] for attribute, cells in attribute_cells.items() if cells[n]
        }
        result = score(Person(key=str(n), attributes=attributes), (), spec, now)
        for item in result.contributions:  # attribute rules whose test the row's data passes
            counts[index[item.rule]] = 1
        key = (row.get(column(mapping.id)) or "").strip() if mapping.id else ""
        leads.append(
            Lead(
                key=key or f"row {n + 2}",
                entered_at=created[n],
                converted=converted,
                converted_at=None,
                source=sources[n],
                campaign=campaigns[n],
                boxes=tuple(c.status == "checked" for c in result.criteria),
                exposure=tuple(
                    exposure[i]
                    if rule in mapping.recency or rule in mapping.measures
                    else float(counts[i])
                    for i, rule in enumerate(rule_names)
                ),
                fired=tuple(counts),
                values=text_values(attributes),
            )
        )
    columns = {name: dict(counter) for name, counter in sorted(quality.columns.items())}
    examples = [
        f"{name}: {problem}: e.g. {', '.join(repr(e) for e in found)}"
        for (name, problem), found in sorted(quality.examples.items())
        if found
    ]
    if not mapping.created:
        notes.append("no created column mapped: rows are taken in file order as time order")
    notes += values_matching_nothing(spec, attribute_cells, lambda a: _column_place(mapping, a))
    notes += [
        f"rule {name!r} tests {test.attribute!r}, which [attributes] maps to no column: "
        "it gives nobody points here"
        for name, test in on_attributes.items()
        if test is not None and test.attribute not in mapping.attributes
    ]
    if mapping.last_activity is not None:
        header_name = column(mapping.last_activity.column)
        present = {
            norm(c) for c in (quality.cell(header_name, r.get(header_name)) for r in kept) if c
        }
        notes += [
            f"last_activity.labels: {label!r} matches no row of column {header_name!r}"
            + closest(norm(label), present)
            for label in mapping.last_activity.labels
            if norm(label) not in present
        ]
    return Dataset(
        origin=f"csv:{path}",
        criteria=tuple(c.name for c in spec.criteria),
        required=tuple(c.definition.required for c in spec.criteria),
        good_fit_min=spec.good_fit_min,
        rules=tuple(rule_names),
        points=tuple(r.points for r in spec.rules),
        leads=tuple(leads),
        decayed=False,
        cycle_days=0.0,
        quality=DataQuality(len(rows), skipped, columns, tuple(notes + examples)),
        measures=frozenset(mapping.measures),
        tested=tested_attributes(spec),
        aliases=spec.aliases,
    )
