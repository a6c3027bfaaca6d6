"""Tests of mlcompanion.data.word_corpora (the z_loss paper profile's PTB / One Billion Word reader) on tiny
fake folders built here."""

import pytest
import torch

from mlcompanion.data.folders import DatasetNotFoundError
from mlcompanion.data.word_corpora import NGramWindows, Vocabulary, check_word_corpus, corpus_files, load_word_corpus


def _fake_ptb(root):
    d = root / "ptb"
    d.mkdir()
    (d / "ptb.train.txt").write_text(" the cat sat \n the dog sat on the mat \n\n")
    (d / "ptb.valid.txt").write_text(" the bird sat \n")
    (d / "ptb.test.txt").write_text(" a cat \n")
    return root


def _fake_1b(root):
    tr = root / "1b_words" / "training-monolingual.tokenized.shuffled"
    ho = root / "1b_words" / "heldout-monolingual.tokenized.shuffled"
    tr.mkdir(parents=True)
    ho.mkdir(parents=True)
    (tr / "news.en-00001-of-00100").write_text("a b c\n")
    (tr / "news.en-00002-of-00100").write_text("b c d\n")
    (ho / "news.en.heldout-00000-of-00050").write_text("c d\n")
    (ho / "news.en.heldout-00001-of-00050").write_text("d a\n")
    return root


def test_ptb_windows_and_vocabulary(tmp_path):
    vocab, splits = load_word_corpus("ptb", _fake_ptb(tmp_path), context=2)
    # train tokens: the cat sat <eos> the dog sat on the mat <eos>  (the blank line is skipped)
    assert vocab.words[:4] == ["<unk>", "<eos>", "the", "sat"]
    assert len(vocab) == 2 + 6
    train = splits["train"]
    assert len(train) == 11 - 2
    ctx, nxt = train[0]
    assert vocab.words[nxt] == "sat" and [vocab.words[i] for i in ctx] == ["the", "cat"]
    td = train.as_tensor_dataset()
    assert td.tensors[0].shape == (9, 2) and torch.equal(td.tensors[1][0], nxt)
    assert torch.equal(td.tensors[0][5], train[5][0])
    # unknown words become <unk>
    test_ids = splits["test"].stream.tolist()
    assert test_ids == [vocab.index["<unk>"], vocab.index["cat"], vocab.index["<eos>"]]


def test_vocabulary_cap():
    v = Vocabulary.build("a a a b b c".split(), max_size=3)
    assert v.words == ["<unk>", "<eos>", "a"]
    assert v.encode(["a", "c"]).tolist() == [2, 0]
    with pytest.raises(ValueError, match="max_size"):
        Vocabulary.build(["a"], max_size=1)


def test_one_billion_word_layout(tmp_path):
    root = _fake_1b(tmp_path)
    assert [f.name for f in corpus_files("1b_words", root, "train")] == ["news.en-00001-of-00100",
                                                                        "news.en-00002-of-00100"]
    assert corpus_files("1b_words", root, "test")[0].name.startswith("news.en.heldout-00000")
    vocab, splits = load_word_corpus("1b_words", root, context=1, max_lines=1)
    assert splits["train"].stream.numel() == 4  # a b c <eos>: only the first line read


def test_missing_data_fails_clearly(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="Penn Treebank.*does not exist.*simple-examples"):
        check_word_corpus("ptb", tmp_path)
    with pytest.raises(DatasetNotFoundError, match="data_root is None"):
        check_word_corpus("ptb", None)
    _fake_ptb(tmp_path)
    (tmp_path / "ptb" / "ptb.valid.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match="ptb.valid.txt"):
        check_word_corpus("ptb", tmp_path)
    (tmp_path / "1b_words").mkdir()
    with pytest.raises(DatasetNotFoundError, match="One Billion Word.*every training shard"):
        check_word_corpus("1b_words", tmp_path)
    with pytest.raises(ValueError, match="name must be one of"):
        check_word_corpus("wikitext", tmp_path)


def test_bad_windows():
    with pytest.raises(ValueError, match="context"):
        NGramWindows(torch.arange(5), 0)
    with pytest.raises(ValueError, match="longer than context"):
        NGramWindows(torch.arange(3), 3)
    with pytest.raises(ValueError, match="int64"):
        NGramWindows(torch.arange(5.0), 2)
