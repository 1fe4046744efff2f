"""The private app's access: the scopes LeadSync needs, against those its token carries.

HubSpot grants an integration what its private app's scopes say (Settings > Integrations >
Private Apps > the app > Scopes); there is no per-field grant to check through the API. The
token's scopes are read from ``POST /oauth/v2/private-apps/get/access-token-info``, so
``check`` names each missing scope before a sync or an install is refused with
``MISSING_SCOPES``.
"""

from __future__ import annotations

from connectors.hubspot.client import HubSpotClient
from leadsync.errors import AuthError, FatalSyncError
from leadsync.records import CheckProblem

#: Scope -> what LeadSync cannot do without it.
NEEDED_SCOPES: dict[str, str] = {
    "crm.objects.contacts.read": "read contacts, so no mapped input can be read",
    "crm.objects.contacts.write": (
        "update contacts, so no output (fit, score, readiness ...), owner or status is written"
    ),
    "crm.schemas.contacts.read": "read contact properties (`leadsync check`, describe)",
    "crm.schemas.contacts.write": (
        "create LeadSync's properties and options (`leadsync fields create`, `install`)"
    ),
    "crm.objects.owners.read": "read owners, so hand-off cannot check whom it assigns",
    "crm.lists.read": "read lists, so nurture lists cannot be checked",
    "crm.lists.write": (
        "change lists, so recycled contacts cannot join nurture lists and `install` cannot "
        "make marketing's lists"
    ),
}

_WHERE = "Settings > Integrations > Private Apps > the LeadSync app > Scopes"


#: Needed only when the mapping counts won deals as conversions (``[conversion]``).
WON_DEAL_SCOPES: dict[str, str] = {
    "crm.objects.deals.read": (
        "read deals, so the won deals [conversion] won_deal_stages names cannot date conversions"
    ),
}


def check_scopes(client: HubSpotClient, won_deals: bool = False) -> list[CheckProblem]:
    """One problem per scope LeadSync needs that the token lacks, naming the fix; the deals
    scope too when ``won_deals`` (the mapping's ``won_deal_stages``) is on."""
    try:
        granted = client.token_scopes()
    except AuthError:
        raise
    except FatalSyncError as exc:
        return [
            CheckProblem(
                "private app",
                "scopes",
                f"HubSpot did not tell the token's scopes ({exc})",
                f"check access_token is a private-app token; its scopes are in {_WHERE}",
            )
        ]
    return [
        CheckProblem(
            "private app",
            scope,
            f"the token lacks the {scope} scope: LeadSync cannot {why}",
            f"tick {scope} in {_WHERE}, save, and keep the app's access token in "
            "[connectors.hubspot] access_token",
        )
        for scope, why in {**NEEDED_SCOPES, **(WON_DEAL_SCOPES if won_deals else {})}.items()
        if scope not in granted
    ]
