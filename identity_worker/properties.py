"""Person properties as a fold that gives one answer whatever order events arrive in.

Every key of a person (or of one distinct id) is a `KeyRegister`:

* `write` is the newest `$set` or `$unset` of the key, by event stamp (event time in
  microseconds, then event uuid; at an equal stamp `$unset` beats `$set`, then the value's
  canonical JSON decides). Newest wins, so `$set` overwrites and `$unset` removes.
* `once` holds the `$set_once` values stamped after `write`, oldest first. In time order a
  `$set_once` only lands while the key is absent, so once the newest write is a `$set`
  they do not matter, and after an `$unset` (or with no write at all) the oldest of them is
  the value.

Registers merge by taking the newest write and the union of once-candidates, which is
commutative, associative and idempotent: redelivered events, a replay with another
interleaving of partitions and the merge of two persons all fold to the same properties.
"""

from __future__ import annotations

from typing import Any

import msgspec

ONCE_CANDIDATES_MAX = 16
"""`$set_once` values kept per key after its newest write. Only an `$unset` stamped between
them (arriving late, or from an id merged in later) can make a later one the answer; keeping
the oldest 16 bounds memory for keys that every event sets once (first-touch attribution)."""

SET, UNSET = 0, 1

Stamp = tuple[int, str]
Write = tuple[int, str, int, str]  # (time_us, uuid, SET|UNSET, canonical JSON value or "")
Once = tuple[int, str, str]  # (time_us, uuid, canonical JSON value)

_encoder = msgspec.json.Encoder(order="sorted")
_decoder = msgspec.json.Decoder()


def canonical(value: Any) -> str:
    """JSON text of a value with sorted keys: equal values give equal text."""
    return _encoder.encode(value).decode()


class KeyRegister(msgspec.Struct, array_like=True):
    write: Write | None = None
    once: list[Once] = []

    def value(self) -> tuple[bool, str]:
        """(present, canonical JSON value)."""
        if self.write is not None and self.write[2] == SET:
            return True, self.write[3]
        if self.once:
            return True, self.once[0][2]
        return False, ""

    def put_write(self, write: Write) -> bool:
        if self.write is not None and write <= self.write:
            return False
        self.write = write
        self.once = [o for o in self.once if (o[0], o[1]) > (write[0], write[1])]
        return True

    def put_once(self, once: Once) -> bool:
        if self.write is not None and (once[0], once[1]) <= (self.write[0], self.write[1]):
            return False
        if once in self.once:
            return False
        candidates = sorted([*self.once, once])[:ONCE_CANDIDATES_MAX]
        if candidates == self.once:
            return False
        self.once = candidates
        return True


PropertyState = dict[str, KeyRegister]


def apply_updates(
    state: PropertyState,
    stamp: Stamp,
    set_: dict[str, Any],
    set_once: dict[str, Any],
    unset: list[str],
) -> bool:
    """Fold one event's `$set`, `$set_once` and `$unset` into `state`; True if it changed."""
    time_us, uuid = stamp
    changed = False
    for key, value in set_once.items():
        changed |= state.setdefault(key, KeyRegister()).put_once((time_us, uuid, canonical(value)))
    for key, value in set_.items():
        changed |= state.setdefault(key, KeyRegister()).put_write(
            (time_us, uuid, SET, canonical(value))
        )
    for key in unset:
        changed |= state.setdefault(key, KeyRegister()).put_write((time_us, uuid, UNSET, ""))
    return changed


def merge_into(target: PropertyState, source: PropertyState) -> None:
    """Fold every register of `source` into `target` (the same rules as event updates)."""
    for key, register in source.items():
        mine = target.setdefault(key, KeyRegister())
        if register.write is not None:
            mine.put_write(register.write)
        for once in register.once:
            mine.put_once(once)


def resolve(state: PropertyState) -> dict[str, Any]:
    """The plain properties a person shows: present keys and their values."""
    result: dict[str, Any] = {}
    for key in sorted(state):
        present, value = state[key].value()
        if present:
            result[key] = _decoder.decode(value)
    return result


_state_encoder = msgspec.json.Encoder()
_state_decoder = msgspec.json.Decoder(dict[str, KeyRegister])


def encode_state(state: PropertyState) -> str:
    return _state_encoder.encode(state).decode()


def decode_state(text: str) -> PropertyState:
    return _state_decoder.decode(text) if text else {}
