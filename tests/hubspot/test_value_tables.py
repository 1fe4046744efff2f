"""``[values.*]`` in the HubSpot mapping: loading, translating writes, checking options.

Generated portals and tables: whatever options a property has and whatever a table names,
check reports exactly the LeadSync values whose written option the property lacks, and a
write sends exactly the option the table names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.hubspot.mapping import (
    CANONICAL_VALUES,
    HubSpotMapping,
    load_mapping,
    output_properties,
)
from connectors.hubspot.properties import check_against
from leadsync.errors import ConfigError
from mappings import default_mapping_path

SHIPPED = load_mapping(default_mapping_path("hubspot"))
OPTION = st.text(st.characters(codec="ascii", categories=("L", "N", "Zs", "Pd")), min_size=1)


def with_tables(tables: dict[str, dict[str, str]]) -> HubSpotMapping:
    data = SHIPPED.model_dump()
    data["values"] = tables
    return HubSpotMapping.model_validate(data)


def portal_properties(
    mapping: HubSpotMapping, offered: dict[str, list[str]]
) -> dict[str, dict[str, Any]]:
    """Every property the mapping reads, with ``offered`` options on the enumerations."""
    contacts: dict[str, dict[str, Any]] = {
        p: {"name": p, "type": "string"} for p in mapping.read_properties()
    }
    contacts[mapping.contact.modified] = {"name": mapping.contact.modified, "type": "datetime"}
    contacts[mapping.contact.converted_at] = {"name": "x", "type": "datetime"}
    contacts[mapping.contact.opted_out] = {"name": "o", "type": "bool"}
    for name, out in mapping.outputs.items():
        options = [{"value": v, "label": v} for v in offered.get(name, [])]
        contacts[out.property] = {"name": out.property, "type": out.type, "options": options}
    return contacts


@given(
    st.fixed_dictionaries(
        {
            name: st.fixed_dictionaries({v: OPTION.filter(str.strip) for v in values})
            for name, values in CANONICAL_VALUES.items()
        }
    ),
    st.data(),
)
def test_check_names_exactly_the_values_without_an_option(
    tables: dict[str, dict[str, str]], data: st.DataObject
) -> None:
    mapping = with_tables(tables)
    offered = {
        name: data.draw(st.lists(st.sampled_from(sorted(set(table.values())) or ["x"])))
        + data.draw(st.lists(OPTION, max_size=2))
        for name, table in tables.items()
    }
    tasks = {"leadsync_key": {"name": "leadsync_key", "hasUniqueValue": True}}
    problems = [p for p in check_against(mapping, portal_properties(mapping, offered), tasks)]
    reported = {
        (name, canonical)
        for name, table in tables.items()
        for canonical in table
        for p in problems
        if p.field == mapping.outputs[name].property and f"{name} = {canonical} " in p.problem
    }
    lacking = {
        (name, canonical)
        for name, table in tables.items()
        for canonical, value in table.items()
        if value not in offered[name]
    }
    assert reported == lacking
    for name, table in tables.items():
        for canonical, value in table.items():
            written = output_properties({name: canonical}, mapping)
            assert written == {mapping.outputs[name].property: value}


GOOD = 'good = { value = "good", label = "Good" }'


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (("[values.fit]", '[values.score]\nlow = "Low"\n\n[values.fit]'), "not an enumeration"),
        ((GOOD, 'great = "Great"'), "LeadSync never writes 'great'"),
        ((GOOD, 'good = ""'), "an option value cannot be empty"),
    ],
)
def test_a_table_that_cannot_work_is_refused_at_load(
    tmp_path: Path, edit: tuple[str, str], says: str
) -> None:
    path = tmp_path / "hubspot.toml"
    text = default_mapping_path("hubspot").read_text()
    assert edit[0] in text
    path.write_text(text.replace(edit[0], edit[1]))
    with pytest.raises(ConfigError) as info:
        load_mapping(path)
    text = "\n".join(info.value.problems)
    assert str(path) in text and says in text


def test_the_older_options_list_still_loads_as_an_identity_table(tmp_path: Path) -> None:
    path = tmp_path / "hubspot.toml"
    path.write_text(
        'group = "leadsync"\n[outputs.fit]\nproperty = "leadsync_fit"\nlabel = "Fit"\n'
        'type = "enumeration"\noptions = ["good", "poor"]\n'
    )
    mapping = load_mapping(path)
    assert output_properties({"fit": "poor"}, mapping) == {"leadsync_fit": "poor"}
    assert [o.label for o in mapping.option_table("fit").values()] == ["Good", "Poor"]
