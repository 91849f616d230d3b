"""Distinct ids: how JSON values become ids, and which ids are placeholders."""

from __future__ import annotations

import functools
import uuid
from typing import Any

import msgspec

MAX_DISTINCT_ID_CHARS = 200
"""Longer ids are truncated, as PostHog capture does, so keys stay small in every table."""

PERSON_ID_NAMESPACE = uuid.UUID("6f0c5a52-4f2e-5b8e-9a57-3c1f0d7b2a10")
"""Fixed namespace of derived person ids: the same distinct id gives the same person id on
every deployment and every replay."""

_PLACEHOLDERS_ANY_CASE = frozenset(
    {
        "anonymous",
        "guest",
        "distinctid",
        "distinct_id",
        "id",
        "not_authenticated",
        "email",
        "undefined",
        "true",
        "false",
    }
)
_PLACEHOLDERS_EXACT = frozenset({"[object Object]", "NaN", "None", "none", "null", "0", "undefined"})


def as_distinct_id(value: Any) -> str | None:
    """The id a JSON value stands for, or None when it names no id.

    Numbers become their decimal text (23 and 23.0 both give "23"), objects and arrays their
    JSON; NUL characters are replaced and the result is cut to MAX_DISTINCT_ID_CHARS.
    """
    if value is None or isinstance(value, bool):
        text = None if value is None else ("true" if value else "false")
    elif isinstance(value, str):
        text = value
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = str(int(value)) if value.is_integer() else repr(value)
    else:
        text = msgspec.json.encode(value).decode()
    if text is None or not text.strip():
        return None
    return text.replace("\x00", "\ufffd")[:MAX_DISTINCT_ID_CHARS]


def is_placeholder(distinct_id: str) -> bool:
    """True for ids that must never link or merge persons ("anonymous", "null", ...)."""
    if not distinct_id.strip():
        return True
    candidates = [distinct_id]
    if len(distinct_id) >= 2 and distinct_id[0] == distinct_id[-1] and distinct_id[0] in "'\"":
        candidates.append(distinct_id[1:-1])
    return any(
        c.lower() in _PLACEHOLDERS_ANY_CASE or c in _PLACEHOLDERS_EXACT for c in candidates
    )


@functools.lru_cache(maxsize=1 << 20)
def person_id_for(distinct_id: str) -> str:
    """The deterministic person id of a person whose root id is `distinct_id`."""
    return str(uuid.uuid5(PERSON_ID_NAMESPACE, distinct_id))
