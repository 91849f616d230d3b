"""A few Prometheus counters and gauges in the text exposition format, without a client library."""

from __future__ import annotations

import threading
from collections import defaultdict


class Metrics:
    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
        self._gauges: dict[str, float] = {}
        self._help: dict[str, str] = {}

    def inc(self, name: str, amount: float = 1, help: str = "", **labels: str) -> None:
        with self._lock:
            self._counters[(name, tuple(sorted(labels.items())))] += amount
            if help:
                self._help.setdefault(name, help)

    def set(self, name: str, value: float, help: str = "") -> None:
        with self._lock:
            self._gauges[name] = value
            if help:
                self._help.setdefault(name, help)

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            seen: set[str] = set()
            for (name, labels), value in sorted(self._counters.items()):
                full = f"{self._prefix}_{name}"
                if name not in seen:
                    seen.add(name)
                    lines.append(f"# HELP {full} {self._help.get(name, name)}")
                    lines.append(f"# TYPE {full} counter")
                label_text = ",".join(f'{k}="{v}"' for k, v in labels)
                lines.append(f"{full}{{{label_text}}} {value:g}" if labels else f"{full} {value:g}")
            for name, value in sorted(self._gauges.items()):
                full = f"{self._prefix}_{name}"
                lines.append(f"# HELP {full} {self._help.get(name, name)}")
                lines.append(f"# TYPE {full} gauge")
                lines.append(f"{full} {value:g}")
        return "\n".join(lines) + "\n"
