"""Training: labelled rows over time, temporal splits, candidates against baselines, a champion."""

from riskengine.training._calibration import Calibration, calibrate_champion
from riskengine.training._candidates import Candidate, baseline_scores, expand_grid
from riskengine.training._metrics import positives_at_k, precision_recall_at_k, ranking_metrics
from riskengine.training._rows import as_of_dates, case_rows, distinct_cases, label_rows
from riskengine.training._select import Choice, choose_champion
from riskengine.training._splits import Split, make_splits, temporal_splits
from riskengine.training._train import Fitted, TrainingResult, fit_pipeline, load_training_spec, train

__all__ = ["train", "TrainingResult", "fit_pipeline", "Fitted", "load_training_spec", "temporal_splits", "Split",
           "make_splits", "label_rows", "case_rows", "distinct_cases", "as_of_dates", "positives_at_k", "precision_recall_at_k",
           "ranking_metrics", "Candidate", "expand_grid", "baseline_scores", "Choice", "choose_champion",
           "Calibration", "calibrate_champion"]
