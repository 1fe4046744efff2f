"""Property and group edits (PATCH, DELETE) through the official client, as HubSpot answers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hubspot import HubSpot
from hubspot.crm.properties import ApiException, PropertyGroupUpdate, PropertyUpdate

from sandboxes.hubspot import HubSpotSandbox, generate_portal
from tests.hubspot_sandbox.conftest import NOW


@pytest.fixture
def api() -> Iterator[HubSpot]:
    with HubSpotSandbox(generate_portal(10, seed=4, now=NOW)) as sb:
        yield HubSpot(access_token=sb.access_token, host=sb.url)


def test_patching_options_replaces_them_all(api: HubSpot) -> None:
    core = api.crm.properties.core_api
    update = PropertyUpdate(
        options=[
            {"label": "Sales", "value": "sales", "displayOrder": 0, "hidden": False},
            {"label": "Partners", "value": "partners", "displayOrder": 1, "hidden": False},
        ]
    )
    core.update("contacts", "leadsync_team", update)
    options = core.get_by_name("contacts", "leadsync_team").options
    assert [(o.value, o.label) for o in options] == [("sales", "Sales"), ("partners", "Partners")]
    with pytest.raises(ApiException) as refused:
        core.update("contacts", "leadsync_team", PropertyUpdate(options=[]))
    assert refused.value.status == 400


def test_a_group_goes_only_once_its_properties_are_archived(api: HubSpot) -> None:
    groups, core = api.crm.properties.groups_api, api.crm.properties.core_api
    groups.update("contacts", "leadsync", PropertyGroupUpdate(label="Lead scoring"))
    assert groups.get_by_name("contacts", "leadsync").label == "Lead scoring"
    with pytest.raises(ApiException) as refused:
        groups.archive("contacts", "leadsync")
    assert refused.value.status == 400
    assert "leadsync_fit" in json.loads(refused.value.body)["message"]
    for prop in core.get_all("contacts").results:
        if prop.group_name == "leadsync":
            core.archive("contacts", prop.name)
    assert "leadsync_fit" not in {p.name for p in core.get_all("contacts").results}
    groups.archive("contacts", "leadsync")
    assert "leadsync" not in {g.name for g in groups.get_all("contacts").results}
    with pytest.raises(ApiException) as gone:
        core.archive("contacts", "leadsync_fit")
    assert gone.value.status == 404
