"""An ICP box's or attribute rule's value the data never holds ("admin" where the data says
"admin."), and a tested attribute no record carries: each checks nobody, silently, so the
report and tune say so, with the nearest value the data has.

Only ``one_of``/``none_of`` tests name values. The account roll-up is made by LeadSync, never
held by the data; so are derived attributes (seniority, department, email domain) where the
data does not carry them itself (``derived``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping

from leadsync.model import ModelSpec
from leadsync.model.fit import Criterion
from leadsync.model.reading import norm, read_texts

#: Where the data holds an attribute, as a note says it ("row of column 'Industry'"); ``None``
#: when the data has no place for it at all (an export's unmapped attribute).
Place = Callable[[str], str | None]


def values_matching_nothing(
    spec: ModelSpec,
    cells: Mapping[str, Iterable[object]],
    place: Place,
    derived: frozenset[str] = frozenset(),
) -> list[str]:
    """One note per box or attribute-rule value no cell of its attribute holds (``cells``:
    attribute -> the data's raw values, of any type), with the nearest value the data has."""
    notes = []
    for criterion, what in _tests(spec, derived):
        definition = criterion.definition
        where = place(definition.attribute)
        if where is None:
            continue
        held = _held(criterion, cells.get(definition.attribute, ()))
        for value in definition.values:
            key = criterion.aliases.get(norm(value), norm(value))
            if key not in held:
                notes.append(
                    f"{what} {definition.name!r}: {value!r} matches no {where}" + closest(key, held)
                )
    return notes


def attributes_held_by_nobody(
    spec: ModelSpec,
    cells: Mapping[str, Iterable[object]],
    what_holds: str,
    derived: frozenset[str] = frozenset(),
) -> list[str]:
    """One note per attribute a box or attribute rule names values of that no record holds
    (``what_holds``: "no record in the store holds it")."""
    notes = []
    for criterion, what in _tests(spec, derived):
        definition = criterion.definition
        if not _held(criterion, cells.get(definition.attribute, ())):
            notes.append(
                f"{what} {definition.name!r} tests {definition.attribute!r}, but {what_holds}: "
                "it checks nobody (is the field mapped and spelled as the mapping names it?)"
            )
    return notes


def value_tested(spec: ModelSpec, derived: frozenset[str] = frozenset()) -> frozenset[str]:
    """The attributes whose values some box or attribute rule names."""
    return frozenset(criterion.definition.attribute for criterion, _ in _tests(spec, derived))


def closest(value: str, held: set[str]) -> str:
    near = difflib.get_close_matches(value, sorted(held), n=1, cutoff=0.75)
    return f" (the data has {near[0]!r})" if near else ""


def attribute_tests(spec: ModelSpec) -> list[tuple[Criterion, str]]:
    """Every test of a person's data: the ICP boxes ("box") and the attribute rules ("rule")."""
    return [(criterion, "box") for criterion in spec.criteria] + [
        (rule.attribute_test, "rule")
        for rule in spec.rule_index.attribute_rules
        if rule.attribute_test is not None
    ]


def _tests(spec: ModelSpec, derived: frozenset[str]) -> list[tuple[Criterion, str]]:
    """Boxes and attribute rules that name values of an attribute the data holds."""
    return [
        (criterion, what)
        for criterion, what in attribute_tests(spec)
        if criterion.definition.operator in ("one_of", "none_of")
        and criterion.definition.attribute not in derived
        and not criterion.definition.attribute.startswith("account_")
    ]


def _held(criterion: Criterion, cells: Iterable[object]) -> set[str]:
    held: set[str] = set()
    for cell in cells:
        texts = read_texts(cell)
        if isinstance(texts, tuple):
            held.update(criterion.aliases.get(t, t) for t in texts)
    return held
