"""The Hugging Face model families smfa runs, and what differs between them.

All families load through `AutoProcessor` / `AutoModelForImageTextToText`; the chat template and
the image-token expansion are the processor's own. What is left to know per family is small:
where the language model's decoder layers live (the LoRA presets name only those, never the
vision tower), which image-processor outputs the model's forward needs beside the pixels, and
under which key the model wants its image tokens marked (Gemma 3's `token_type_ids` for
bidirectional image attention in training, Qwen2-VL's `mm_token_type_ids` for its 3D RoPE).
A family is found from the model's `config.model_type` or from its processor's class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Family:
    model_type: str
    processor: str  # the processor class a checkpoint of this family loads as
    text_stack: str = "language_model"  # the module holding the decoder `layers`
    image_keys: tuple[str, ...] = ("pixel_values",)  # image-processor outputs forward takes
    image_token_types: str = ""  # the input marking image tokens with 1, if the model wants one
    examples: tuple[str, ...] = ()


FAMILIES: dict[str, Family] = {
    f.model_type: f
    for f in (
        Family("llava", "LlavaProcessor", examples=("llava-hf/llava-1.5-7b-hf",)),
        Family(
            "llava_onevision",
            "LlavaOnevisionProcessor",
            image_keys=("pixel_values", "image_sizes"),
            examples=("llava-hf/llava-onevision-qwen2-0.5b-ov-hf",),
        ),
        Family(
            "qwen2_vl",
            "Qwen2VLProcessor",
            image_keys=("pixel_values", "image_grid_thw"),
            image_token_types="mm_token_type_ids",
            examples=("Qwen/Qwen2-VL-2B-Instruct",),
        ),
        Family(
            "qwen2_5_vl",
            "Qwen2_5_VLProcessor",
            image_keys=("pixel_values", "image_grid_thw"),
            image_token_types="mm_token_type_ids",
            examples=("Qwen/Qwen2.5-VL-3B-Instruct",),
        ),
        Family(
            "idefics3",
            "Idefics3Processor",
            text_stack="text_model",
            image_keys=("pixel_values", "pixel_attention_mask"),
            examples=("HuggingFaceM4/Idefics3-8B-Llama3",),
        ),
        Family(
            "smolvlm",
            "SmolVLMProcessor",
            text_stack="text_model",
            image_keys=("pixel_values", "pixel_attention_mask"),
            examples=("HuggingFaceTB/SmolVLM-256M-Instruct",),
        ),
        Family(
            "gemma3",
            "Gemma3Processor",
            image_token_types="token_type_ids",
            examples=("google/gemma-3-4b-it",),
        ),
    )
}
# The project's own tiny model is a LLaVA; unknown processors are treated like one.
DEFAULT = FAMILIES["llava"]


def family_of_processor(processor: Any) -> Family:
    """The family whose checkpoints load as this processor's class (LLaVA when unknown)."""
    name = type(processor).__name__
    return next((f for f in FAMILIES.values() if f.processor == name), DEFAULT)


def text_stack(model: Any) -> str:
    """Name of the module holding `model`'s decoder layers (`language_model` when unknown)."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    return FAMILIES.get(str(model_type), DEFAULT).text_stack
