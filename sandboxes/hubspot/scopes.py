"""Private-app scopes: which scope a call needs, and HubSpot's answer when the token lacks it.

A private app's token carries the scopes its admin ticked (Settings > Integrations > Private
Apps > Scopes). A call whose scope the token lacks is refused 403 ``MISSING_SCOPES``, the
scope named in ``errors[].context.requiredGranularScopes`` (any one of those listed is
enough). The sandbox checks the scopes of the APIs below, the ones LeadSync's sync, ``check``
and ``install`` depend on; other endpoints are served to any valid token.
"""

from __future__ import annotations

import re

from sandboxes.hubspot.http import ApiError

CONTACTS_READ = "crm.objects.contacts.read"
CONTACTS_WRITE = "crm.objects.contacts.write"
SCHEMAS_READ = "crm.schemas.contacts.read"
SCHEMAS_WRITE = "crm.schemas.contacts.write"
OWNERS_READ = "crm.objects.owners.read"
LISTS_READ = "crm.lists.read"
LISTS_WRITE = "crm.lists.write"
DEALS_READ = "crm.objects.deals.read"
DEALS_WRITE = "crm.objects.deals.write"

#: What a sandbox token carries unless a test asks for less.
ALL_SCOPES = frozenset(
    {
        CONTACTS_READ,
        CONTACTS_WRITE,
        SCHEMAS_READ,
        SCHEMAS_WRITE,
        OWNERS_READ,
        LISTS_READ,
        LISTS_WRITE,
        DEALS_READ,
        DEALS_WRITE,
        "crm.objects.companies.read",
        "forms",
        "content",
        "crm.objects.marketing_events.read",
    }
)

_CONTACTS = re.compile(r"^/crm/v3/objects/contacts(/|$)")
_DEALS = re.compile(r"^/crm/v3/objects/deals(/|$)")
_CONTACT_PROPERTIES = re.compile(r"^/crm/v3/properties/contacts(/|$)")
_LISTS = re.compile(r"^/crm/v3/lists(/|$)")
_OWNERS = re.compile(r"^/crm/v3/owners(/|$)")
#: POSTs that only read: search, and batch reads.
_READING_POST = re.compile(r"/(search|batch/read)$")


def required_scopes(method: str, path: str) -> tuple[str, ...]:
    """The scopes of which a call needs one; () when the sandbox checks none for it."""
    reads = method == "GET" or (method == "POST" and _READING_POST.search(path) is not None)
    if _CONTACTS.match(path):
        return (CONTACTS_READ,) if reads else (CONTACTS_WRITE,)
    if _DEALS.match(path):
        return (DEALS_READ,) if reads else (DEALS_WRITE,)
    if _CONTACT_PROPERTIES.match(path):
        return (SCHEMAS_READ,) if reads else (SCHEMAS_WRITE,)
    if _LISTS.match(path):
        # Reading lists is allowed to a token that may change them, as in HubSpot.
        return (LISTS_READ, LISTS_WRITE) if reads else (LISTS_WRITE,)
    if _OWNERS.match(path):
        return (OWNERS_READ,)
    return ()


def missing_scopes(required: tuple[str, ...]) -> ApiError:
    """HubSpot's 403 for a token with none of ``required``."""
    return ApiError(
        403,
        "MISSING_SCOPES",
        "This app hasn't been granted all required scopes to make this call. Read more about "
        "required scopes here: https://developers.hubspot.com/scopes.",
        extra={
            "errors": [
                {
                    "message": "One or more of the following scopes are required.",
                    "context": {"requiredGranularScopes": list(required)},
                }
            ],
            "links": {"scopes": "https://developers.hubspot.com/scopes"},
        },
    )
