"""Episodic few-shot experiments (susana_distancia): train every loss arm over several seeds with
``mlcompanion.train.train_embedding`` on class-grouped episodes, validate on few-shot episodes of
held-out *training* classes (stopping at a plateau), and test nearest-prototype N-way K-shot
accuracy on unseen classes, with the 95 % CI over test episodes computed per seed.

* ``TrainRegime(way, shot, query)``: the training episodes of one model. A paper may train a
  separate model per test setting (susana_distancia: way 30 / 1 shot for 1-shot testing, way 20 /
  5 shots for 5-shot testing); ``run_fewshot_arms(regimes={1: r1, 5: r5})`` then trains one model
  per regime and tests each setting with its own model. Settings that share a regime share a model.
* ``episode_validator(val_set, way, shot, query, episodes, seed)``: ``validate(model) -> accuracy``
  on fixed episodes of a validation split (``mlcompanion.data.holdout_classes``).

Import by full module path: ``from mlcompanion.fewshot_train import run_fewshot_arms``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import pandas as pd
from torch import nn

from .metrics.fewshot import fewshot_eval
from .repro import make_deterministic
from .train import TrainConfig, TrainResult, embed, train_embedding
from .validation import check_int

__all__ = ["TrainRegime", "episode_validator", "run_fewshot_arms"]


@dataclass(frozen=True)
class TrainRegime:
    """Training episodes: ``way`` classes x (``shot`` supports + ``query`` queries)."""

    way: int
    shot: int
    query: int

    def __post_init__(self):
        for name in ("way", "shot", "query"):
            check_int(getattr(self, name), name)

    @property
    def label(self) -> str:
        return f"train {self.way}w{self.shot}s"


def episode_validator(val_set, way: int = 5, shot: int = 1, query: int = 15, episodes: int = 200, seed: int = 0,
                      device: str = "cpu", num_workers: int = 0, distance="squared_euclidean"
                      ) -> Callable[[nn.Module], float]:
    """``validate(model)``: mean nearest-prototype accuracy on ``episodes`` fixed ``way``-way
    ``shot``-shot episodes of ``val_set`` (embedded once per call; ``distance`` as ``fewshot_eval``'s)."""
    for name, value in (("way", way), ("shot", shot), ("query", query), ("episodes", episodes)):
        check_int(value, name)

    def validate(model: nn.Module) -> float:
        emb, labels = embed(model, val_set, device=device, num_workers=num_workers)
        return float(fewshot_eval(emb, labels, way=way, shot=shot, query=query, episodes=episodes, seed=seed,
                                  distance=distance)["acc"])

    return validate


def run_fewshot_arms(
    arms: Mapping[str, Callable[[int], nn.Module]],
    make_model: Callable[[], nn.Module],
    train_set, train_labels, test_set,
    cfg: TrainConfig,
    seeds: Sequence[int],
    regimes: Mapping[int, TrainRegime],
    *,
    test_way: int = 5,
    test_query: int = 15,
    test_episodes: int = 600,
    eval_seed: int = 0,
    validator: Callable[[int], Callable[[nn.Module], float]] | None = None,
    icnn_seed: int | None = None,
    icnn_k: int = 4,
    on_step: Mapping[str, Callable] | None = None,
) -> tuple[pd.DataFrame, dict[tuple[str, int], TrainResult], dict, dict[str, str]]:
    """Train and test every (arm, seed, regime).

    Args:
        arms: name -> ``make_loss(train_shot)`` (e.g. ``EpisodicProtoLoss(shot=train_shot, terms=...)``).
        make_model: a fresh network (called right after ``make_deterministic(seed)``, so every arm of a
            seed starts from the same weights and sees the same training episodes).
        cfg: the shared training settings; ``classes_per_batch`` / ``samples_per_class`` are replaced
            by each regime's way / shot + query.
        regimes: test shot -> the ``TrainRegime`` of the model tested in that setting.
        validator: ``validator(test_shot) -> validate(model)`` used while training a regime (with the
            smallest test shot the regime serves); needed when ``cfg.eval_every > 0``.
        icnn_seed: for this seed, also the ICNN score of every test episode (``fewshot_eval(with_icnn=True)``).
        on_step: arm -> ``f(step, embeddings, labels)`` callback for ``train_embedding``.

    Returns ``(runs, results, evals, run_label)``: ``runs`` has one row per (arm, seed, setting)
    with ``acc`` (mean over test episodes), ``ci95`` (1.96 std / sqrt(episodes), this seed's),
    ``regime``, ``iterations`` and ``train_seconds``; ``results[(label, seed)]`` is the
    ``TrainResult`` of each trained model, where ``label`` is the arm name (one regime) or
    ``"arm (train 20w5s)"`` (several); ``evals[(arm, seed, shot)]`` is ``fewshot_eval``'s output;
    ``run_label[label]`` gives the arm of each label.
    """
    if not arms:
        raise ValueError("arms must name at least one loss")
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    if not regimes or not all(isinstance(r, TrainRegime) for r in regimes.values()):
        raise ValueError(f"regimes must map each test shot to a TrainRegime, got {regimes!r}")
    for shot in regimes:
        check_int(shot, "test shot")
    if cfg.eval_every and validator is None:
        raise ValueError("cfg.eval_every > 0 needs a validator (episodes of held-out training classes)")
    distinct = list(dict.fromkeys(regimes.values()))
    rows, results, evals, run_label = [], {}, {}, {}
    for name, make_loss in arms.items():
        for seed in seeds:
            for regime in distinct:
                shots = sorted(s for s, r in regimes.items() if r == regime)
                label = name if len(distinct) == 1 else f"{name} ({regime.label})"
                run_label[label] = name
                make_deterministic(int(seed))
                model = make_model()
                loss = make_loss(regime.shot)
                run_cfg = replace(cfg, classes_per_batch=regime.way, samples_per_class=regime.shot + regime.query)
                validate = validator(shots[0]) if (validator is not None and cfg.eval_every) else None
                result = train_embedding(model, loss, train_set, train_labels, run_cfg, seed=int(seed),
                                         on_step=(on_step or {}).get(name), desc=f"{label} seed {seed}",
                                         validate=validate)
                emb, lab = embed(model, test_set, device=cfg.device, num_workers=cfg.num_workers)
                for shot in shots:
                    ev = fewshot_eval(emb, lab, way=test_way, shot=shot, query=test_query, episodes=test_episodes,
                                      seed=eval_seed, with_icnn=(icnn_seed is not None and int(seed) == icnn_seed),
                                      icnn_k=icnn_k)
                    evals[(name, int(seed), shot)] = ev
                    rows.append({"arm": name, "seed": int(seed), "setting": f"{test_way}w{shot}s", "acc": ev["acc"],
                                 "ci95": ev["ci"], "regime": regime.label, "iterations": result.iterations,
                                 "train_seconds": result.seconds})
                results[(label, int(seed))] = result
    return pd.DataFrame(rows), results, evals, run_label
