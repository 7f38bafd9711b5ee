"""Build commit DAGs for graph tests from ``[[1], [2, 1], [3, 1, 2]]`` (as dulwich's tests do).

Each inner list is a node followed by its parents, first parent first. A parent must be
listed before the nodes that name it, so every spec describes an acyclic graph.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence


class Dag(dict):
    """``{node: parents}`` that is also the ``get_parents`` callable the graph functions take."""

    def __call__(self, node: Hashable) -> tuple[Hashable, ...]:
        return self[node]


def make_dag(spec: Iterable[Sequence[Hashable]]) -> Dag:
    """A :class:`Dag` from ``[[node, *parents], ...]``; rejects duplicates and unknown parents."""
    dag = Dag()
    for row in spec:
        if not row:
            raise ValueError("each DAG row needs at least a node")
        node, *parents = row
        if node in dag:
            raise ValueError(f"node {node!r} is listed twice")
        unknown = [p for p in parents if p not in dag]
        if unknown:
            raise ValueError(f"node {node!r} names parents {unknown!r} before they are listed")
        dag[node] = tuple(parents)
    return dag
