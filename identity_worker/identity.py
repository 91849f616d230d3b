"""Which distinct ids form one person: a fold over identity links in event-time order.

A link says "source should be the same person as target" (`$identify`: target = the event's
distinct_id, source = `$anon_distinct_id`; `$create_alias` / `$merge_dangerously`: source =
`alias`). Links connect ids into clusters; a cluster holds every link that ever touched its
ids, refused ones included, because a late event can change whether an earlier claim is
refused.

Persons inside a cluster are the result of replaying its links sorted by (event time, event
uuid), starting from one person per id whose root is that id:

1. target and source already on one person: that person becomes identified.
2. the source's person is identified and the link is not `$merge_dangerously`:
   a. an alias whose target id is new (no event of it before this one, in no earlier
      link): the new name joins the source's person, as PostHog adds an id to the one
      existing person; alias chains (c -> b -> a) so end on one person;
   b. otherwise refused (`cannot_merge_already_identified`): shared-device protection, so
      a second user identifying with an anonymous id another user already claimed gets a
      person of their own; the target's person still becomes identified.
3. otherwise the source's person merges into the target's person, which becomes identified.

The surviving person is the target's except in 2a, so a person's root (and the person id
derived from it) is always an identified id. The fold depends only on the set of links and
on each id's first-seen time (a minimum over its events), so any arrival order of the same
events, across partitions, redeliveries and replays, gives the same persons; a conflicting
claim loses to the earlier event.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

LinkKind = Literal["identify", "alias", "merge_dangerously"]


class Link(NamedTuple):
    time_us: int
    uuid: str
    kind: LinkKind
    target: str
    source: str


@dataclass(slots=True)
class Cluster:
    links: list[Link] = field(default_factory=list)
    link_uuids: set[str] = field(default_factory=set)
    members: dict[str, set[str]] = field(default_factory=dict)  # root -> its ids
    root_of: dict[str, str] = field(default_factory=dict)
    identified: set[str] = field(default_factory=set)  # roots
    refused: dict[str, tuple[str, str]] = field(default_factory=dict)  # link uuid -> roots


@dataclass(frozen=True, slots=True)
class Refusal:
    link: Link
    source_root: str
    target_root: str


@dataclass(frozen=True, slots=True)
class ClusterChange:
    """What one new link changed: roots before and after for every id it touched."""

    roots_before: dict[str, str]
    roots_after: dict[str, str]
    identified_before: frozenset[str]
    identified_after: frozenset[str]
    new_refusals: tuple[Refusal, ...]


class IdentityGraph:
    def __init__(self) -> None:
        self._cluster_of: dict[str, Cluster] = {}

    def root(self, distinct_id: str) -> str:
        cluster = self._cluster_of.get(distinct_id)
        return cluster.root_of[distinct_id] if cluster else distinct_id

    def is_identified(self, root: str) -> bool:
        cluster = self._cluster_of.get(root)
        return cluster is not None and root in cluster.identified

    def members(self, root: str) -> set[str]:
        cluster = self._cluster_of.get(root)
        return cluster.members.get(root, {root}) if cluster else {root}

    def link_count(self) -> int:
        return sum(len(c.links) for c in {id(c): c for c in self._cluster_of.values()}.values())

    def in_cluster(self, distinct_id: str) -> bool:
        return distinct_id in self._cluster_of

    def add(self, link: Link, first_seen: Mapping[str, int]) -> ClusterChange | None:
        """Add a link and refold its cluster; None when the link was already known."""
        target_cluster = self._cluster_of.get(link.target)
        if target_cluster is not None and link.uuid in target_cluster.link_uuids:
            return None
        return self._fold([link.target, link.source], first_seen, link)

    def refold(self, distinct_id: str, first_seen: Mapping[str, int]) -> ClusterChange:
        """Fold the cluster of `distinct_id` again (its first-seen time moved earlier)."""
        return self._fold([distinct_id], first_seen, None)

    def _fold(self, touched: list[str], first_seen: Mapping[str, int],
              link: Link | None) -> ClusterChange:
        clusters = {id(c): c for c in map(self._cluster_of.get, touched) if c}
        ids = set(touched)
        for c in clusters.values():
            ids.update(c.root_of)
        before_roots = {i: self.root(i) for i in ids}
        before_identified = frozenset(
            r for c in clusters.values() for r in c.identified
        )
        before_refused = {u for c in clusters.values() for u in c.refused}

        cluster = _union(list(clusters.values()))
        if link is not None:
            bisect.insort(cluster.links, link)
            cluster.link_uuids.add(link.uuid)
        _refold(cluster, ids, first_seen)
        for i in ids:
            self._cluster_of[i] = cluster

        by_uuid = {lk.uuid: lk for lk in cluster.links}
        new_refusals = tuple(
            Refusal(by_uuid[u], source_root=roots[0], target_root=roots[1])
            for u, roots in cluster.refused.items()
            if u not in before_refused
        )
        return ClusterChange(
            roots_before=before_roots,
            roots_after={i: cluster.root_of[i] for i in ids},
            identified_before=before_identified,
            identified_after=frozenset(cluster.identified),
            new_refusals=new_refusals,
        )


def _union(clusters: list[Cluster]) -> Cluster:
    if not clusters:
        return Cluster()
    if len(clusters) == 1:
        return clusters[0]
    merged = Cluster()
    for c in clusters:
        merged.links.extend(c.links)
        merged.link_uuids |= c.link_uuids
    merged.links.sort()
    return merged


_NEVER = 2**63


def _refold(cluster: Cluster, ids: set[str], first_seen: Mapping[str, int]) -> None:
    root_of = {i: i for i in ids}
    members = {i: {i} for i in ids}
    identified: set[str] = set()
    refused: dict[str, tuple[str, str]] = {}
    linked: set[str] = set()
    for link in cluster.links:
        target, source = root_of[link.target], root_of[link.source]
        target_is_new = (link.target not in linked
                         and first_seen.get(link.target, _NEVER) >= link.time_us)
        linked.update((link.target, link.source))
        if target == source:
            identified.add(target)
            continue
        if source in identified and link.kind != "merge_dangerously":
            if target_is_new and link.kind == "alias":
                del members[target]
                root_of[link.target] = source
                members[source].add(link.target)
                continue
            refused[link.uuid] = (source, target)
            identified.add(target)
            continue
        moved = members.pop(source)
        for i in moved:
            root_of[i] = target
        members[target] |= moved
        identified.discard(source)
        identified.add(target)
    cluster.root_of = root_of
    cluster.members = members
    cluster.identified = identified
    cluster.refused = refused
