"""Evaluate how well a model follows mosaic instructions: build prompts, generate, score by rules."""

from mosaicit.eval.build import BuildResult, build_evalset, write_evalset
from mosaicit.eval.checks import REGISTRY, Options, Verdict, check_response, register
from mosaicit.eval.evalset import EvalItem, read_evalset
from mosaicit.eval.generate import generate_answers
from mosaicit.eval.plugins import load_checks
from mosaicit.eval.score import Report, format_report, score_answers

load_checks()  # the checks that the strategies declare (Strategy.eval_checks), built-in or not

__all__ = [
    "REGISTRY",
    "BuildResult",
    "EvalItem",
    "Options",
    "Report",
    "Verdict",
    "build_evalset",
    "check_response",
    "format_report",
    "generate_answers",
    "read_evalset",
    "register",
    "score_answers",
    "write_evalset",
]
