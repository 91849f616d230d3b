import itertools

from identity_worker.properties import (
    ONCE_CANDIDATES_MAX,
    PropertyState,
    apply_updates,
    decode_state,
    encode_state,
    merge_into,
    resolve,
)


def fold(updates: list[tuple[int, dict, dict, list]]) -> dict:
    state: PropertyState = {}
    for t, set_, once, unset in updates:
        apply_updates(state, (t, f"u{t}"), set_, once, unset)
    return resolve(state)


SET_ONCE_AFTER_SET = [(1, {"plan": "pro"}, {}, []), (2, {}, {"plan": "free"}, [])]
SET_AFTER_SET_ONCE = [(1, {}, {"plan": "free"}, []), (2, {"plan": "pro"}, {}, [])]
UNSET_THEN_ONCE = [(1, {"plan": "pro"}, {}, []), (2, {}, {}, ["plan"]),
                   (3, {}, {"plan": "late"}, []), (4, {}, {"plan": "later"}, [])]


def test_set_overwrites_and_set_once_only_fills_absent_keys() -> None:
    assert fold(SET_ONCE_AFTER_SET) == {"plan": "pro"}
    assert fold(SET_AFTER_SET_ONCE) == {"plan": "pro"}
    assert fold([(1, {}, {"s": "a"}, []), (2, {}, {"s": "b"}, [])]) == {"s": "a"}
    assert fold([(1, {"p": "a"}, {}, []), (2, {"p": "b"}, {}, [])]) == {"p": "b"}


def test_unset_removes_and_set_once_after_unset_writes_again() -> None:
    assert fold(UNSET_THEN_ONCE[:2]) == {}
    assert fold(UNSET_THEN_ONCE) == {"plan": "late"}


def test_same_event_set_beats_set_once_and_unset_beats_set() -> None:
    assert fold([(1, {"k": "set"}, {"k": "once"}, [])]) == {"k": "set"}
    assert fold([(1, {"k": "set"}, {}, ["k"])]) == {}


def test_any_arrival_order_folds_to_the_same_properties() -> None:
    for updates in (SET_ONCE_AFTER_SET, SET_AFTER_SET_ONCE, UNSET_THEN_ONCE):
        results = {str(fold(list(order))) for order in itertools.permutations(updates)}
        assert len(results) == 1, results


def test_late_unset_between_two_set_onces_picks_the_next_one() -> None:
    # set_once@1, set_once@3 arrive; then an unset stamped 2 arrives late.
    assert fold([(1, {}, {"k": "one"}, []), (3, {}, {"k": "three"}, []),
                 (2, {}, {}, ["k"])]) == {"k": "three"}


def test_merge_is_the_same_fold() -> None:
    a: PropertyState = {}
    b: PropertyState = {}
    apply_updates(a, (1, "a1"), {"plan": "free", "x": 1}, {"src": "ads"}, [])
    apply_updates(b, (2, "b2"), {"plan": "pro"}, {"src": "invite"}, [])
    ab: PropertyState = {}
    merge_into(ab, a)
    merge_into(ab, b)
    ba: PropertyState = {}
    merge_into(ba, b)
    merge_into(ba, a)
    assert resolve(ab) == resolve(ba) == {"plan": "pro", "x": 1, "src": "ads"}


def test_reapplying_an_event_changes_nothing() -> None:
    state: PropertyState = {}
    assert apply_updates(state, (1, "u"), {"a": 1}, {"b": 2}, ["c"])
    assert not apply_updates(state, (1, "u"), {"a": 1}, {"b": 2}, ["c"])


def test_once_candidates_are_bounded() -> None:
    state: PropertyState = {}
    for t in range(ONCE_CANDIDATES_MAX + 10):
        apply_updates(state, (t, f"u{t}"), {}, {"k": t}, [])
    assert len(state["k"].once) == ONCE_CANDIDATES_MAX
    assert resolve(state) == {"k": 0}


def test_state_round_trips_through_its_encoding() -> None:
    state: PropertyState = {}
    apply_updates(state, (5, "u5"), {"a": {"nested": [1, 2]}}, {"b": "x"}, ["c"])
    assert resolve(decode_state(encode_state(state))) == resolve(state)
    assert encode_state(decode_state(encode_state(state))) == encode_state(state)
