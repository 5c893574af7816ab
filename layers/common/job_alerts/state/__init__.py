"""DynamoDB data access for the one state table: jobs, collector alarms and listings, decisions,
the alert outbox and history, silences and monitor health. `StateStore` (``store``) is its one
entry point; the key formats and item codecs live in ``items`` and nowhere else, the conditional
writes that make every decision once-only in ``transactions``. Callers see the domain types of
`models`."""

from job_alerts.state.items import HISTORY, LIVE, OPEN_ALARMS, OUTBOX, claim_ttl
from job_alerts.state.store import StateStore
from job_alerts.state.transactions import TRANSACTION_MAX_ITEMS

__all__ = [
    "HISTORY",
    "LIVE",
    "OPEN_ALARMS",
    "OUTBOX",
    "TRANSACTION_MAX_ITEMS",
    "StateStore",
    "claim_ttl",
]
