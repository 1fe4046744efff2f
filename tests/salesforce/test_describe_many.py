"""Describes in a Composite call: a subrequest the org refuses stops with its own answer."""

from __future__ import annotations

import pytest
import responses

from connectors.salesforce.connector import SalesforceConnector
from leadsync.errors import FatalSyncError

from .conftest import API


def test_a_refused_describe_subrequest_keeps_the_orgs_answer(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    refused = [{"errorCode": "INSUFFICIENT_ACCESS", "message": "no access to Secret__c"}]
    rsps.add(
        responses.POST,
        f"{API}/composite",
        json={
            "compositeResponse": [
                {
                    "body": {"name": "Lead", "fields": []},
                    "httpStatusCode": 200,
                    "referenceId": "d0",
                },
                {"body": refused, "httpStatusCode": 403, "referenceId": "d1"},
            ]
        },
    )
    with pytest.raises(FatalSyncError, match=r"Secret__c.*403.*INSUFFICIENT_ACCESS") as caught:
        connector.client.describe_many(["Lead", "Secret__c"])
    assert caught.value.status == 403
    sent = rsps.calls[-1].request.body
    assert b'"url": "/services/data/v62.0/sobjects/Secret__c/describe"' in (sent or b"")
