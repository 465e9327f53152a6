"""Compiled scorers: a registered model's fast path for scores and exact contributions.

LightGBM models are compiled once, when registered, into a C library (straight-line trees,
exact TreeSHAP) that is kept inside the MLflow model with the model's hash; the logistic
model is reduced to arrays (no ColumnTransformer at scoring time).

    scorer = compile_model(model)          # TreeScorer, LinearScorer, or None without a compiler
    scorer.raw_score(model.matrix(table))      # == the model's own raw score
    scorer.contributions(model.matrix(table))  # (contributions, base value): exact SHAP / linear
"""

from riskengine.compiled._linear import LinearScorer
from riskengine.compiled._scorer import TreeScorer, compile_model
from riskengine.compiled._trees import CompileError, CompiledTrees, compile_or_none, compiler
from riskengine.compiled._forest import UnsupportedModel, model_hash

__all__ = ["CompileError", "CompiledTrees", "LinearScorer", "TreeScorer", "UnsupportedModel", "compile_model",
           "compile_or_none", "compiler", "model_hash"]
