"""Benchmark ``leadsync tune`` on generated history whose conversion drivers are known.

    python bench/tune.py                        # 10,000 leads, seeds 1-3
    python bench/tune.py --leads 3000 --seeds 1

For each seed: generate a lead history (``leadsync.tune.synthetic``: conversion driven by
industry = Manufacturing, the "Demo request" form and a little by the price sheet; blog views,
ebooks, email opens, country, size and seniority are noise), write it into a SQLite store the
way the engine does, read it back as tune does, and compare on the time-based hold-out (the
last three months of entries):

- ``tune``: the integer points and good-fit cut-off it suggests, ranked as the matrix ranks
  (good fit first, then score);
- reference: a plain logistic regression (scikit-learn defaults, C = 1, no cross-validation,
  no rounding) fitted inside this benchmark on the same features (ICP boxes, per-rule
  exposure, and one 0/1 column per categorical value tune may give points), ranked by its
  probability;
- the config tune started from: ``config.example.toml``'s default engagement points and the
  test ICP (four boxes, good_fit_min = 2).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from leadsync.config import settings_from_dict  # noqa: E402
from leadsync.report import leads_from_store  # noqa: E402
from leadsync.store import Store  # noqa: E402
from leadsync.tune import features, labels, suggest  # noqa: E402
from leadsync.tune.synthetic import generate, write_history  # noqa: E402
from leadsync.tune.value_points import extend, value_candidates  # noqa: E402

NOW = datetime(2025, 6, 1, tzinfo=UTC)
CONFIG: dict[str, Any] = {
    "icp": {
        "good_fit_min": 2,
        "criteria": [
            {"name": "Manufacturing", "attribute": "industry", "operator": "one_of",
             "values": ["Manufacturing"]},
            {"name": "UK or France", "attribute": "country", "operator": "one_of",
             "values": ["United Kingdom", "France"]},
            {"name": "Under 1,000 employees", "attribute": "employees", "operator": "below",
             "max": 1000},
            {"name": "Decision maker", "attribute": "seniority", "operator": "one_of",
             "values": ["C-Suite", "VP", "Director"]},
        ],
    },
    "engagement": {"sales_ready_threshold": 50},
}  # fmt: skip


def run(leads: int, seed: int, holdout_months: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'history.db'}"
        spec = settings_from_dict({**CONFIG, "store": {"url": url}}, "<bench>").model_spec()
        store = Store(url)
        started = time.perf_counter()
        write_history(store, generate(leads, seed, NOW), spec, seed)
        written = time.perf_counter() - started
        started = time.perf_counter()
        with store.reading() as conn:
            ds = leads_from_store(conn, spec, fit_source=None, cycle_days=90, now=NOW)
        store.close()
        read = time.perf_counter() - started
    started = time.perf_counter()
    found = suggest(ds, holdout_months)
    tuned = time.perf_counter() - started
    split = found.split
    values = value_candidates(ds, split.train)  # the columns tune's own fit sees
    train = extend(split.train, values, ds.aliases)
    test = extend(split.test, values, ds.aliases)
    reference = LogisticRegression(max_iter=2000).fit(features(train), labels(train))
    y_test = labels(test)
    reference_auc = float(roc_auc_score(y_test, reference.predict_proba(features(test))[:, 1]))
    tuned_points_by_score = found.suggested.score_auc
    return {
        "train": len(split.train),
        "test": len(split.test),
        "test_converted": int(np.sum(y_test)),
        "default_auc": found.current.auc or float("nan"),
        "default_score_auc": found.current.score_auc or float("nan"),
        "tune_auc": found.suggested.auc or float("nan"),
        "tune_score_auc": tuned_points_by_score or float("nan"),
        "tune_lr_auc": found.logistic_auc or float("nan"),
        "reference_auc": reference_auc,
        "good_fit_min": found.good_fit_min,
        "value_rules": sum(len(column.rules) for column in found.value_points),
        "write_s": written,
        "read_s": read,
        "tune_s": tuned,
        **{f"points[{name}]": p for name, p in zip(ds.rules, found.points, strict=True)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--holdout-months", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for seed in range(1, args.seeds + 1):
        row = run(args.leads, seed, args.holdout_months)
        rows.append(row)
        print(
            f"seed {seed}: {row['train']} train / {row['test']} hold-out "
            f"({row['test_converted']} converted); hold-out AUC: default config "
            f"{row['default_auc']:.3f} (score only {row['default_score_auc']:.3f}), tune "
            f"{row['tune_auc']:.3f} (score only {row['tune_score_auc']:.3f}, good_fit_min "
            f"{row['good_fit_min']}, {row['value_rules']} per-value rules), tune's own "
            f"regression {row['tune_lr_auc']:.3f}, reference logistic regression "
            f"{row['reference_auc']:.3f}; write "
            f"{row['write_s']:.1f} s, read {row['read_s']:.1f} s, tune {row['tune_s']:.1f} s"
        )
        print(
            "  points: "
            + ", ".join(f"{k[7:-1]} {v}" for k, v in row.items() if k.startswith("points["))
        )
    for key in ("default_auc", "tune_auc", "tune_lr_auc", "reference_auc"):
        values = [r[key] for r in rows]
        print(f"mean {key}: {np.mean(values):.3f} (min {min(values):.3f}, max {max(values):.3f})")


if __name__ == "__main__":
    main()
