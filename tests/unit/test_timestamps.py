"""Event time as PostHog capture computes it: skew correction, offset, clamps."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ingest_gateway import timestamps
from ingest_gateway.timestamps import EPOCH, FUTURE_TOLERANCE, event_time, iso

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
    ("2024-05-01T10:00:00.123Z", datetime(2024, 5, 1, 10, 0, 0, 123_000, tzinfo=UTC)),
    ("2024-05-01T12:00:00+02:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
    ("2024-05-01T10:00:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),  # no zone: UTC
    ("  2024-05-01T10:00:00Z ", datetime(2024, 5, 1, 10, tzinfo=UTC)),
    ("not a time", None), ("", None), ("  ", None), (None, None), (1714557600, None),
    ("0001-01-01T00:00:00+01:00", None),  # before year 1 once in UTC
])
def test_parse(text: object, expected: datetime | None) -> None:
    parsed = timestamps.parse(text)
    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset() == timedelta(0)


def test_timestamp_alone_is_kept() -> None:
    assert event_time(NOW, "2024-05-01T11:00:00Z", None, None) == datetime(2024, 5, 1, 11, tzinfo=UTC)


def test_no_timestamp_or_unparseable_is_now() -> None:
    assert event_time(NOW, None, None, None) == NOW
    assert event_time(NOW, "yesterday", NOW, None) == NOW
    assert event_time(NOW, 1714557600, None, None) == NOW


def test_sent_at_corrects_client_clock_skew() -> None:
    # The client's clock is 2 hours fast: it stamped the event 11:00 by its clock (09:00 real)
    # and sent it at 14:00 by its clock, which is our 12:00.
    sent_at = NOW + timedelta(hours=2)
    moment = event_time(NOW, "2024-05-01T11:00:00Z", sent_at, None)
    assert moment == datetime(2024, 5, 1, 9, tzinfo=UTC)


def test_sent_at_correction_for_a_slow_clock() -> None:
    sent_at = NOW - timedelta(minutes=30)
    moment = event_time(NOW, "2024-05-01T11:00:00Z", sent_at, None)
    assert moment == datetime(2024, 5, 1, 11, 30, tzinfo=UTC)


def test_ignore_sent_at_disables_the_correction() -> None:
    sent_at = NOW + timedelta(hours=2)
    moment = event_time(NOW, "2024-05-01T11:00:00Z", sent_at, None, ignore_sent_at=True)
    assert moment == datetime(2024, 5, 1, 11, tzinfo=UTC)


@pytest.mark.parametrize("offset", [1500, 1500.0])
def test_offset_wins_over_timestamp_and_sent_at(offset: float) -> None:
    sent_at = NOW + timedelta(hours=2)
    moment = event_time(NOW, "2020-01-01T00:00:00Z", sent_at, offset)
    assert moment == NOW - timedelta(milliseconds=1500)


@pytest.mark.parametrize("offset", [True, "1500", None, [1]])
def test_offset_that_is_not_a_number_is_ignored(offset: object) -> None:
    assert event_time(NOW, "2024-05-01T11:00:00Z", None, offset) == datetime(2024, 5, 1, 11, tzinfo=UTC)


def test_future_beyond_tolerance_is_clamped_to_now() -> None:
    ahead = NOW + FUTURE_TOLERANCE + timedelta(minutes=1)
    assert event_time(NOW, iso(ahead), None, None) == NOW
    # A negative offset is the future too.
    ahead_ms = (FUTURE_TOLERANCE + timedelta(minutes=1)).total_seconds() * 1000
    assert event_time(NOW, None, None, -ahead_ms) == NOW


def test_future_within_tolerance_is_kept() -> None:
    ahead = NOW + FUTURE_TOLERANCE - timedelta(minutes=1)
    assert event_time(NOW, iso(ahead), None, None) == ahead


def test_skew_correction_can_bring_a_future_stamp_back() -> None:
    # 30 h ahead by a clock that is 30 h fast: after correction it is "now", not clamped.
    sent_at = NOW + timedelta(hours=30)
    assert event_time(NOW, iso(sent_at), sent_at, None) == NOW


def test_times_beyond_representable_years_become_epoch() -> None:
    sent_at = NOW + timedelta(days=365 * 10)
    assert event_time(NOW, "0001-01-02T00:00:00Z", sent_at, None) == EPOCH
    assert event_time(NOW, None, None, 10**18) == EPOCH


def test_result_is_utc() -> None:
    local = timezone(timedelta(hours=5))
    moment = event_time(NOW, "2024-05-01T15:00:00+05:00", None, None)
    assert moment == datetime(2024, 5, 1, 15, tzinfo=local)
    assert moment.tzinfo == UTC


@pytest.mark.parametrize(("moment", "text"), [
    (datetime(2024, 5, 1, 10, tzinfo=UTC), "2024-05-01T10:00:00.000000Z"),
    (datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(hours=2))), "2024-05-01T10:00:00.000000Z"),
    (datetime(2024, 5, 1, 10, 0, 0, 5, tzinfo=UTC), "2024-05-01T10:00:00.000005Z"),
])
def test_iso(moment: datetime, text: str) -> None:
    assert iso(moment) == text
