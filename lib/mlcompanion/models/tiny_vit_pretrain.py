"""Pre-train the ci tiny ViT of semantic_proxies on glyph classes disjoint from its metric-learning classes.

semantic_proxies (Ren et al., ICLR 2024, arXiv 2402.02340) fine-tunes a *pre-trained, frozen* ViT
(timm in21k ViT-S/16, ViT-B/16). The ci stand-in is ``TinyViT`` (d = 64, depth 4, 4 heads, patch 4,
16 x 16 grey glyphs) trained here with cross-entropy on the ``PRETRAIN_CLASSES`` = 40 glyph classes
of ``pretraining_glyphs()``; the metric-learning classes (``mlcompanion.semantic_proxies.dml_glyphs``)
are the other 88 characters, so the backbone never saw a DML class.

Run ``python -m mlcompanion.models.tiny_vit_pretrain [--out PATH]``: one thread, deterministic
(``make_deterministic(0)``), about 140 s of one CPU thread; it writes ``{"config",
"state_dict"}`` with ``torch.save`` and prints the file's SHA-256 (the value of
``mlcompanion.models.tiny_vit.TINY_VIT_GLYPHS_SHA256``). ``tests/test_semantic_proxies.py`` re-runs
its first ``PREFIX_STEPS`` steps and checks their ``state_digest`` against ``PREFIX_DIGEST``; with
``MLCOMPANION_FULL_PRETRAIN_TEST=1`` it re-runs it all and checks every tensor against the shipped file.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import torch
import torch.nn.functional as F

from ..data.glyphs import load_glyphs
from ..repro import make_deterministic
from .tiny_vit import TINY_VIT_GLYPHS_CONFIG, TINY_VIT_GLYPHS_PATH, TinyViT, file_sha256

__all__ = ["PRETRAIN_CLASSES", "GLYPH_SPLIT_SEED", "PRETRAIN_SETTINGS", "PREFIX_STEPS", "PREFIX_DIGEST",
           "pretraining_glyphs", "pretrain_tiny_vit", "state_digest", "save_checkpoint", "main"]

PRETRAIN_CLASSES = 40
GLYPH_SPLIT_SEED = 0
#: steps, batch, AdamW lr / weight decay, seed, data seed, augmented copies per font (plus the clean render)
PRETRAIN_SETTINGS = dict(steps=2000, batch_size=64, lr=3e-3, weight_decay=0.0, seed=0, data_seed=1000, n_augments=3)
#: The bit-exact prefix the fast test re-runs: the state after the first PREFIX_STEPS steps of the full
#: schedule (the one-cycle rate depends on the total, so this is a prefix of the shipped run, not a
#: shorter run), digested by ``state_digest``. The full run takes about 140 s of one thread, too long for
#: the default test run; ``MLCOMPANION_FULL_PRETRAIN_TEST=1`` makes the test rebuild the whole file.
PREFIX_STEPS = 300
PREFIX_DIGEST = "e7912a2928af92ed416b1d49685b4390f39c3cd46d9c4f4b147db0719b044049"


def pretraining_glyphs(image_size: int = 16, n_augments: int = 3, seed: int = 1000):
    """The pre-training split: ``PRETRAIN_CLASSES`` glyph classes (``load_glyphs``'s train split with
    ``split_seed = GLYPH_SPLIT_SEED``); the remaining 88 classes are its test split, which
    ``mlcompanion.semantic_proxies.dml_glyphs`` divides into DML-train and DML-test."""
    data = load_glyphs(n_train_classes=PRETRAIN_CLASSES, n_test_classes=128 - PRETRAIN_CLASSES,
                       n_augments=n_augments, image_size=image_size, seed=seed, split_seed=GLYPH_SPLIT_SEED,
                       include_clean=True)
    return data.train


def state_digest(state_dict) -> str:
    """SHA-256 over the sorted names, dtypes, shapes and bytes of a state dict (independent of torch.save)."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def pretrain_tiny_vit(steps: int | None = None, log_every: int = 0, stop_after: int | None = None) -> TinyViT:
    """Cross-entropy pre-training of ``TinyViT(**TINY_VIT_GLYPHS_CONFIG)`` (with a head) on the
    pre-training glyphs (the clean render and ``n_augments`` augmented renders per font); each batch
    is drawn uniformly at random; AdamW with a one-cycle learning rate. Deterministic on one thread.
    (Re-augmenting every batch on the fly was measured slower to learn in this step budget: training
    accuracy 0.28 against 0.75 after 600 steps.) ``stop_after`` ends the run early without changing the
    schedule (the bit-exact prefix the fast test checks)."""
    s = dict(PRETRAIN_SETTINGS)
    if steps is not None:
        s["steps"] = int(steps)
    make_deterministic(s["seed"])
    split = pretraining_glyphs(TINY_VIT_GLYPHS_CONFIG["image_size"], s["n_augments"], s["data_seed"])
    x_all, y_all = split.images, split.labels
    vit = TinyViT(**TINY_VIT_GLYPHS_CONFIG, num_classes=PRETRAIN_CLASSES)
    opt = torch.optim.AdamW(vit.parameters(), lr=s["lr"], weight_decay=s["weight_decay"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=s["lr"], total_steps=s["steps"], pct_start=0.1)
    gen = torch.Generator().manual_seed(s["seed"] + 1)
    vit.train()
    for step in range(s["steps"] if stop_after is None else min(int(stop_after), s["steps"])):
        idx = torch.randint(len(y_all), (s["batch_size"],), generator=gen)
        x = x_all[idx]
        loss = F.cross_entropy(vit(x), y_all[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if log_every and (step + 1) % log_every == 0:
            print(f"step {step + 1}: loss {loss.item():.3f}", flush=True)
    return vit.eval()


def save_checkpoint(vit: TinyViT, path) -> str:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().clone().contiguous() for k, v in vit.state_dict().items()}
    torch.save({"config": dict(TINY_VIT_GLYPHS_CONFIG), "state_dict": state}, path)
    return file_sha256(path)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(TINY_VIT_GLYPHS_PATH), help="checkpoint path (default: the shipped one)")
    parser.add_argument("--log-every", type=int, default=100)
    args = parser.parse_args(argv)
    vit = pretrain_tiny_vit(log_every=args.log_every)
    digest = save_checkpoint(vit, args.out)
    print(f"wrote {args.out}\nsha256 {digest}")
    return digest


if __name__ == "__main__":
    main()
