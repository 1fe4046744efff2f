"""``leadsync tune``: points per engagement rule and the ICP checklist (boxes kept, dropped or
required, and the good-fit cut-off) suggested from history (an L2 logistic regression mapped
back to integer points; the checklist searched box by box), checked on a hold-out (the latest
months, or a stated stratified random share) against the current config, and written as a
config diff for review; never applied.
"""

from leadsync.tune.diff import Proposal, review_file, snippet, suggested_text, unified_diff
from leadsync.tune.fitting import (
    Split,
    Suggestion,
    split_history,
    stratified_split,
    suggest,
    time_split,
)
from leadsync.tune.regression import (
    Evaluation,
    LogisticFit,
    evaluate,
    features,
    fit_logistic,
    labels,
    to_points,
)

__all__ = [
    "Evaluation",
    "LogisticFit",
    "Proposal",
    "Split",
    "Suggestion",
    "evaluate",
    "features",
    "fit_logistic",
    "labels",
    "review_file",
    "snippet",
    "split_history",
    "stratified_split",
    "suggest",
    "suggested_text",
    "time_split",
    "to_points",
    "unified_diff",
]
