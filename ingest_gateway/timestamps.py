"""Event time as PostHog capture computes it, correcting the client's clock with sent_at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

FUTURE_TOLERANCE = timedelta(hours=23)
"""Timestamps further ahead than this are clamped to now (a clock set to a wrong day)."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""Where a time outside the representable years lands, as PostHog puts it."""


def parse(text: object) -> datetime | None:
    """An ISO 8601 string as an aware UTC datetime (UTC assumed when no zone), else None."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 shifted past the edge
        return None


def event_time(
    now: datetime,
    timestamp: object,
    sent_at: datetime | None,
    offset_ms: object,
    ignore_sent_at: bool = False,
) -> datetime:
    """The server-side time of an event, in UTC.

    `offset` (ms before sending) wins; otherwise the client's timestamp shifted by the
    difference between the client's clock (sent_at) and ours; otherwise now. More than
    FUTURE_TOLERANCE ahead of now becomes now; beyond the years 1-9999 becomes EPOCH.
    """
    try:
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
    except (OverflowError, ValueError):  # ValueError: a NaN or infinite offset
        return EPOCH
    if moment - now > FUTURE_TOLERANCE:
        return now.astimezone(UTC)
    return moment.astimezone(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
