"""Per-collector and per-error-kind metrics: one EMF record per dimension set, named as the
dashboard's SEARCH expressions expect."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from job_alerts.monitor import RunSummary
from job_alerts.service import emit_dimensioned_metrics


def test_emit_dimensioned_metrics_one_record_per_collector_and_kind(capsys, monkeypatch) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    # Given a run that judged two collectors and met two kinds of API errors
    summary = RunSummary(run_id="r1", started_at=datetime(2026, 11, 29, tzinfo=UTC))
    summary.collectors = {
        "c_a": {"jobs_read": 3, "findings": 1},
        "c_b": {"jobs_read": 5, "findings": 0},
    }
    summary.read_errors = {"Transient": 2, "RateLimited": 1}
    # When its dimensioned metrics are emitted
    emit_dimensioned_metrics(summary)
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    # Then each collector has its jobs-read and findings series, each error kind its own
    seen = set()
    for record in records:
        [directive] = record["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "BrightDataJobAlerts"
        [dimensions] = directive["Dimensions"]
        [metric] = directive["Metrics"]
        key = record.get("collector") or record.get("kind")
        assert set(dimensions) == {"service", "collector" if "collector" in record else "kind"}
        seen.add((metric["Name"], key, *record[metric["Name"]]))
    assert seen == {
        ("CollectorJobsRead", "c_a", 3),
        ("CollectorFindings", "c_a", 1),
        ("CollectorJobsRead", "c_b", 5),
        ("CollectorFindings", "c_b", 0),
        ("ApiErrorsByKind", "Transient", 2),
        ("ApiErrorsByKind", "RateLimited", 1),
    }
