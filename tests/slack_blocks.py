"""Check a Slack message payload against Slack's own Block Kit models (slack_sdk), so the
limits we promise are the ones Slack enforces, not our own reading of them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slack_sdk.models.blocks import Block

SLACK_MAX_BLOCKS = 50
SLACK_TEXT_MAX_CHARS = 3000


def block_texts(payload: Mapping[str, Any]) -> list[str]:
    """Every text a reader sees in the blocks: section, header and context element texts."""
    texts: list[str] = []
    for block in payload.get("blocks", []):
        if isinstance(block.get("text"), Mapping):
            texts.append(block["text"]["text"])
        for element in block.get("elements", []):
            if isinstance(element, Mapping) and isinstance(element.get("text"), str):
                texts.append(element["text"])
    return texts


def validate_slack_payload(payload: Mapping[str, Any]) -> None:
    """Raise AssertionError (or slack_sdk's SlackObjectFormationError) when Slack would
    reject or cut the payload."""
    text = payload.get("text")
    assert isinstance(text, str) and text.strip(), "a non-empty top-level `text` fallback"
    blocks = payload.get("blocks")
    assert isinstance(blocks, list) and blocks, "a non-empty list of blocks"
    assert len(blocks) <= SLACK_MAX_BLOCKS, f"{len(blocks)} blocks, Slack allows 50"
    for index, raw in enumerate(blocks):
        block = Block.parse(raw)
        assert block is not None, f"block {index} has an unknown type: {raw.get('type')!r}"
        block.validate_json()  # section text <= 3000, context <= 10 elements, header <= 150 ...
    # slack_sdk does not check a context element's text length; Slack caps text objects at 3000.
    for text in block_texts(payload):
        assert len(text) <= SLACK_TEXT_MAX_CHARS, f"a block text of {len(text)} characters"
