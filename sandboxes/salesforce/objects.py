"""The objects and fields of the sandbox org (standard, custom, and LeadSync's outputs)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sandboxes.salesforce.schema import FieldDef, ObjectDef
from sandboxes.salesforce.security import security_objects


def _f(name: str, type_: str, label: str = "", **kw: Any) -> FieldDef:
    if type_ in ("string", "textarea", "email", "url", "phone") and "length" not in kw:
        kw["length"] = {"textarea": 32000, "email": 80, "url": 255, "phone": 40}.get(type_, 255)
    if type_ == "picklist" and "length" not in kw:
        kw["length"] = 255
    if type_ in ("id", "reference"):
        kw.setdefault("length", 18)
    return FieldDef(name, type_, label or name, **kw)


def _system(owner_to: tuple[str, ...] = ("User",)) -> list[FieldDef]:
    readonly = {"createable": False, "updateable": False}
    return [
        _f("Id", "id", "Record ID", nillable=False, **readonly),
        _f("IsDeleted", "boolean", "Deleted", nillable=False, **readonly),
        _f(
            "OwnerId",
            "reference",
            "Owner ID",
            nillable=False,
            reference_to=owner_to,
            relationship_name="Owner",
        ),
        _f("CreatedDate", "datetime", "Created Date", nillable=False, **readonly),
        _f(
            "CreatedById",
            "reference",
            "Created By ID",
            reference_to=("User",),
            relationship_name="CreatedBy",
            nillable=False,
            **readonly,
        ),
        _f("LastModifiedDate", "datetime", "Last Modified Date", nillable=False, **readonly),
        _f(
            "LastModifiedById",
            "reference",
            "Last Modified By ID",
            reference_to=("User",),
            relationship_name="LastModifiedBy",
            nillable=False,
            **readonly,
        ),
        _f("SystemModstamp", "datetime", "System Modstamp", nillable=False, **readonly),
    ]


LEAD_STATUSES = (
    "Open - Not Contacted",
    "Working - Contacted",
    "Nurture",
    "Recycled",
    "Unqualified",
    "Closed - Converted",
)
OWNERSHIP = ("Public", "Private", "Subsidiary", "Other")
INDUSTRIES = (
    "Agriculture",
    "Apparel",
    "Banking",
    "Biotechnology",
    "Chemicals",
    "Communications",
    "Construction",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Entertainment",
    "Finance",
    "Healthcare",
    "Hospitality",
    "Insurance",
    "Manufacturing",
    "Media",
    "Retail",
    "Software",
    "Technology",
    "Telecommunications",
    "Transportation",
    "Utilities",
    "Other",
)
LEAD_SOURCES = (
    "Web",
    "Phone Inquiry",
    "Partner Referral",
    "Purchased List",
    "Trade Show",
    "Webinar",
    "Content",
    "Other",
)
#: The default sales process's stages: (stage, closed, won), as OpportunityStage holds them.
OPPORTUNITY_STAGES = (
    ("Prospecting", False, False),
    ("Qualification", False, False),
    ("Needs Analysis", False, False),
    ("Value Proposition", False, False),
    ("Id. Decision Makers", False, False),
    ("Perception Analysis", False, False),
    ("Proposal/Price Quote", False, False),
    ("Negotiation/Review", False, False),
    ("Closed Won", True, True),
    ("Closed Lost", True, False),
)
CONTACT_ROLES = (
    "Business User",
    "Decision Maker",
    "Economic Buyer",
    "Economic Decision Maker",
    "Evaluator",
    "Executive Sponsor",
    "Influencer",
    "Technical Buyer",
    "Other",
)
CAMPAIGN_TYPES = ("Webinar", "Email", "Content", "Event", "Website", "Advertisement")
MEMBER_STATUSES = (
    "Sent",
    "Responded",
    "Registered",
    "Attended",
    "Downloaded",
    "Submitted",
    "Opened",
    "Clicked",
    "Unsubscribed",
)


def output_fields() -> list[FieldDef]:
    """LeadSync's output custom fields on Lead and Contact."""
    return [
        _f(
            "LeadSync_Fit__c",
            "picklist",
            "LeadSync Fit",
            custom=True,
            picklist=("Good", "Poor"),
            restricted=True,
        ),
        _f("LeadSync_Score__c", "double", "LeadSync Score", custom=True, precision=6, scale=0),
        _f(
            "LeadSync_Readiness__c",
            "picklist",
            "LeadSync Readiness",
            custom=True,
            picklist=("Hand-raiser", "Sales-ready", "Unready", "Do not contact"),
            restricted=True,
        ),
        _f(
            "LeadSync_Team__c",
            "picklist",
            "LeadSync Team",
            custom=True,
            picklist=("Sales", "Marketing"),
            restricted=True,
        ),
        _f("LeadSync_Reason__c", "string", "LeadSync Reason", custom=True, length=255),
        _f("LeadSync_Scored_At__c", "datetime", "LeadSync Scored At", custom=True),
        _f(
            "LeadSync_Recycle_Count__c",
            "double",
            "LeadSync Recycle Count",
            custom=True,
            precision=18,
            scale=0,
        ),
        _f(
            "LeadSync_Recycle_Reason__c",
            "string",
            "LeadSync Recycle Reason",
            custom=True,
            length=255,
        ),
        _f(
            "LeadSync_Account_Score__c",
            "double",
            "LeadSync Account Score",
            custom=True,
            precision=18,
            scale=0,
        ),
        _f(
            "LeadSync_Engaged_People__c",
            "double",
            "LeadSync Engaged People",
            custom=True,
            precision=18,
            scale=0,
        ),
    ]


CONTACT_STATUS_FIELD = _f(
    "Contact_Status__c",
    "picklist",
    "Contact Status",
    custom=True,
    picklist=LEAD_STATUSES,
    restricted=True,
)


TASK_KEY_FIELD = _f(
    "LeadSync_Key__c",
    "string",
    "LeadSync Key",
    length=80,
    custom=True,
    external_id=True,
    unique=True,
)


def build_schema(with_output_fields: bool) -> dict[str, ObjectDef]:
    """Every object of the sandbox org. ``with_output_fields`` adds LeadSync's custom fields."""
    ro = {"createable": False, "updateable": False}
    person = [
        _f("FirstName", "string", "First Name", length=40),
        _f("LastName", "string", "Last Name", length=80, nillable=False),
        _f("Name", "string", "Full Name", length=121, **ro),
        _f("Email", "email", "Email"),
        _f("Title", "string", "Title", length=128),
        _f("LeadSource", "picklist", "Lead Source", picklist=LEAD_SOURCES),
        _f("HasOptedOutOfEmail", "boolean", "Email Opt Out", nillable=False, default=False),
        _f("MasterRecordId", "reference", "Master Record ID", **ro),
    ]
    lead = (
        _system(("User", "Group"))
        + person
        + [
            _f("Company", "string", "Company", nillable=False),
            _f("Industry", "picklist", "Industry", picklist=INDUSTRIES),
            _f("NumberOfEmployees", "int", "Employees", precision=8),
            _f("AnnualRevenue", "currency", "Annual Revenue", precision=18, scale=0),
            _f("Country", "string", "Country", length=80),
            _f("State", "string", "State/Province", length=80),
            _f("City", "string", "City", length=40),
            _f("Website", "url", "Website"),
            _f(
                "Status",
                "picklist",
                "Lead Status",
                picklist=LEAD_STATUSES,
                nillable=False,
                default="Open - Not Contacted",
            ),
            _f("IsConverted", "boolean", "Converted", nillable=False, **ro),
            _f("ConvertedDate", "date", "Converted Date", **ro),
            _f(
                "ConvertedContactId",
                "reference",
                "Converted Contact ID",
                reference_to=("Contact",),
                relationship_name="ConvertedContact",
                **ro,
            ),
            _f(
                "ConvertedAccountId",
                "reference",
                "Converted Account ID",
                reference_to=("Account",),
                relationship_name="ConvertedAccount",
                **ro,
            ),
            _f(
                "ConvertedOpportunityId",
                "reference",
                "Converted Opportunity ID",
                reference_to=("Opportunity",),
                relationship_name="ConvertedOpportunity",
                **ro,
            ),
            _f(
                "Ownership__c",
                "picklist",
                "Ownership",
                custom=True,
                picklist=OWNERSHIP,
                restricted=True,
            ),
            _f(
                "Legal_Hold__c", "boolean", "Legal Hold", custom=True, nillable=False, default=False
            ),
        ]
    )
    for item in lead:
        if item.name == "MasterRecordId":
            lead[lead.index(item)] = replace(
                item, reference_to=("Lead",), relationship_name="MasterRecord"
            )
    contact = (
        _system()
        + person
        + [
            _f(
                "AccountId",
                "reference",
                "Account ID",
                reference_to=("Account",),
                relationship_name="Account",
            ),
            _f("MailingCountry", "string", "Mailing Country", length=80),
            _f("MailingState", "string", "Mailing State/Province", length=80),
            _f("MailingCity", "string", "Mailing City", length=40),
        ]
    )
    contact = [
        replace(c, reference_to=("Contact",), relationship_name="MasterRecord")
        if c.name == "MasterRecordId"
        else c
        for c in contact
    ]
    if with_output_fields:
        lead += output_fields()
        # Contacts have no standard status: `leadsync fields create` makes this picklist of
        # the Lead Status values for the mapping's objects.Contact.status.
        contact += [*output_fields(), CONTACT_STATUS_FIELD]
    account = [
        *_system(),
        _f("Name", "string", "Account Name", nillable=False),
        _f("Website", "url", "Website"),
        _f("Industry", "picklist", "Industry", picklist=INDUSTRIES),
        _f("NumberOfEmployees", "int", "Employees", precision=8),
        _f("AnnualRevenue", "currency", "Annual Revenue", precision=18, scale=0),
        _f("BillingCountry", "string", "Billing Country", length=80),
        _f("BillingState", "string", "Billing State/Province", length=80),
        _f("Ownership", "picklist", "Ownership", picklist=OWNERSHIP),
    ]
    user = [
        *(f for f in _system() if f.name != "OwnerId"),
        _f("Username", "string", "Username", length=80, nillable=False),
        _f("FirstName", "string", "First Name", length=40),
        _f("LastName", "string", "Last Name", length=80, nillable=False),
        _f("Name", "string", "Full Name", length=121, **ro),
        _f("Email", "email", "Email", nillable=False),
        _f("IsActive", "boolean", "Active", nillable=False, default=True),
        _f(
            "UserType",
            "picklist",
            "User Type",
            nillable=False,
            default="Standard",
            picklist=("Standard", "AutomatedProcess", "CsnOnly", "PowerPartner", "Guest"),
            updateable=False,
        ),
        _f("Title", "string", "Title", length=80),
        _f("Department", "string", "Department", length=80),
        _f("UserRoleId", "reference", "Role ID", reference_to=("UserRole",)),
        _f(
            "ManagerId",
            "reference",
            "Manager ID",
            reference_to=("User",),
            relationship_name="Manager",
        ),
    ]
    group = [
        *(f for f in _system() if f.name != "OwnerId"),
        _f("Name", "string", "Name", length=40, nillable=False),
        _f("DeveloperName", "string", "Developer Name", length=80, nillable=False),
        _f("Type", "picklist", "Type", picklist=("Queue", "Regular", "Role"), restricted=True),
        _f("Email", "email", "Email"),
    ]
    queue_sobject = [
        *(f for f in _system() if f.name != "OwnerId"),
        _f("QueueId", "reference", "Group ID", reference_to=("Group",), relationship_name="Queue"),
        _f("SobjectType", "picklist", "Sobject Type", picklist=("Lead", "Case", "Task")),
    ]
    campaign = [
        *_system(),
        _f("Name", "string", "Campaign Name", length=80, nillable=False),
        _f("Type", "picklist", "Type", picklist=CAMPAIGN_TYPES),
        _f(
            "Status",
            "picklist",
            "Status",
            picklist=("Planned", "In Progress", "Completed", "Aborted"),
        ),
        _f("IsActive", "boolean", "Active", nillable=False, default=False),
        _f("StartDate", "date", "Start Date"),
    ]
    member = [
        *(f for f in _system() if f.name != "OwnerId"),
        _f(
            "CampaignId",
            "reference",
            "Campaign ID",
            reference_to=("Campaign",),
            relationship_name="Campaign",
            nillable=False,
            updateable=False,
        ),
        _f(
            "LeadId",
            "reference",
            "Lead ID",
            reference_to=("Lead",),
            relationship_name="Lead",
            updateable=False,
        ),
        _f(
            "ContactId",
            "reference",
            "Contact ID",
            reference_to=("Contact",),
            relationship_name="Contact",
            updateable=False,
        ),
        _f("Status", "picklist", "Status", picklist=MEMBER_STATUSES),
        _f("HasResponded", "boolean", "Responded", nillable=False, **ro),
        _f("FirstRespondedDate", "date", "First Responded Date", **ro),
        # The lead's or contact's email, copied by Salesforce; read-only on the member.
        _f("Email", "email", "Email", **ro),
    ]
    member_status = [
        *(f for f in _system() if f.name != "OwnerId"),
        _f(
            "CampaignId",
            "reference",
            "Campaign ID",
            reference_to=("Campaign",),
            relationship_name="Campaign",
            updateable=False,
        ),
        _f("Label", "string", "Member Status", length=765),
        _f("HasResponded", "boolean", "Responded", nillable=False, default=False),
        _f("IsDefault", "boolean", "Default", nillable=False, default=False),
        _f("SortOrder", "int", "Sort Order"),
    ]
    activity = [
        _f(
            "WhoId",
            "reference",
            "Name ID",
            reference_to=("Lead", "Contact"),
            relationship_name="Who",
        ),
        _f("Subject", "string", "Subject"),
        _f("Description", "textarea", "Description"),
    ]
    task = (
        _system()
        + activity
        + [
            _f("Type", "picklist", "Type", picklist=("Call", "Email", "Meeting", "Other")),
            _f(
                "TaskSubtype",
                "picklist",
                "Task Subtype",
                picklist=("Task", "Email", "Call"),
                updateable=False,
            ),
            _f(
                "Status",
                "picklist",
                "Status",
                nillable=False,
                default="Not Started",
                picklist=(
                    "Not Started",
                    "In Progress",
                    "Completed",
                    "Waiting on someone else",
                    "Deferred",
                ),
            ),
            _f(
                "Priority",
                "picklist",
                "Priority",
                nillable=False,
                default="Normal",
                picklist=("High", "Normal", "Low"),
            ),
            # Set by Salesforce when the task is closed (documented on Task since API 46.0).
            _f("CompletedDateTime", "datetime", "Completed Date/Time", **ro),
            _f("IsReminderSet", "boolean", "Reminder Set", nillable=False, default=False),
            _f("ReminderDateTime", "datetime", "Reminder Date/Time"),
            _f("ActivityDate", "date", "Due Date Only"),
            _f("IsClosed", "boolean", "Closed", nillable=False, **ro),
        ]
    )
    if with_output_fields:
        task.append(TASK_KEY_FIELD)
    event = (
        _system()
        + activity
        + [
            _f("Type", "picklist", "Type", picklist=("Call", "Email", "Meeting", "Other")),
            _f("StartDateTime", "datetime", "Start Date Time"),
            _f("EndDateTime", "datetime", "End Date Time"),
            _f("ActivityDateTime", "datetime", "Due Date Time"),
        ]
    )
    form = [
        *_system(),
        _f("Name", "string", "Submission Number", length=80, **ro),
        _f("Email__c", "email", "Email", custom=True),
        _f("Form_Name__c", "string", "Form Name", custom=True, length=120),
        _f("Page_URL__c", "url", "Page URL", custom=True),
        _f(
            "Lead__c",
            "reference",
            "Lead",
            custom=True,
            reference_to=("Lead",),
            relationship_name="Lead__r",
        ),
        _f(
            "Contact__c",
            "reference",
            "Contact",
            custom=True,
            reference_to=("Contact",),
            relationship_name="Contact__r",
        ),
        _f("Submitted_At__c", "datetime", "Submitted At", custom=True),
    ]
    opportunity = [
        *_system(),
        _f("Name", "string", "Name", length=120, nillable=False),
        _f(
            "AccountId",
            "reference",
            "Account ID",
            reference_to=("Account",),
            relationship_name="Account",
        ),
        _f(
            "StageName",
            "picklist",
            "Stage",
            picklist=tuple(stage for stage, _, _ in OPPORTUNITY_STAGES),
            nillable=False,
        ),
        _f("CloseDate", "date", "Close Date", nillable=False),
        _f("Amount", "currency", "Amount", precision=18, scale=2),
        # Read-only, set from the stage (OpportunityStage.IsClosed / IsWon).
        _f("IsClosed", "boolean", "Closed", nillable=False, **ro),
        _f("IsWon", "boolean", "Won", nillable=False, **ro),
    ]
    contact_role = [
        *(f for f in _system() if f.name != "OwnerId"),
        _f(
            "OpportunityId",
            "reference",
            "Opportunity ID",
            reference_to=("Opportunity",),
            relationship_name="Opportunity",
            nillable=False,
            updateable=False,
        ),
        _f(
            "ContactId",
            "reference",
            "Contact ID",
            reference_to=("Contact",),
            relationship_name="Contact",
            nillable=False,
        ),
        _f("Role", "picklist", "Role", picklist=CONTACT_ROLES),
        _f("IsPrimary", "boolean", "Primary", nillable=False, default=False),
    ]
    defs = [
        ObjectDef("User", "005", "User", {f.name: f for f in user}),
        ObjectDef("Group", "00G", "Group", {f.name: f for f in group}),
        ObjectDef("QueueSobject", "03g", "Queue Sobject", {f.name: f for f in queue_sobject}),
        ObjectDef("Account", "001", "Account", {f.name: f for f in account}),
        ObjectDef("Lead", "00Q", "Lead", {f.name: f for f in lead}),
        ObjectDef("Contact", "003", "Contact", {f.name: f for f in contact}),
        ObjectDef("Opportunity", "006", "Opportunity", {f.name: f for f in opportunity}),
        ObjectDef(
            "OpportunityContactRole",
            "00K",
            "Opportunity Contact Role",
            {f.name: f for f in contact_role},
        ),
        ObjectDef("Campaign", "701", "Campaign", {f.name: f for f in campaign}),
        ObjectDef("CampaignMember", "00v", "Campaign Member", {f.name: f for f in member}),
        ObjectDef(
            "CampaignMemberStatus",
            "01Y",
            "Campaign Member Status",
            {f.name: f for f in member_status},
        ),
        ObjectDef("Task", "00T", "Task", {f.name: f for f in task}),
        ObjectDef("Event", "00U", "Event", {f.name: f for f in event}),
        ObjectDef(
            "Form_Submission__c", "a0F", "Form Submission", {f.name: f for f in form}, custom=True
        ),
        *security_objects(),
    ]
    return {d.name: d for d in defs}
