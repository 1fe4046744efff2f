"""``leadsync report``: does the model work? Matrix cells per month and how they convert,
what each ICP box and engagement rule says about conversion, where poor-fit leads come from,
hand-raisers against other sales-ready leads, and the recycle flow; from the store or from a
CRM report export.
"""

from leadsync.report.build import CONVERSION_CSV, report_document
from leadsync.report.csv_source import CsvMapping, leads_from_csv, load_csv_mapping
from leadsync.report.dataset import DataQuality, Dataset, Lead, leads_from_store
from leadsync.report.stats import Lift, Share, lift, share

__all__ = [
    "CONVERSION_CSV",
    "CsvMapping",
    "DataQuality",
    "Dataset",
    "Lead",
    "Lift",
    "Share",
    "leads_from_csv",
    "leads_from_store",
    "lift",
    "load_csv_mapping",
    "report_document",
    "share",
]
