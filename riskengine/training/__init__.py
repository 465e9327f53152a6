"""Training: labelled rows over time, temporal splits, candidates against baselines, a champion."""

from riskengine.training._metrics import positives_at_k, precision_recall_at_k, ranking_metrics
from riskengine.training._rows import as_of_dates, label_rows
from riskengine.training._splits import Split, temporal_splits
from riskengine.training._train import Fitted, TrainingResult, fit_pipeline, train

__all__ = ["train", "TrainingResult", "fit_pipeline", "Fitted", "temporal_splits", "Split", "label_rows", "as_of_dates",
           "positives_at_k", "precision_recall_at_k", "ranking_metrics"]
