"""Word-level language-modelling corpora from a local folder, as n-gram (context -> next word)
classification data: the paper profile of ``z_loss`` (de Brébisson & Vincent, arXiv:1604.08859,
who train a 10-gram MLP language model on Penn Treebank and One Billion Word).

Nothing is downloaded. Expected layouts under ``data_root``:

``ptb`` (Penn Treebank, Mikolov's pre-processed version: 10k words, ``<unk>`` already in the text;
http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz, folder ``simple-examples/data``)::

    data_root/ptb/ptb.train.txt
    data_root/ptb/ptb.valid.txt
    data_root/ptb/ptb.test.txt

``1b_words`` (One Billion Word benchmark, Chelba et al. 2014;
https://www.statmt.org/lm-benchmark/1-billion-word-language-modeling-benchmark-r13output.tar.gz)::

    data_root/1b_words/training-monolingual.tokenized.shuffled/news.en-000{01..99}-of-00100
    data_root/1b_words/heldout-monolingual.tokenized.shuffled/news.en.heldout-000{00..49}-of-00050

For ``1b_words`` the usual convention is followed: ``test`` is held-out shard 00000; ``valid`` is
shard 00001 (our choice; the paper does not say which shard it validated on).

Each line is one sentence of space-separated tokens; an end-of-sentence token ``<eos>`` is appended
to every line and the lines are concatenated into one stream (the usual PTB convention).
Out-of-vocabulary words map to ``<unk>``.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import torch
from torch.utils.data import Dataset, TensorDataset

from .folders import DatasetNotFoundError

__all__ = ["WORD_CORPORA", "check_word_corpus", "corpus_files", "read_tokens", "Vocabulary", "NGramWindows",
           "load_word_corpus"]

EOS, UNK = "<eos>", "<unk>"

WORD_CORPORA = {
    "ptb": {
        "title": "Penn Treebank (Mikolov's pre-processed version)",
        "url": "http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz (folder simple-examples/data)",
        "folder": "ptb",
        "tree": "data_root/ptb/ptb.train.txt, ptb.valid.txt, ptb.test.txt",
    },
    "1b_words": {
        "title": "One Billion Word benchmark",
        "url": "https://www.statmt.org/lm-benchmark/1-billion-word-language-modeling-benchmark-r13output.tar.gz",
        "folder": "1b_words",
        "tree": ("data_root/1b_words/training-monolingual.tokenized.shuffled/news.en-000NN-of-00100 and "
                 "data_root/1b_words/heldout-monolingual.tokenized.shuffled/news.en.heldout-000NN-of-00050"),
    },
}
_SPLITS = ("train", "valid", "test")


def _not_found(name: str, data_root, problem: str) -> DatasetNotFoundError:
    info = WORD_CORPORA[name]
    return DatasetNotFoundError(
        f"{info['title']} ({name!r}) not found: {problem}. Given data_root={str(data_root)!r}. "
        f"Download it from {info['url']} and arrange it as {info['tree']}."
    )


def corpus_files(name: str, data_root, split: str) -> list[Path]:
    """The text files of ``split`` (``train``, ``valid``, ``test``) of corpus ``name``; raises
    :class:`DatasetNotFoundError` naming the corpus, its URL and the expected tree when absent."""
    if name not in WORD_CORPORA:
        raise ValueError(f"name must be one of {sorted(WORD_CORPORA)}, got {name!r}")
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
    if data_root is None:
        raise _not_found(name, data_root, "data_root is None; pass the folder that holds the corpus folder")
    root = Path(os.fspath(data_root)).expanduser() / WORD_CORPORA[name]["folder"]
    if not root.is_dir():
        raise _not_found(name, data_root, f"the folder {str(root)!r} does not exist")
    if name == "ptb":
        files = [root / f"ptb.{split}.txt"]
    elif split == "train":
        files = sorted((root / "training-monolingual.tokenized.shuffled").glob("news.en-*-of-00100"))
    else:
        shard = "00000" if split == "test" else "00001"
        files = [root / "heldout-monolingual.tokenized.shuffled" / f"news.en.heldout-{shard}-of-00050"]
    missing = [str(f) for f in files if not f.is_file()]
    if not files or missing:
        raise _not_found(name, data_root, f"no {split} file found (missing: {missing or 'every training shard'})")
    return files


def check_word_corpus(name: str, data_root) -> Path:
    """Check that every split of corpus ``name`` is present (reads nothing); returns its folder."""
    for split in _SPLITS:
        corpus_files(name, data_root, split)
    return Path(os.fspath(data_root)).expanduser() / WORD_CORPORA[name]["folder"]


def read_tokens(files, max_lines: int | None = None) -> list[str]:
    """Tokens of the files, one ``<eos>`` after every non-empty line, at most ``max_lines`` lines."""
    tokens: list[str] = []
    n = 0
    for path in files:
        with open(path, "r", encoding="utf-8") as f:
            for line in f:
                words = line.split()
                if not words:
                    continue
                tokens.extend(words)
                tokens.append(EOS)
                n += 1
                if max_lines is not None and n >= max_lines:
                    return tokens
    return tokens


class Vocabulary:
    """Word <-> id. ``build`` keeps the ``max_size`` most frequent words (ties by first appearance),
    always with ``<unk>`` and ``<eos>``; ``encode`` maps unknown words to ``<unk>``."""

    def __init__(self, words):
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("words must be distinct")
        for special in (UNK, EOS):
            if special not in self.index:
                raise ValueError(f"the vocabulary must contain {special!r}")

    @classmethod
    def build(cls, tokens, max_size: int | None = None) -> "Vocabulary":
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 2):
            raise ValueError(f"max_size must be an int >= 2 or None, got {max_size!r}")
        counts = Counter(tokens)
        ranked = [w for w, _ in counts.most_common() if w not in (UNK, EOS)]
        keep = ranked if max_size is None else ranked[: max_size - 2]
        return cls([UNK, EOS] + keep)

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, tokens) -> torch.Tensor:
        unk = self.index[UNK]
        return torch.tensor([self.index.get(t, unk) for t in tokens], dtype=torch.int64)


class NGramWindows(Dataset):
    """Items ``(stream[i : i + context], stream[i + context])``: the ``context`` previous words and the
    next word, for every position of an int64 token stream (windows cross sentence boundaries, where
    ``<eos>`` marks the break). ``as_tensor_dataset()`` materialises all windows (fast in-memory
    training; ``context + 1`` int64 per token, fine for PTB, too large for One Billion Word)."""

    def __init__(self, stream: torch.Tensor, context: int):
        if not isinstance(stream, torch.Tensor) or stream.dim() != 1 or stream.dtype != torch.int64:
            raise ValueError(f"stream must be a 1-D int64 tensor, got {stream!r:.80}")
        if isinstance(context, bool) or not isinstance(context, int) or context < 1:
            raise ValueError(f"context must be a positive int, got {context!r}")
        if stream.numel() <= context:
            raise ValueError(f"stream must be longer than context={context}, got {stream.numel()} tokens")
        self.stream, self.context = stream, context

    def __len__(self) -> int:
        return self.stream.numel() - self.context

    def __getitem__(self, i: int):
        return self.stream[i : i + self.context], self.stream[i + self.context]

    def as_tensor_dataset(self) -> TensorDataset:
        windows = self.stream.unfold(0, self.context + 1, 1)
        return TensorDataset(windows[:, :-1].contiguous(), windows[:, -1].contiguous())


def load_word_corpus(name: str, data_root, context: int = 10, max_vocab: int | None = None,
                     max_lines: int | None = None):
    """Vocabulary (built on train) and ``{split: NGramWindows}`` for ``train``, ``valid``, ``test``.

    ``max_vocab`` caps the vocabulary (None: every training word; PTB has 10,000 with ``<eos>``);
    ``max_lines`` caps the lines read per split (for a smoke run on One Billion Word).
    """
    check_word_corpus(name, data_root)
    tokens = {s: read_tokens(corpus_files(name, data_root, s), max_lines) for s in _SPLITS}
    vocab = Vocabulary.build(tokens["train"], max_vocab)
    return vocab, {s: NGramWindows(vocab.encode(t), context) for s, t in tokens.items()}
