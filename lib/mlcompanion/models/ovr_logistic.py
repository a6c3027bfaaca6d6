"""The one-vs-rest logistic-regression head of paper ``loki`` (Roberts et al., "Geometry-Aware Adaptation
for Pretrained Models", NeurIPS 2023, arXiv:2307.12226).

The official uniform-sampler experiment (``simclr_imagenet/scripts/simclr_uniform_exp.py``) fits
``OneVsRestClassifier(LogisticRegression(random_state=0, max_iter=500))`` from scikit-learn on frozen
embeddings of the K observed classes and passes ``predict_proba`` to the Fréchet rule. This module is
that head, unchanged, with its convergence reported: each of the K binary problems minimises

    0.5 ||w||² + C Σ_n log(1 + exp(-s_n (w·x_n + b)))        (s_n = +1 for the class, -1 otherwise;
                                                              the intercept b is not penalised)

with L-BFGS, and the K sigmoid outputs are divided by their sum (scikit-learn's ``predict_proba`` for a
single-label problem), so each row is a probability vector over the observed classes. It is a convex
problem: "converged" means every binary fit stopped before ``max_iter`` (scikit-learn's own
``ConvergenceWarning`` criterion), not a validation plateau.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["OvRHead", "fit_ovr_logistic"]


@dataclass
class OvRHead:
    """A fitted head: ``predict_proba(x)`` gives ``(n, K)`` float64 probabilities whose column ``i`` is
    ``classes[i]`` (sorted labels); ``n_iter`` is the most L-BFGS iterations any binary problem used,
    ``converged`` whether all stopped before ``max_iter``."""

    model: object
    classes: torch.Tensor
    n_iter: int
    max_iter: int
    converged: bool

    def predict_proba(self, x) -> torch.Tensor:
        x = _as_features(x, "x")
        n_features = self.model.estimators_[0].coef_.shape[1]
        if x.shape[1] != n_features:
            raise ValueError(f"x must have {n_features} features (as the training data), got {x.shape[1]}")
        return torch.from_numpy(self.model.predict_proba(x)).to(torch.float64)


def _as_features(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        if not x.is_floating_point():
            raise ValueError(f"{name} must be floating-point features (n, d), got dtype {x.dtype}")
        x = x.detach().cpu().to(torch.float64).numpy()
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0 or not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name} must be a non-empty floating (n, d) array, got shape {x.shape} dtype {x.dtype}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} must be finite")
    return x.astype(np.float64, copy=False)


def fit_ovr_logistic(x, y, C: float = 1.0, max_iter: int = 500, random_state: int = 0, tol: float = 1e-4) -> OvRHead:
    """Fit the official head (see the module docstring) on features ``x`` (n, d) and labels ``y`` (n,).

    ``y`` holds at least 3 distinct labels (scikit-learn fits a single binary problem for 2 classes,
    which is not one-vs-rest); they become the sorted ``classes`` of the result. No
    ``ConvergenceWarning`` is raised: read ``converged``. ``tol`` is scikit-learn's stopping tolerance
    (its default, as in the official code).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    x = _as_features(x, "x")
    y = np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y)
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must be {len(x)} integer labels (one per row of x), got shape {y.shape} dtype {y.dtype}")
    classes = np.unique(y)
    if len(classes) < 3:
        raise ValueError(f"one-vs-rest needs at least 3 classes, got {len(classes)}: {classes.tolist()}")
    if not isinstance(C, (int, float)) or isinstance(C, bool) or not np.isfinite(C) or C <= 0:
        raise ValueError(f"C must be a finite positive number (inverse L2 strength), got {C!r}")
    if not isinstance(max_iter, int) or isinstance(max_iter, bool) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive int, got {max_iter!r}")
    if not isinstance(tol, (int, float)) or isinstance(tol, bool) or not tol > 0:
        raise ValueError(f"tol must be a positive number, got {tol!r}")
    model = OneVsRestClassifier(LogisticRegression(C=float(C), max_iter=max_iter, random_state=random_state, tol=float(tol)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, y)
    n_iter = max(int(np.max(est.n_iter_)) for est in model.estimators_)
    return OvRHead(model, torch.from_numpy(classes.astype(np.int64)), n_iter, max_iter, n_iter < max_iter)
