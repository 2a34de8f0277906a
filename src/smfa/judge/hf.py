"""`HfJudge`: a judge model loaded from a local Hugging Face directory, decoding greedily.

The directory holds a causal language model (`AutoModelForCausalLM`) or, failing that, an
image-text-to-text model (`AutoModelForImageTextToText`, asked text only). Conversations go
through the tokenizer's chat template when it has one; otherwise each message is written as
"Role: content" and the prompt ends with "Assistant:". Only the newly generated tokens are
read. The model runs on the first CUDA device when there is one, else on the CPU, in the
dtype its config names. `trust_remote_code` stays off unless asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from smfa.errors import JudgeError
from smfa.judge.base import PromptJudge
from smfa.judge.prompts import Message


def plain_prompt(messages: Sequence[Message]) -> str:
    """A conversation as plain text, for tokenizers without a chat template."""
    turns = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n\n".join([*turns, "Assistant:"])


def _load(model_dir: Path, trust_remote_code: bool) -> tuple[Any, Any]:
    import transformers as tf

    options = {"trust_remote_code": trust_remote_code}
    weights = {**options, "dtype": "auto"}
    try:
        tokenizer = tf.AutoTokenizer.from_pretrained(model_dir, **options)
        return tf.AutoModelForCausalLM.from_pretrained(model_dir, **weights), tokenizer
    except (OSError, ValueError, KeyError) as causal_error:
        try:
            processor = tf.AutoProcessor.from_pretrained(model_dir, **options)
            model = tf.AutoModelForImageTextToText.from_pretrained(model_dir, **weights)
        except (OSError, ValueError, KeyError):
            raise JudgeError(
                f"judge model {model_dir}: not a loadable causal LM or image-text-to-text "
                f"model ({causal_error})"
            ) from None
        return model, getattr(processor, "tokenizer", processor)


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class HfJudge(PromptJudge):
    """Scores with a local model; `model` and `tokenizer` may be given instead of a directory."""

    def __init__(
        self,
        model_dir: str | Path,
        batch_size: int = 8,
        max_new_tokens: int = 16,
        trust_remote_code: bool = False,
        unparseable: str = "error",
        model: Any = None,
        tokenizer: Any = None,
    ) -> None:
        super().__init__(unparseable)
        self.model_dir = Path(model_dir)
        self.where = f"judge model {self.model_dir}"
        if model is None or tokenizer is None:
            if not self.model_dir.is_dir():
                raise JudgeError(f"judge model directory {self.model_dir} does not exist")
            model, tokenizer = _load(self.model_dir, trust_remote_code)
            model = model.to(_device())
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.batch_size = max(1, batch_size)
        self.max_new_tokens = max_new_tokens

    def render(self, messages: Sequence[Message]) -> str:
        """The prompt text of one conversation."""
        if getattr(self.tokenizer, "chat_template", None):
            return str(
                self.tokenizer.apply_chat_template(
                    list(messages), tokenize=False, add_generation_prompt=True
                )
            )
        return plain_prompt(messages)

    def complete(self, conversations: Sequence[list[Message]]) -> list[str]:
        import torch

        replies: list[str] = []
        for start in range(0, len(conversations), self.batch_size):
            prompts = [self.render(c) for c in conversations[start : start + self.batch_size]]
            batch = self.tokenizer(prompts, return_tensors="pt", padding=True)
            batch = batch.to(self.model.device)
            with torch.inference_mode():
                output = self.model.generate(
                    **batch,
                    do_sample=False,
                    max_new_tokens=self.max_new_tokens,
                    pad_token_id=self.tokenizer.pad_token_id,
                )
            new = output[:, batch["input_ids"].shape[1] :]
            replies.extend(self.tokenizer.batch_decode(new, skip_special_tokens=True))
        return replies
