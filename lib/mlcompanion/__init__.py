"""The metric-learning paper companion: losses, distances, metrics and data for 32 papers.

Import what you need from the submodules, e.g. ``from mlcompanion.losses import MultiSimilarityLoss``.
"""

__version__ = "0.1.0"
