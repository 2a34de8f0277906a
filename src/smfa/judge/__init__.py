"""The optional judge: 0-10 fact and meaningfulness scores from a judge model.

`make_judge` turns a spec (`eval.judge`) into a backend: `HttpJudge` for an OpenAI-compatible
endpoint ("http://host:8000/v1@MODEL"), `HfJudge` for a local model directory. The plain probe
calls `add_judge_scores` when `eval.judge` is set; nothing here runs by default. docs/judge.md
describes the prompts, scales and settings.
"""

from smfa.judge.base import Judge, PromptJudge, parse_score
from smfa.judge.hf import HfJudge
from smfa.judge.http import HttpJudge
from smfa.judge.wire import add_judge_scores, check_spec, judge_from_config, make_judge

__all__ = [
    "HfJudge",
    "HttpJudge",
    "Judge",
    "PromptJudge",
    "add_judge_scores",
    "check_spec",
    "judge_from_config",
    "make_judge",
    "parse_score",
]
