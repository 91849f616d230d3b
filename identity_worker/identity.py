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

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from schemas.records import LinkKind


class Link(NamedTuple):
    time_us: int
    uuid: str
    kind: LinkKind
    target: str
    source: str


@dataclass(slots=True)
class Cluster:
    """Every link touching a set of ids, and the persons their fold gives."""

    links: list[Link] = field(default_factory=list)  # sorted when `ordered`
    ordered: bool = True
    link_uuids: set[str] = field(default_factory=set)
    last: tuple[int, str] = (-1, "")  # the latest link's (time, uuid)
    members: dict[str, set[str]] = field(default_factory=dict)  # root -> its ids
    root_of: dict[str, str] = field(default_factory=dict)
    identified: set[str] = field(default_factory=set)  # roots
    refused: dict[str, tuple[str, str]] = field(default_factory=dict)  # link uuid -> roots
    linked: set[str] = field(default_factory=set)  # ids named by a link folded so far


@dataclass(frozen=True, slots=True)
class Refusal:
    link: Link
    source_root: str
    target_root: str


@dataclass(frozen=True, slots=True)
class ClusterChange:
    """What a link (or a refold) changed.

    `moved` maps every id whose person may have changed (new ids included) to its root
    before; `dirty_roots` are the persons whose rows must be recomputed.
    """

    moved: dict[str, str]
    dirty_roots: set[str]
    new_refusals: tuple[Refusal, ...]


_NEVER = 2**63


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

    def in_cluster(self, distinct_id: str) -> bool:
        return distinct_id in self._cluster_of

    def cluster_key(self, distinct_id: str) -> int:
        return id(self._cluster_of[distinct_id])

    def link_count(self) -> int:
        return sum(len(c.links) for c in {id(c): c for c in self._cluster_of.values()}.values())

    def links(self) -> list[Link]:
        clusters = {id(c): c for c in self._cluster_of.values()}.values()
        return sorted(link for c in clusters for link in c.links)

    def add(self, link: Link, first_seen: Mapping[str, int]) -> ClusterChange | None:
        """Add a link; None when it was already known.

        A link later than every link of the clusters it joins (the usual case: links arrive
        roughly in time order) is folded on top of them in O(ids moved). An earlier one
        means the clusters' history changed, so their links are folded again from the start.
        """
        target_cluster = self._cluster_of.get(link.target)
        if target_cluster is not None and link.uuid in target_cluster.link_uuids:
            return None
        ids = (link.target, link.source)
        clusters = list({id(c): c for c in map(self._cluster_of.get, ids) if c}.values())
        key = (link.time_us, link.uuid)
        if all(c.last < key for c in clusters):
            return self._append(link, clusters, first_seen)
        return self._refold(clusters, ids, first_seen, link)

    def refold(self, distinct_id: str, first_seen: Mapping[str, int]) -> ClusterChange:
        """Fold the cluster of `distinct_id` again (its first-seen time moved earlier)."""
        return self._refold([self._cluster_of[distinct_id]], (distinct_id,), first_seen, None)

    def _join(self, clusters: list[Cluster]) -> Cluster:
        """One cluster holding all of `clusters` (disjoint), grown from the largest."""
        if not clusters:
            return Cluster()
        clusters = sorted(clusters, key=lambda c: len(c.root_of), reverse=True)
        big = clusters[0]
        for small in clusters[1:]:
            big.links.extend(small.links)
            big.ordered = False
            big.link_uuids |= small.link_uuids
            big.last = max(big.last, small.last)
            big.members.update(small.members)
            big.root_of.update(small.root_of)
            big.identified |= small.identified
            big.refused.update(small.refused)
            big.linked |= small.linked
            for i in small.root_of:
                self._cluster_of[i] = big
        return big

    def _admit(self, cluster: Cluster, ids: tuple[str, ...]) -> None:
        for i in ids:
            if i not in cluster.root_of:
                cluster.root_of[i] = i
                cluster.members[i] = {i}
            self._cluster_of[i] = cluster

    def _append(self, link: Link, clusters: list[Cluster],
                first_seen: Mapping[str, int]) -> ClusterChange:
        cluster = self._join(clusters)
        self._admit(cluster, (link.target, link.source))
        before = {link.target: cluster.root_of[link.target],
                  link.source: cluster.root_of[link.source]}
        cluster.links.append(link)
        cluster.link_uuids.add(link.uuid)
        cluster.last = (link.time_us, link.uuid)
        moved, refusal = _step(cluster, link, first_seen)
        for i in moved:
            before.setdefault(i, before[link.source])
        dirty = set(before.values()) | {cluster.root_of[i] for i in before}
        return ClusterChange(before, dirty, (refusal,) if refusal else ())

    def _refold(self, clusters: list[Cluster], ids: tuple[str, ...],
                first_seen: Mapping[str, int], link: Link | None) -> ClusterChange:
        before = {i: self.root(i) for c in clusters for i in c.root_of}
        before.update((i, i) for i in ids if i not in before)
        identified_before = {r for c in clusters for r in c.identified}
        refused_before = {u for c in clusters for u in c.refused}

        cluster = self._join(clusters)
        self._admit(cluster, ids)
        if link is not None:
            cluster.links.append(link)
            cluster.link_uuids.add(link.uuid)
            cluster.ordered = False
            cluster.last = max(cluster.last, (link.time_us, link.uuid))
        if not cluster.ordered:
            cluster.links.sort()
            cluster.ordered = True
        for i in cluster.root_of:
            cluster.root_of[i] = i
        cluster.members = {i: {i} for i in cluster.root_of}
        cluster.identified, cluster.refused, cluster.linked = set(), {}, set()
        refusals = []
        for each in cluster.links:
            _moved, refusal = _step(cluster, each, first_seen)
            if refusal is not None and each.uuid not in refused_before:
                refusals.append(refusal)

        moved = {i: r for i, r in before.items() if cluster.root_of[i] != r or i in ids}
        dirty = set(moved.values()) | {cluster.root_of[i] for i in moved}
        dirty |= identified_before ^ cluster.identified
        return ClusterChange(moved, dirty, tuple(refusals))


def _step(cluster: Cluster, link: Link, first_seen: Mapping[str, int]
          ) -> tuple[set[str], Refusal | None]:
    """Fold one link into the cluster's persons; returns the ids that changed person."""
    root_of, members = cluster.root_of, cluster.members
    target, source = root_of[link.target], root_of[link.source]
    target_is_new = (link.target not in cluster.linked
                     and first_seen.get(link.target, _NEVER) >= link.time_us)
    cluster.linked.update((link.target, link.source))
    if target == source:
        cluster.identified.add(target)
        return set(), None
    if source in cluster.identified and link.kind != "merge_dangerously":
        if target_is_new and link.kind == "alias":
            del members[target]
            root_of[link.target] = source
            members[source].add(link.target)
            return {link.target}, None
        cluster.refused[link.uuid] = (source, target)
        cluster.identified.add(target)
        return set(), Refusal(link, source_root=source, target_root=target)
    moved = members.pop(source)
    for i in moved:
        root_of[i] = target
    members[target] |= moved
    cluster.identified.discard(source)
    cluster.identified.add(target)
    return moved, None
