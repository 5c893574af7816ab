"""Slack Block Kit pieces both Slack renderings use: escaped one-line text, sections and context
blocks kept within Slack's limits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from job_alerts.text import escape_mrkdwn, one_line, truncate

__all__ = [
    "SLACK_FALLBACK_MAX_CHARS",
    "SLACK_HEADER_MAX_CHARS",
    "SLACK_MAX_BLOCKS",
    "SLACK_SECTION_MAX_CHARS",
    "context",
    "esc",
    "section",
]

# Slack Block Kit limits (message blocks, section text, header text, fallback text).
SLACK_MAX_BLOCKS = 50
SLACK_SECTION_MAX_CHARS = 3000
SLACK_HEADER_MAX_CHARS = 150
SLACK_FALLBACK_MAX_CHARS = 3000


def esc(text: str, limit: int) -> str:
    """One line of outside text, cut before escaping so an entity is never split."""
    return escape_mrkdwn(one_line(text, limit))


def section(lines: Sequence[str]) -> dict[str, Any]:
    """A mrkdwn section; whole lines are dropped (never cut mid-link) to stay within limits."""
    kept: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) + 1 > SLACK_SECTION_MAX_CHARS - 2:
            kept.append("…")
            break
        kept.append(line)
        size += len(line) + 1
    return {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(kept)}}


def context(text: str) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": truncate(text, SLACK_SECTION_MAX_CHARS)}],
    }
