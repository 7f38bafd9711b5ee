"""Graph functions over a commit DAG given as a ``get_parents`` callable (as dulwich does).

Pure: no store access, so they are tested on DAGs built from ``[[1], [2, 1], [3, 1, 2]]``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
GetParents = Callable[[K], Sequence[K]]


def ancestors(heads: Iterable[K], get_parents: GetParents) -> set[K]:
    """Every commit reachable from ``heads``, heads included."""
    seen: set[K] = set()
    stack = list(heads)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(get_parents(node))
    return seen


def is_ancestor(candidate: K, of: K, get_parents: GetParents) -> bool:
    """True when ``candidate`` is ``of`` or reachable from it."""
    return candidate in ancestors([of], get_parents)


def first_parent_chain(head: K, get_parents: GetParents, limit: int | None = None) -> list[K]:
    """``head``, its first parent, that one's first parent… (a branch's linear history)."""
    chain: list[K] = []
    node: K | None = head
    while node is not None and (limit is None or len(chain) < limit):
        chain.append(node)
        parents = get_parents(node)
        node = parents[0] if parents else None
    return chain


def topo_order(heads: Iterable[K], get_parents: GetParents) -> list[K]:
    """Reachable commits, children before parents (iterative DFS post-order, reversed).

    Earlier heads come first: the post-order is reversed at the end, so the heads are walked
    last to first. Each stack frame keeps its place in the parents list, so a commit is
    visited once and no parents list is copied (twice as fast as pushing every parent).
    """
    order: list[K] = []
    append = order.append
    seen: set[K] = set()
    add = seen.add
    for head in reversed(list(heads)):
        if head in seen:
            continue
        add(head)
        # Each frame: a node whose parents are being walked, and the index of the next one.
        stack: list[tuple[K, Sequence[K], int]] = []
        node, parents, index = head, get_parents(head), 0
        while True:
            if index < len(parents):
                parent = parents[index]
                index += 1
                if parent in seen:
                    continue
                add(parent)
                stack.append((node, parents, index))
                node, parents, index = parent, get_parents(parent), 0
                continue
            append(node)
            if not stack:
                break
            node, parents, index = stack.pop()
    order.reverse()
    return order


def merge_base(a: K, b: K, get_parents: GetParents) -> K | None:
    """A nearest common ancestor of ``a`` and ``b`` (None for unrelated histories)."""
    common = ancestors([a], get_parents) & ancestors([b], get_parents)
    if not common:
        return None
    # The nearest: a common ancestor that no other common ancestor descends from.
    for node in topo_order([a, b], get_parents):
        if node in common:
            return node
    return None


@dataclass(frozen=True)
class Placed:
    """A node placed for drawing: ``row`` 0 is the newest, ``lane`` the column."""

    node: Hashable
    row: int
    lane: int


def layout(order: Sequence[K], get_parents: GetParents) -> dict[K, Placed]:
    """Assign lanes so that a first-parent chain stays in one column (a simple git-graph)."""
    placed: dict[K, Placed] = {}
    lane_of: dict[K, int] = {}
    free_lanes: list[int] = []
    next_lane = 0
    for row, node in enumerate(order):
        lane = lane_of.pop(node, None)
        if lane is None:
            if free_lanes:
                lane = free_lanes.pop(0)
            else:
                lane, next_lane = next_lane, next_lane + 1
        placed[node] = Placed(node, row, lane)
        parents = list(get_parents(node))
        first = parents[0] if parents else None
        # Where two chains meet, the lower lane keeps the shared parent, so the top row's
        # first-parent chain stays in lane 0 even across merges.
        if first is not None and first not in placed and lane_of.get(first, lane) >= lane:
            other = lane_of.get(first)
            lane_of[first] = lane
            if other is not None and other != lane:
                free_lanes.append(other)
                free_lanes.sort()
        elif lane not in lane_of.values():
            free_lanes.append(lane)
            free_lanes.sort()
    return placed
