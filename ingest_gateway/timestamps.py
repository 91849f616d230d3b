"""Event time as PostHog capture computes it, correcting the client's clock with sent_at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

FUTURE_TOLERANCE = timedelta(hours=23)
"""Timestamps further ahead than this are clamped to now (a clock set to a wrong day)."""


def parse(text: object) -> datetime | None:
    """An ISO 8601 string as an aware datetime (UTC assumed when no zone), else None."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def event_time(
    now: datetime,
    timestamp: object,
    sent_at: datetime | None,
    offset_ms: object,
    ignore_sent_at: bool = False,
) -> datetime:
    """The server-side time of an event.

    `offset` (ms before sending) wins; otherwise the client's timestamp shifted by the
    difference between the client's clock (sent_at) and ours; otherwise now.
    """
    if isinstance(offset_ms, int | float) and not isinstance(offset_ms, bool):
        moment = now - timedelta(milliseconds=offset_ms)
    else:
        parsed = parse(timestamp)
        if parsed is None:
            moment = now
        elif sent_at is not None and not ignore_sent_at:
            moment = parsed - (sent_at - now)
        else:
            moment = parsed
    if moment - now > FUTURE_TOLERANCE:
        return now
    return moment.astimezone(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
