"""Compiled LightGBM trees: raw scores and exact TreeSHAP from a C library built once per model.

    compiled = CompiledTrees.from_booster(booster)   # at registration (gcc, a few seconds)
    compiled.raw_score(X)                            # == booster.predict(X, raw_score=True)
    compiled.contributions(X)                        # == booster.predict(X, pred_contrib=True)
"""

from riskengine.trees._compile import CompileError, CompiledTrees, compile_or_none, compiler
from riskengine.trees._forest import UnsupportedModel, model_hash

__all__ = ["CompileError", "CompiledTrees", "UnsupportedModel", "compile_or_none", "compiler", "model_hash"]
