"""A LightGBM model as flat arrays, read from `Booster.dump_model()`.

The arrays hold exactly what LightGBM's prediction reads (split feature, threshold, how a
missing value travels, categorical bitsets, leaf values) plus what exact TreeSHAP needs
(data counts per node, and for every leaf the path that leads to it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from riskengine.errors import RiskEngineError

# missing_type of a numerical split, and one code for a categorical split
NUM_NONE, NUM_ZERO, NUM_NAN, CATEGORICAL = 0, 1, 2, 3
_MISSING = {"None": NUM_NONE, "Zero": NUM_ZERO, "NaN": NUM_NAN}


class UnsupportedModel(RiskEngineError):
    """A LightGBM model this evaluator does not handle (multiclass, linear trees, random forest)."""


@dataclass
class Forest:
    """Trees in flat arrays. Internal nodes and leaves are numbered globally, tree after tree.

    A child reference >= 0 is an internal node (global index); < 0 is ~leaf (global index).
    """

    n_features: int
    feature_names: list[str]
    tree_root: np.ndarray  # int32, per tree: its root (node or ~leaf)
    node_start: np.ndarray  # int32, per tree + 1: first internal node of each tree
    leaf_start: np.ndarray  # int32, per tree + 1: first leaf of each tree
    feature: np.ndarray  # int32 per node
    threshold: np.ndarray  # float64 per node (numerical splits)
    kind: np.ndarray  # int8 per node: NUM_NONE, NUM_ZERO, NUM_NAN or CATEGORICAL
    default_left: np.ndarray  # int8 per node
    left: np.ndarray  # int32 per node
    right: np.ndarray  # int32 per node
    cat_start: np.ndarray  # int32 per node: first bitset word (categorical splits)
    cat_words: np.ndarray  # int32 per node: number of bitset words
    bitsets: np.ndarray  # uint32
    node_count: np.ndarray  # float64 per node: training rows through it
    leaf_value: np.ndarray  # float64 per leaf
    leaf_count: np.ndarray  # float64 per leaf
    model_hash: str = ""
    # per leaf, its path: unique features (with the product of cover fractions) and edges
    path_feat_start: np.ndarray = field(default=None)
    path_feature: np.ndarray = field(default=None)
    path_z: np.ndarray = field(default=None)
    edge_start: np.ndarray = field(default=None)
    edge_node: np.ndarray = field(default=None)  # local to its tree
    edge_left: np.ndarray = field(default=None)
    edge_slot: np.ndarray = field(default=None)
    expected_value: float = 0.0  # sum over trees of the count-weighted mean leaf value

    @property
    def n_trees(self) -> int:
        return len(self.tree_root)

    @property
    def max_nodes(self) -> int:
        return int(np.diff(self.node_start).max()) if self.n_trees else 0


def model_hash(booster) -> str:
    """sha256 of the model text: the key under which a compiled evaluator is kept."""
    return hashlib.sha256(booster.model_to_string().encode()).hexdigest()


def read_forest(booster) -> Forest:
    """The booster's trees as a Forest; UnsupportedModel for what it does not cover."""
    dump = booster.dump_model()
    if dump.get("num_tree_per_iteration", 1) != 1 or dump.get("num_class", 1) != 1:
        raise UnsupportedModel("compiled trees cover one-output models (binary or regression), not multiclass")
    if dump.get("average_output"):
        raise UnsupportedModel("compiled trees do not cover random-forest mode (average_output)")
    nodes: dict[str, list] = {k: [] for k in ("feature", "threshold", "kind", "default_left", "left", "right",
                                               "cat_start", "cat_words", "node_count")}
    bitsets: list[int] = []
    leaf_value: list[float] = []
    leaf_count: list[float] = []
    tree_root, node_start, leaf_start = [], [0], [0]
    paths: list[tuple[list[int], list[float], list[tuple[int, int, int]]]] = []
    expected = 0.0

    for tree in dump["tree_info"]:
        root = tree["tree_structure"]
        n0, l0 = len(nodes["feature"]), len(leaf_value)
        tree_leaves: list[tuple[float, float]] = []

        def visit(node: dict, path: list[tuple[int, int, int, float]]) -> int:
            """Number the subtree; path: (feature, local node, went left, cover fraction) from the root."""
            if "leaf_index" in node or "leaf_value" in node:
                if "leaf_coeff" in node:
                    raise UnsupportedModel("compiled trees do not cover linear trees (linear_tree)")
                index = len(leaf_value)
                leaf_value.append(float(node["leaf_value"]))
                leaf_count.append(float(node.get("leaf_count", 0)))
                tree_leaves.append((float(node["leaf_value"]), float(node.get("leaf_count", 0))))
                feats: list[int] = []
                zs: list[float] = []
                edges = []
                for feat, local, went_left, frac in path:
                    if feat in feats:
                        slot = feats.index(feat)
                        zs[slot] *= frac
                    else:
                        slot = len(feats)
                        feats.append(feat)
                        zs.append(frac)
                    edges.append((local, went_left, slot))
                paths.append((feats, zs, edges))
                return ~index
            index = len(nodes["feature"])
            for key in nodes:
                nodes[key].append(0)
            feat = int(node["split_feature"])
            nodes["feature"][index] = feat
            nodes["node_count"][index] = float(node.get("internal_count", 0))
            nodes["default_left"][index] = int(bool(node.get("default_left", False)))
            if node["decision_type"] == "==":
                cats = [int(c) for c in str(node["threshold"]).split("||") if c != ""]
                words = (max(cats) // 32 + 1) if cats else 1
                block = [0] * words
                for c in cats:
                    block[c // 32] |= 1 << (c % 32)
                nodes["kind"][index] = CATEGORICAL
                nodes["cat_start"][index] = len(bitsets)
                nodes["cat_words"][index] = words
                nodes["threshold"][index] = 0.0
                bitsets.extend(block)
            elif node["decision_type"] == "<=":
                nodes["kind"][index] = _MISSING[node.get("missing_type", "None")]
                nodes["threshold"][index] = float(node["threshold"])
            else:
                raise UnsupportedModel(f"unknown decision type {node['decision_type']!r} in the model")
            parent = max(float(node.get("internal_count", 0)), 1e-300)
            for side, went_left in (("left_child", 1), ("right_child", 0)):
                child = node[side]
                count = float(child.get("internal_count", child.get("leaf_count", 0)))
                ref = visit(child, path + [(feat, index - n0, went_left, count / parent)])
                nodes["left" if went_left else "right"][index] = ref
            return index

        tree_root.append(visit(root, []))
        node_start.append(len(nodes["feature"]))
        leaf_start.append(len(leaf_value))
        total = sum(c for _, c in tree_leaves)
        if len(tree_leaves) == 1 or total <= 0:
            expected += tree_leaves[0][0] if len(tree_leaves) == 1 else 0.0
        else:
            root_count = float(root.get("internal_count", total))
            expected += sum(v * c / root_count for v, c in tree_leaves)
        del l0

    pf_start, pf_feat, pf_z, e_start, e_node, e_left, e_slot = [0], [], [], [0], [], [], []
    for feats, zs, edges in paths:
        pf_feat += feats
        pf_z += zs
        pf_start.append(len(pf_feat))
        for local, went_left, slot in edges:
            e_node.append(local)
            e_left.append(went_left)
            e_slot.append(slot)
        e_start.append(len(e_node))

    def arr(values, dtype):
        return np.asarray(values, dtype=dtype)

    return Forest(
        n_features=int(dump["max_feature_idx"]) + 1, feature_names=list(dump["feature_names"]),
        tree_root=arr(tree_root, np.int32), node_start=arr(node_start, np.int32), leaf_start=arr(leaf_start, np.int32),
        feature=arr(nodes["feature"], np.int32), threshold=arr(nodes["threshold"], np.float64),
        kind=arr(nodes["kind"], np.int8), default_left=arr(nodes["default_left"], np.int8),
        left=arr(nodes["left"], np.int32), right=arr(nodes["right"], np.int32),
        cat_start=arr(nodes["cat_start"], np.int32), cat_words=arr(nodes["cat_words"], np.int32),
        bitsets=arr(bitsets or [0], np.uint32), node_count=arr(nodes["node_count"], np.float64),
        leaf_value=arr(leaf_value, np.float64), leaf_count=arr(leaf_count, np.float64),
        model_hash=model_hash(booster),
        path_feat_start=arr(pf_start, np.int32), path_feature=arr(pf_feat, np.int32), path_z=arr(pf_z, np.float64),
        edge_start=arr(e_start, np.int32), edge_node=arr(e_node, np.int32), edge_left=arr(e_left, np.int8),
        edge_slot=arr(e_slot, np.int16), expected_value=float(expected),
    )
