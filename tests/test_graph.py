"""studio.graph: pure DAG functions, on DAGs built from ``[[1], [2, 1], [3, 1, 2]]``."""

from __future__ import annotations

import pytest
from dag import Dag, make_dag
from hypothesis import given, settings
from hypothesis import strategies as st

from studio import graph

# 1 - 2 - 3 - 5        a branch (4) off 2, merged back into main at 5
#      \     /
#       4 --
MERGED = [[1], [2, 1], [3, 2], [4, 2], [5, 3, 4]]

# Criss-cross: 4 and 5 both merge 2 and 3, in opposite parent order.
CRISS_CROSS = [[1], [2, 1], [3, 1], [4, 2, 3], [5, 3, 2]]


@st.composite
def random_dags(draw: st.DrawFn) -> Dag:
    """Random DAGs: node n picks up to three parents among 0..n-1 (so no cycles)."""
    size = draw(st.integers(min_value=1, max_value=30))
    spec = []
    for node in range(size):
        parents = (
            draw(st.lists(st.integers(0, node - 1), max_size=3, unique=True)) if node else []
        )
        spec.append([node, *parents])
    return make_dag(spec)


def heads_of(dag: Dag) -> list[int]:
    """Nodes nobody names as a parent, newest first."""
    named = {p for parents in dag.values() for p in parents}
    return sorted((n for n in dag if n not in named), reverse=True)


def assert_topological(order: list, dag: Dag) -> None:
    position = {node: i for i, node in enumerate(order)}
    assert len(position) == len(order), "a node is listed twice"
    for node in order:
        for parent in dag(node):
            assert position[parent] > position[node], f"{parent} listed before its child {node}"


# --------------------------------------------------------------------------- the helper


def test_make_dag_maps_nodes_to_parent_tuples():
    dag = make_dag([[1], [2, 1], [3, 1, 2]])
    assert dag == {1: (), 2: (1,), 3: (1, 2)}
    assert dag(3) == (1, 2)


@pytest.mark.parametrize(
    "spec",
    [[[1], [1]], [[2, 1]], [[1], [2, 3], [3]], [[]]],
    ids=["duplicate", "unknown-parent", "parent-listed-late", "empty-row"],
)
def test_make_dag_rejects_specs_that_are_not_dags(spec):
    with pytest.raises(ValueError):
        make_dag(spec)


def test_make_dag_fixture_builds_the_same_dag(make_dag):
    assert make_dag(MERGED) == Dag({1: (), 2: (1,), 3: (2,), 4: (2,), 5: (3, 4)})


# --------------------------------------------------------------------------- ancestors


def test_ancestors_include_the_heads_and_every_parent_path():
    dag = make_dag(MERGED)
    assert graph.ancestors([5], dag) == {1, 2, 3, 4, 5}
    assert graph.ancestors([4], dag) == {1, 2, 4}
    assert graph.ancestors([3, 4], dag) == {1, 2, 3, 4}
    assert graph.ancestors([1], dag) == {1}
    assert graph.ancestors([], dag) == set()


def test_is_ancestor():
    dag = make_dag(MERGED)
    assert graph.is_ancestor(1, 5, dag)
    assert graph.is_ancestor(4, 5, dag), "reachable through the second parent"
    assert graph.is_ancestor(5, 5, dag), "a commit counts as its own ancestor"
    assert not graph.is_ancestor(5, 1, dag)
    assert not graph.is_ancestor(3, 4, dag), "siblings are not ancestors of each other"


def test_first_parent_chain_follows_only_first_parents():
    dag = make_dag(MERGED)
    assert graph.first_parent_chain(5, dag) == [5, 3, 2, 1]
    assert graph.first_parent_chain(4, dag) == [4, 2, 1]
    assert graph.first_parent_chain(1, dag) == [1]
    assert graph.first_parent_chain(5, dag, limit=2) == [5, 3]
    assert graph.first_parent_chain(5, dag, limit=0) == []


# --------------------------------------------------------------------------- topo_order


def test_topo_order_linear_history_is_newest_first():
    dag = make_dag([[1], [2, 1], [3, 2], [4, 3]])
    assert graph.topo_order([4], dag) == [4, 3, 2, 1]


def test_topo_order_merge_lists_each_commit_once_children_first():
    dag = make_dag(MERGED)
    order = graph.topo_order([5], dag)
    assert sorted(order) == [1, 2, 3, 4, 5]
    assert order[0] == 5 and order[-1] == 1
    assert_topological(order, dag)


def test_topo_order_criss_cross_merges():
    dag = make_dag(CRISS_CROSS)
    order = graph.topo_order([4, 5], dag)
    assert sorted(order) == [1, 2, 3, 4, 5]
    assert_topological(order, dag)


def test_topo_order_lists_earlier_heads_first():
    # Two branches off 2: heads given as [4, 3] put 4 on top (the graph page relies on this
    # to show the newest branch tip first).
    dag = make_dag([[1], [2, 1], [3, 2], [4, 2]])
    assert graph.topo_order([4, 3], dag) == [4, 3, 2, 1]
    assert graph.topo_order([3, 4], dag) == [3, 4, 2, 1]


def test_topo_order_head_that_is_an_ancestor_of_another_head():
    dag = make_dag([[1], [2, 1], [3, 2]])
    assert graph.topo_order([2, 3], dag) == [3, 2, 1]
    assert graph.topo_order([3, 3, 2], dag) == [3, 2, 1]


def test_topo_order_unrelated_histories():
    dag = make_dag([[1], [2, 1], [10], [11, 10]])
    order = graph.topo_order([2, 11], dag)
    assert sorted(order) == [1, 2, 10, 11]
    assert_topological(order, dag)


def test_topo_order_deep_history_does_not_recurse():
    depth = 20_000
    dag = make_dag([[0]] + [[n, n - 1] for n in range(1, depth)])
    assert graph.topo_order([depth - 1], dag) == list(range(depth - 1, -1, -1))


@settings(max_examples=150, deadline=None)
@given(random_dags())
def test_topo_order_property(dag):
    heads = heads_of(dag)
    order = graph.topo_order(heads, dag)
    assert set(order) == graph.ancestors(heads, dag) == set(dag)
    assert len(order) == len(set(order))
    assert_topological(order, dag)
    assert order[0] == heads[0]


def reference_topo_order(heads: list, get_parents) -> list:
    """The order topo_order gave before it was made faster (push every parent, pop, skip the
    seen): the log and graph pages must keep listing commits in exactly this order."""
    order: list = []
    seen: set = set()
    for head in reversed(list(heads)):
        stack = [(head, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
            elif node not in seen:
                seen.add(node)
                stack.append((node, True))
                stack.extend((p, False) for p in reversed(get_parents(node)) if p not in seen)
    order.reverse()
    return order


@settings(max_examples=300, deadline=None)
@given(random_dags(), st.randoms(use_true_random=False))
def test_topo_order_is_the_order_it_always_gave(dag, rnd):
    heads = rnd.sample(sorted(dag), rnd.randint(1, min(4, len(dag))))
    assert graph.topo_order(heads, dag) == reference_topo_order(heads, dag)


@pytest.mark.parametrize("spec", [MERGED, CRISS_CROSS], ids=["merged", "criss-cross"])
def test_topo_order_of_merges_is_the_reference_order(spec):
    dag = make_dag(spec)
    assert graph.topo_order([5], dag) == reference_topo_order([5], dag)
    assert graph.topo_order([5, 4], dag) == reference_topo_order([5, 4], dag)


# --------------------------------------------------------------------------- merge_base


def test_merge_base_of_two_branches_is_the_fork_point():
    dag = make_dag([[1], [2, 1], [3, 2], [4, 3], [5, 2], [6, 5]])
    assert graph.merge_base(4, 6, dag) == 2
    assert graph.merge_base(6, 4, dag) == 2


def test_merge_base_when_one_side_contains_the_other():
    dag = make_dag(MERGED)
    assert graph.merge_base(5, 4, dag) == 4
    assert graph.merge_base(1, 5, dag) == 1
    assert graph.merge_base(3, 3, dag) == 3


def test_merge_base_after_a_merge_is_the_merged_tip():
    dag = make_dag(MERGED + [[6, 4]])  # keep working on the branch after the merge
    assert graph.merge_base(5, 6, dag) == 4


def test_merge_base_criss_cross_is_a_best_common_ancestor():
    dag = make_dag(CRISS_CROSS)
    base = graph.merge_base(4, 5, dag)
    assert base in {2, 3}, "1 is common too, but 2 and 3 are nearer"


def test_merge_base_unrelated_histories_is_none():
    dag = make_dag([[1], [2, 1], [10], [11, 10]])
    assert graph.merge_base(2, 11, dag) is None
    assert graph.merge_base(1, 10, dag) is None


@settings(max_examples=150, deadline=None)
@given(random_dags(), st.data())
def test_merge_base_property(dag, data):
    a = data.draw(st.sampled_from(sorted(dag)))
    b = data.draw(st.sampled_from(sorted(dag)))
    common = graph.ancestors([a], dag) & graph.ancestors([b], dag)
    base = graph.merge_base(a, b, dag)
    if not common:
        assert base is None
        return
    assert base in common
    # No other common ancestor descends from the one returned.
    assert not any(
        other != base and graph.is_ancestor(base, other, dag) for other in common
    )


# --------------------------------------------------------------------------- layout


def lanes(placed, nodes) -> list[int]:
    return [placed[n].lane for n in nodes]


def assert_sound_layout(order, placed) -> None:
    assert set(placed) == set(order)
    assert [placed[n].row for n in order] == list(range(len(order)))
    assert all(p.node == n for n, p in placed.items())
    assert all(0 <= p.lane < len(order) for p in placed.values())


def test_layout_linear_history_uses_one_lane():
    dag = make_dag([[1], [2, 1], [3, 2], [4, 3]])
    order = graph.topo_order([4], dag)
    placed = graph.layout(order, dag)
    assert_sound_layout(order, placed)
    assert lanes(placed, order) == [0, 0, 0, 0]


def test_layout_branch_gets_its_own_lane():
    dag = make_dag([[1], [2, 1], [3, 2], [4, 3], [5, 2]])
    order = graph.topo_order([4, 5], dag)
    placed = graph.layout(order, dag)
    assert_sound_layout(order, placed)
    assert lanes(placed, graph.first_parent_chain(4, dag)) == [0, 0, 0, 0]
    assert placed[5].lane == 1


def test_layout_first_parent_chain_keeps_its_lane_across_a_merge():
    dag = make_dag(MERGED)
    order = graph.topo_order([5], dag)
    placed = graph.layout(order, dag)
    assert_sound_layout(order, placed)
    assert lanes(placed, graph.first_parent_chain(5, dag)) == [0, 0, 0, 0]
    assert placed[4].lane == 1, "the merged branch is drawn beside the trunk"


def test_layout_reuses_a_lane_once_its_branch_has_ended():
    # 6 and 7 branch off at different points; after 6's branch joins at 3 its lane is free.
    dag = make_dag([[1], [2, 1], [3, 2], [4, 3], [5, 4], [6, 3], [7, 1]])
    order = [5, 6, 4, 3, 7, 2, 1]
    assert_topological(order, dag)
    placed = graph.layout(order, dag)
    assert_sound_layout(order, placed)
    assert lanes(placed, graph.first_parent_chain(5, dag)) == [0] * 5
    assert placed[6].lane == 1
    assert placed[7].lane == 1, "lane 1 was freed when 6 met the trunk"


def test_layout_unrelated_histories_each_keep_one_lane():
    dag = make_dag([[1], [2, 1], [10], [11, 10]])
    order = graph.topo_order([2, 11], dag)
    placed = graph.layout(order, dag)
    assert_sound_layout(order, placed)
    assert placed[2].lane == placed[1].lane
    assert placed[11].lane == placed[10].lane
    assert lanes(placed, [2, 1, 11, 10]) == [0, 0, 0, 0], "a root ends its lane, so 11 reuses it"


@settings(max_examples=150, deadline=None)
@given(random_dags())
def test_layout_property(dag):
    order = graph.topo_order(heads_of(dag), dag)
    placed = graph.layout(order, dag)
    assert_sound_layout(order, placed)
    # The top row's whole first-parent chain is drawn straight down lane 0.
    assert set(lanes(placed, graph.first_parent_chain(order[0], dag))) == {0}
