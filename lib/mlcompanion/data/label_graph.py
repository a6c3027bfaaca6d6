"""Precomputed image embeddings with a label graph, read from a local folder (paper ``loki``'s ImageNet setting).

Paper: Roberts et al., "Geometry-Aware Adaptation for Pretrained Models", NeurIPS 2023,
arXiv:2307.12226 (slug ``loki``). Its main experiment embeds ImageNet with a frozen self-supervised
SimCLR ResNet-50, fits logistic regression on K observed classes, and scores predictions over all
1,000 classes by the expected squared shortest-path distance on a WordNet-derived tree (official
``simclr_imagenet/scripts/simclr_uniform_exp.py``, tree file ``imagenet_mintree.txt``). Nothing is
downloaded here: the user extracts the embeddings once (GPU, minutes) and builds the tree offline
(e.g. hypernym paths from WordNet via ``nltk``), then passes the folder as ``root``::

    <root>/                           <- pass this folder as data_root
      classes.txt                     N lines, one class name per line; label i = line i (e.g. wnids)
      label_graph.txt                 one undirected edge per line: "<node> <node>" (names; class names
                                      are nodes, any other name is an internal node such as a hypernym);
                                      "#" starts a comment. Or, instead of it:
      label_distances.npy             (N, N) float distance matrix between the classes
      embeddings/train.npy            (n_train, d) float features of the training images
      embeddings/train_labels.npy     (n_train,) int labels in 0..N-1
      embeddings/val.npy              (n_val, d) float features of the evaluation images
      embeddings/val_labels.npy       (n_val,) int labels in 0..N-1

:func:`check_label_graph_layout` checks the files without reading them and raises
:class:`~mlcompanion.data.folders.DatasetNotFoundError` naming what is missing and the expected tree;
:func:`load_label_graph_embeddings` reads everything and returns a :class:`LabelGraphEmbeddings`
whose ``D`` is the ``(N, N)`` shortest-path metric between classes (float64).

For the ci profile, :func:`glyph_label_tree` builds the label hierarchy of the glyph classes from their
Unicode names (root -> script -> case -> class, optionally with links between the two cases of a letter)
and :func:`edge_list_metric` turns any named edge list into the class metric.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..metrics.label_geometry import check_label_metric, graph_metric
from .folders import DatasetNotFoundError

__all__ = ["LabelGraphEmbeddings", "LAYOUT", "check_label_graph_layout", "load_label_graph_embeddings",
           "read_label_graph", "edge_list_metric", "glyph_character_info", "glyph_label_tree"]

LAYOUT = """\
<root>/                           <- pass this folder as data_root
  classes.txt                     N lines, one class name per line (label i = line i), e.g. ImageNet wnids
  label_graph.txt                 "<node> <node>" per line: the label tree/graph (e.g. WordNet hypernyms)
    (or label_distances.npy)      (N, N) float distances between the classes, instead of label_graph.txt
  embeddings/train.npy            (n_train, d) features, e.g. SimCLR-v1 ResNet50-1x on ImageNet train
  embeddings/train_labels.npy     (n_train,) int labels
  embeddings/val.npy              (n_val, d) features of the 50,000 ImageNet validation images
  embeddings/val_labels.npy       (n_val,) int labels"""

_EMBEDDING_FILES = ("embeddings/train.npy", "embeddings/train_labels.npy", "embeddings/val.npy",
                    "embeddings/val_labels.npy")


@dataclass
class LabelGraphEmbeddings:
    """Train / evaluation features and labels, the class names and the class metric ``D`` (N, N)."""

    train_x: torch.Tensor  # float32 (n_train, d)
    train_y: torch.Tensor  # int64 (n_train,)
    val_x: torch.Tensor  # float32 (n_val, d)
    val_y: torch.Tensor  # int64 (n_val,)
    classes: list[str]
    D: torch.Tensor  # float64 (N, N)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def _not_found(root, problem: str) -> DatasetNotFoundError:
    return DatasetNotFoundError(
        f"Loki label-graph embeddings not found: {problem}.\n"
        f"root given: {root!r}\n"
        "Extract the features once (the paper: SimCLR-v1 ResNet50-1x on ImageNet, "
        "https://github.com/google-research/simclr, weights converted to PyTorch; ImageNet from "
        "https://image-net.org/) and build the label graph offline (WordNet hypernyms via nltk's "
        "WordNetCorpusReader), then lay the folder out as:\n" + LAYOUT
    )


def check_label_graph_layout(root) -> Path:
    """Check that ``root`` holds the files of :data:`LAYOUT` (without reading them); return it resolved.

    Raises :class:`DatasetNotFoundError` when ``root`` is None, absent, not a folder, or lacks a file
    (all missing files are listed)."""
    if root is None:
        raise _not_found(root, "data_root is None; pass the folder holding the embeddings and the label graph")
    try:
        path = Path(os.fspath(root)).expanduser()
    except TypeError:
        raise ValueError(f"root must be a str or os.PathLike, got {type(root).__name__}") from None
    if not path.is_dir():
        raise _not_found(root, f"{str(path)!r} is not an existing folder")
    missing = [f for f in ("classes.txt", *_EMBEDDING_FILES) if not (path / f).is_file()]
    if not (path / "label_graph.txt").is_file() and not (path / "label_distances.npy").is_file():
        missing.append("label_graph.txt (or label_distances.npy)")
    if missing:
        raise _not_found(root, f"{str(path)!r} is missing " + ", ".join(repr(m) for m in missing))
    return path.resolve()


def _read_lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [line.split("#", 1)[0].strip() for line in f]


def edge_list_metric(edges, classes: list[str]) -> torch.Tensor:
    """Shortest-path distances (N, N) between ``classes`` on the undirected graph given by ``edges``
    (pairs of node names, unit lengths; nodes that are not classes are internal nodes such as a
    hypernym or a script). Every class must appear in an edge (when there are two or more)."""
    index = {c: i for i, c in enumerate(classes)}
    pairs = []
    for k, edge in enumerate(edges):
        if len(edge) != 2:
            raise ValueError(f"edge {k} must be a pair of node names, got {edge!r}")
        pairs.append([index.setdefault(p, len(index)) for p in edge])
    used = {node for pair in pairs for node in pair}
    unused = [c for c in classes if index[c] not in used]
    if len(classes) > 1 and unused:
        raise ValueError(f"classes {unused[:5]} (of {len(unused)}) appear in no edge of the label graph")
    D_all = graph_metric(np.asarray(pairs, dtype=np.int64).reshape(-1, 2), len(index))
    return D_all[: len(classes), : len(classes)].contiguous()


def read_label_graph(path, classes: list[str]) -> torch.Tensor:
    """Shortest-path distances (N, N) between ``classes`` on the undirected graph of ``path``
    (one ``"<node> <node>"`` edge per line, unit lengths; nodes that are not classes are internal)."""
    edges = []
    for lineno, line in enumerate(_read_lines(Path(path)), 1):
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"{path}:{lineno}: expected '<node> <node>', got {line!r}")
        edges.append(parts)
    try:
        return edge_list_metric(edges, classes)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def glyph_character_info(char: str) -> tuple[str, str, str]:
    """``(script, case, letter)`` of a glyph class from its Unicode name: ``("LATIN", "upper", "A")``
    for "LATIN CAPITAL LETTER A", ``("GREEK", "lower", "ALPHA")``, ``("DIGIT", "digit", "ONE")``."""
    import unicodedata

    if not isinstance(char, str) or len(char) != 1:
        raise ValueError(f"a glyph class is one character, got {char!r}")
    name = unicodedata.name(char, "")
    words = name.split()
    if len(words) == 2 and words[0] == "DIGIT":
        return "DIGIT", "digit", words[1]
    if len(words) >= 4 and words[1] in ("CAPITAL", "SMALL") and words[2] == "LETTER":
        return words[0], "upper" if words[1] == "CAPITAL" else "lower", " ".join(words[3:])
    raise ValueError(f"{char!r} ({name or 'no Unicode name'}) is neither a digit nor a cased letter")


def glyph_label_tree(classes: list[str], case_links: bool = True) -> list[tuple[str, str]]:
    """The label hierarchy of the glyph classes as an edge list (for :func:`edge_list_metric`).

    Tree: root -> script (DIGIT, LATIN, GREEK, CYRILLIC) -> case (upper / lower; digits one group)
    -> class, so two classes are 2 apart in the same script and case, 4 in the same script and the
    other case, 6 across scripts (an ultrametric: every class is a leaf at depth 3). With
    ``case_links`` an edge also joins the two cases of one letter where both are classes (Latin
    "A"-"a", Greek "Σ"-"σ"): they are then 1 apart, and the metric is no longer a tree's (paper
    ``loki``'s brief: "+ same letter, other case links"). Internal nodes are named ``"<ROOT>"``,
    ``"<LATIN>"``, ``"<LATIN upper>"`` (never a one-character class name).
    """
    if len(set(classes)) != len(classes):
        raise ValueError("classes must be distinct characters")
    info = {c: glyph_character_info(c) for c in classes}
    edges, groups = [], {}
    for c in classes:
        script, case, letter = info[c]
        edges.append((c, f"<{script} {case}>"))
        groups.setdefault(script, set()).add(case)
    for script, cases in groups.items():
        edges.append((f"<{script}>", "<ROOT>"))
        edges.extend((f"<{script} {case}>", f"<{script}>") for case in sorted(cases))
    if case_links:
        by_letter = {}
        for c in classes:
            script, case, letter = info[c]
            by_letter.setdefault((script, letter), {})[case] = c
        edges.extend((pair["upper"], pair["lower"]) for pair in by_letter.values() if len(pair) == 2)
    return edges


def _load_array(path: Path, what: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} could not be read as {what} ({err})") from None


def load_label_graph_embeddings(root) -> LabelGraphEmbeddings:
    """Read the folder of :data:`LAYOUT` (checked first) and validate shapes and label ranges."""
    path = check_label_graph_layout(root)
    classes = [c for c in _read_lines(path / "classes.txt") if c]
    if len(set(classes)) != len(classes):
        raise ValueError(f"{path / 'classes.txt'} must list distinct class names")
    N = len(classes)
    if (path / "label_graph.txt").is_file():
        D = read_label_graph(path / "label_graph.txt", classes)
    else:
        D = torch.as_tensor(_load_array(path / "label_distances.npy", "an (N, N) float matrix"), dtype=torch.float64)
        if tuple(D.shape) != (N, N):
            raise ValueError(f"label_distances.npy must be ({N}, {N}) for the {N} classes, got {tuple(D.shape)}")
    D = check_label_metric(D, "the label metric")
    arrays = {}
    for split in ("train", "val"):
        x = _load_array(path / f"embeddings/{split}.npy", "an (n, d) float array")
        y = _load_array(path / f"embeddings/{split}_labels.npy", "an (n,) int array")
        if x.ndim != 2 or not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"embeddings/{split}.npy must be a 2-D float array (n, d), got {x.shape} {x.dtype}")
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or len(y) != len(x):
            raise ValueError(f"embeddings/{split}_labels.npy must be {len(x)} integer labels, got {y.shape} {y.dtype}")
        if len(y) and (y.min() < 0 or y.max() >= N):
            raise ValueError(f"embeddings/{split}_labels.npy labels must lie in [0, {N - 1}], "
                             f"got range [{y.min()}, {y.max()}]")
        arrays[split] = (torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64))
    if arrays["train"][0].shape[1] != arrays["val"][0].shape[1]:
        raise ValueError(f"train and val embeddings must have the same dimension, got "
                         f"{arrays['train'][0].shape[1]} and {arrays['val'][0].shape[1]}")
    return LabelGraphEmbeddings(*arrays["train"], *arrays["val"], classes=classes, D=D)
