"""An HTTPS emulator of the Salesforce REST API subset LeadSync uses, with a generated org.

    from sandboxes.salesforce import SalesforceSandbox, generate_org

    org = generate_org(leads=5000, seed=7)
    with SalesforceSandbox(org) as sb:       # sb.url, sb.ca_file, sb.client_id, ...
        ...

Strict where the real API is strict: 200-record Collections, 2,000-row query pages, field
validation with the API's error codes, session expiry, daily API limits. Two org behaviours
worth knowing:

* an active Lead assignment rule routes every Lead saved through REST or Collections to the
  "Sales Queue" unless the request carries ``Sforce-Auto-Assign: FALSE`` (Bulk API 2.0 ingest
  runs it only when the job names an ``assignmentRuleId``), as a real org's default rule does;
* validation rules: a Lead under ``Legal_Hold__c`` cannot be edited, and Status
  'Closed - Converted' cannot be set directly (FIELD_CUSTOM_VALIDATION_EXCEPTION); a converted
  Lead answers CANNOT_UPDATE_CONVERTED_LEAD.

As strict as an org about field-level security: a field created through the Tooling API is
granted by no profile, so describe, SOQL (REST and Bulk) and writes treat it as missing for
the API user until a ``FieldPermissions`` row of a ``PermissionSet`` assigned to it grants it
(``security``); the security sObjects, the Metadata API's ListView CRUD (SOAP, ``metadata``)
and the list view resources (``listviews``) are served as the real API serves them.

``GET /_sandbox/stats`` counts calls by endpoint and ``POST /_sandbox/faults`` injects faults;
neither needs auth nor counts as API usage.
"""

from sandboxes.salesforce.generator import generate_org
from sandboxes.salesforce.org import OrgState, ValidationRule
from sandboxes.salesforce.serve import serve
from sandboxes.salesforce.server import SalesforceSandbox

__all__ = ["OrgState", "SalesforceSandbox", "ValidationRule", "generate_org", "serve"]
