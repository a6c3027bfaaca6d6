"""Text for language-model probes (``representation_geometry``: Li et al., NeurIPS 2025,
arXiv:2509.23024).

ci profile, nothing to download:

* :func:`pydoc_corpus`: a deterministic word-level token stream of the English help text that ships
  with CPython (``pydoc_data.topics``): topics in sorted key order, lower-cased, tokens
  ``[a-z_]+ | [0-9]+ | one punctuation character``; vocabulary = the ``vocab_size - 1`` most
  frequent tokens (ties broken alphabetically) + ``<unk>`` (id 0). On CPython 3.11 this is 114,286
  tokens and a 2,000-word vocabulary covers 98.1 % of them (the text changes with the Python version).
* :func:`pydoc_sentences`: deterministic English sentences of the same text (for sentence encoders).

paper profile, read from ``data_root`` (see :data:`LM_LAYOUT`):

* :func:`find_lm_checkpoints`: the local Hugging Face checkpoint folders of one model, one per
  training step (``pythia-160m/step1000/``, ``olmo-2-1b/stage1-step1000/``).
* :func:`load_probe_texts`: FineWeb sample text from ``*.jsonl`` (or ``*.parquet`` when pyarrow is
  installed) with a ``text`` field.
Both raise :class:`mlcompanion.data.folders.DatasetNotFoundError` naming what is missing, where to get it and
the expected tree.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from .folders import DatasetNotFoundError

__all__ = [
    "TOKEN_PATTERN",
    "TextCorpus",
    "pydoc_text",
    "tokenize_words",
    "pydoc_corpus",
    "pydoc_sentences",
    "LM_LAYOUT",
    "PYTHIA_STEPS",
    "find_lm_checkpoints",
    "load_probe_texts",
]

TOKEN_PATTERN = re.compile(r"[a-z_]+|[0-9]+|[^\sa-z0-9_]")
UNK = "<unk>"


@dataclass(frozen=True)
class TextCorpus:
    """A token stream: ``ids`` (int64, one per token), ``vocab`` (id -> word, ``vocab[0] == "<unk>"``),
    ``coverage`` (fraction of tokens that are not ``<unk>``)."""

    ids: torch.Tensor
    vocab: list[str]
    coverage: float

    def __len__(self) -> int:
        return int(self.ids.numel())


def pydoc_text() -> str:
    """The help topics of ``pydoc_data.topics``, joined in sorted key order (blank line between topics)."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[k] for k in sorted(topics))


def tokenize_words(text: str) -> list[str]:
    """Lower-case ``text`` and split it into ``[a-z_]+``, ``[0-9]+`` and single punctuation tokens."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    return TOKEN_PATTERN.findall(text.lower())


def pydoc_corpus(vocab_size: int = 2000) -> TextCorpus:
    """Word-level token ids of ``pydoc_data.topics`` with a ``vocab_size`` vocabulary (``<unk>`` included);
    the ci text of ``representation_geometry`` (brief: V = 2000, 114,286 tokens on CPython 3.11)."""
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 2:
        raise ValueError(f"vocab_size must be an int >= 2 (the words plus <unk>), got {vocab_size!r}")
    tokens = tokenize_words(pydoc_text())
    counts = Counter(tokens)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: vocab_size - 1]
    vocab = [UNK] + [w for w, _ in ranked]
    index = {w: i for i, w in enumerate(vocab)}
    ids = torch.tensor([index.get(t, 0) for t in tokens], dtype=torch.int64)
    coverage = float((ids != 0).double().mean())
    return TextCorpus(ids=ids, vocab=vocab, coverage=coverage)


def pydoc_sentences(n: int, min_words: int = 8, max_words: int = 40) -> list[str]:
    """``n`` English sentences of ``pydoc_data.topics``, evenly spaced over the text, deterministic.

    Paragraphs (split at blank lines) that look like prose (no ``>>>`` prompt, no line indented by
    4+ spaces, i.e. no code) are split after ``.``, ``!`` or ``?`` followed by white space; sentences
    of ``min_words`` ... ``max_words`` white-space separated words are kept, then ``n`` of them are
    taken at evenly spaced positions."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if not (isinstance(min_words, int) and isinstance(max_words, int) and 1 <= min_words <= max_words):
        raise ValueError(f"need 1 <= min_words <= max_words, got {min_words!r}, {max_words!r}")
    sentences = []
    for para in re.split(r"\n\s*\n", pydoc_text()):
        if ">>>" in para or re.search(r"^ {4,}\S", para, flags=re.M):
            continue
        flat = " ".join(para.split())
        for s in re.split(r"(?<=[.!?])\s+", flat):
            if min_words <= len(s.split()) <= max_words:
                sentences.append(s)
    if len(sentences) < n:
        raise ValueError(f"asked for n={n} sentences of {min_words}-{max_words} words, the text has {len(sentences)}")
    picks = torch.linspace(0, len(sentences) - 1, n).round().long().tolist()
    if len(set(picks)) != n:
        raise ValueError(f"n={n} is too close to the {len(sentences)} available sentences for even spacing")
    return [sentences[i] for i in picks]


# ---------------------------------------------------------------- paper profile: local checkpoints and probe text

PYTHIA_STEPS = (0, 16, 64, 256, 512, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 143000)

LM_LAYOUT = {
    "title": "language-model checkpoints over training + FineWeb probe text",
    "checkpoints_url": ("https://huggingface.co/EleutherAI/pythia-160m (and pythia-410m, pythia-1b): revisions "
                        "step0, step16, ..., step143000; https://huggingface.co/allenai/OLMo-2-0425-1B: revisions "
                        "stage1-step<N>-tokens<K>B (stored as stage1-step<N>)"),
    "text_url": "https://huggingface.co/datasets/HuggingFaceFW/fineweb (sample-10BT)",
    "tree": ("data_root/checkpoints/<model>/step<N>/{config.json, model.safetensors or pytorch_model.bin, "
             "tokenizer files} (OLMo: data_root/checkpoints/<model>/stage1-step<N>/...) and "
             "data_root/fineweb_sample/*.jsonl or *.parquet with a 'text' field"),
}
_STEP_DIR = re.compile(r"^(?:stage\d+-)?step(\d+)(?:-tokens\d+B)?$")
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")


def _lm_not_found(problem: str, data_root) -> DatasetNotFoundError:
    return DatasetNotFoundError(
        f"{LM_LAYOUT['title']} not found: {problem}. Given data_root={str(data_root)!r}. Download the "
        f"checkpoints from {LM_LAYOUT['checkpoints_url']} and the probe text from {LM_LAYOUT['text_url']}; "
        f"expected layout: {LM_LAYOUT['tree']}."
    )


def find_lm_checkpoints(data_root, model: str, steps=None) -> dict[int, Path]:
    """``{step: folder}`` of the local checkpoints of ``model`` under ``data_root/checkpoints/<model>/``.

    A checkpoint folder is named ``step<N>`` (Pythia revisions) or ``stage<k>-step<N>[-tokens<K>B]``
    (OLMo-2 revisions) and holds ``config.json`` and a weights file. With ``steps`` given, every one
    of them must be present (else the error lists the missing revisions); otherwise every complete
    folder is returned, sorted by step. Two folders with the same step are an error.
    """
    if not isinstance(model, str) or not model or "/" in model:
        raise ValueError(f"model must be a folder name such as 'pythia-160m', got {model!r}")
    if data_root is None:
        raise _lm_not_found("data_root is None; pass the folder that holds checkpoints/ and fineweb_sample/", data_root)
    root = Path(os.fspath(data_root)).expanduser() / "checkpoints" / model
    if not root.is_dir():
        raise _lm_not_found(f"the folder {str(root)!r} does not exist", data_root)
    found: dict[int, Path] = {}
    incomplete = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        m = _STEP_DIR.match(folder.name)
        if not m:
            continue
        if not (folder / "config.json").is_file() or not any((folder / w).is_file() for w in _WEIGHT_FILES):
            incomplete.append(folder.name)
            continue
        step = int(m.group(1))
        if step in found:
            raise ValueError(f"two checkpoint folders for step {step} of {model}: {found[step].name} and {folder.name}")
        found[step] = folder
    if steps is not None:
        want = [int(s) for s in steps]
        missing = [s for s in want if s not in found]
        if missing:
            raise _lm_not_found(
                f"{model}: revisions {['step%d' % s for s in missing]} missing under {str(root)!r}"
                + (f" (incomplete folders without config.json or weights: {incomplete})" if incomplete else ""),
                data_root)
        return {s: found[s] for s in want}
    if not found:
        raise _lm_not_found(f"no complete step<N>/ folder (config.json + weights) under {str(root)!r}"
                            + (f"; incomplete: {incomplete}" if incomplete else ""), data_root)
    return dict(sorted(found.items()))


def load_probe_texts(data_root, n: int, min_chars: int = 1) -> list[str]:
    """The first ``n`` texts (files in sorted order) of ``data_root/fineweb_sample/`` with at least
    ``min_chars`` characters (the token-length filter, >= 32 tokens in the paper, is applied by the
    caller with the model's tokenizer)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if data_root is None:
        raise _lm_not_found("data_root is None", data_root)
    folder = Path(os.fspath(data_root)).expanduser() / "fineweb_sample"
    files = sorted(folder.glob("*.jsonl")) + sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if not files:
        raise _lm_not_found(f"no *.jsonl or *.parquet file in {str(folder)!r}", data_root)
    texts: list[str] = []
    for path in files:
        if path.suffix == ".jsonl":
            with open(path, encoding="utf-8") as f:
                rows = (json.loads(line) for line in f if line.strip())
                for row in rows:
                    if "text" not in row:
                        raise ValueError(f"{path}: every line must be a JSON object with a 'text' field, got keys {sorted(row)}")
                    if len(row["text"]) >= min_chars:
                        texts.append(row["text"])
                    if len(texts) == n:
                        return texts
        else:
            try:
                import pandas as pd

                frame = pd.read_parquet(path, columns=["text"])
            except ImportError as err:
                raise ValueError(f"reading {path} needs pyarrow or fastparquet ({err}); convert it to .jsonl") from None
            for t in frame["text"]:
                if len(t) >= min_chars:
                    texts.append(t)
                if len(texts) == n:
                    return texts
    raise _lm_not_found(f"only {len(texts)} texts of >= {min_chars} characters in {str(folder)!r}, {n} needed", data_root)
