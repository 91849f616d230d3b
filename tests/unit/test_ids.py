import pytest

from schemas.ids import as_distinct_id, is_placeholder, person_id_for


@pytest.mark.parametrize("value", [
    "", "  ", "anonymous", "Anonymous", "GUEST", "distinctid", "distinct_id", "id", "ID",
    "not_authenticated", "email", "undefined", "UNDEFINED", "true", "False", "[object Object]",
    "NaN", "None", "none", "null", "0", "'null'", '"anonymous"', "'0'",
])
def test_placeholders_are_refused(value: str) -> None:
    assert is_placeholder(value)


@pytest.mark.parametrize("value", ["user_123", "nan", "NULL", " anonymous", "00", "[object object]"])
def test_ordinary_ids_are_accepted(value: str) -> None:
    assert not is_placeholder(value)


@pytest.mark.parametrize(("raw", "expected"), [
    ("abc", "abc"), (23, "23"), (23.0, "23"), (1.5, "1.5"), (None, None), ("", None),
    ("   ", None), (True, "true"), (["a", "b"], '["a","b"]'), ("a\x00b", "a\ufffdb"),
    ("x" * 300, "x" * 200),
])
def test_as_distinct_id(raw: object, expected: str | None) -> None:
    assert as_distinct_id(raw) == expected


def test_person_id_is_deterministic_and_distinct() -> None:
    assert person_id_for("user_123") == person_id_for("user_123")
    assert person_id_for("user_123") != person_id_for("user_124")
