"""The tiny MLLM: a standard LLaVA (CLIP vision tower + projector + Llama decoder) at toy size.

It is built from configs with random weights and a locally trained tokenizer, so the whole
project runs offline; it is saved with `save_pretrained` and reloaded with `AutoProcessor` /
`AutoModelForImageTextToText`, the same path a real LLaVA checkpoint takes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from transformers import (
    CLIPImageProcessorPil,
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
)

from smfa.errors import ConfigError
from smfa.models.tokenizer import IMAGE, train_tokenizer

# A LLaVA-1.5-style conversation: "USER: <image>\n{question} ASSISTANT: {answer}</s>".
USER, ASSISTANT = "USER:", "ASSISTANT:"
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    f"{{% if message['role'] == 'user' %}}{USER} "
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<image>\n{% elif part['type'] == 'text' %}{{ part['text'] }}"
    "{% endif %}{% endfor %} "
    f"{{% else %}}{ASSISTANT} "
    "{% for part in message['content'] %}{{ part['text'] }}{% endfor %}</s>"
    "{% endif %}{% endfor %}"
    f"{{% if add_generation_prompt %}}{ASSISTANT}{{% endif %}}"
)
# The words the template writes around every exchange: the tokenizer is trained on them too.
ROLE_WORDS = f"{USER} {ASSISTANT}"


@dataclass(frozen=True)
class Preset:
    vocab_size: int
    text_hidden: int
    text_layers: int
    text_heads: int
    text_ffn: int
    vision_hidden: int
    vision_layers: int
    vision_heads: int
    patch_size: int


PRESETS: dict[str, Preset] = {
    "tiny": Preset(1536, 256, 4, 4, 688, 128, 2, 4, 16),
    "small": Preset(2048, 384, 6, 6, 1024, 192, 4, 4, 16),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ConfigError(f"unknown model preset '{name}' (choose from {', '.join(PRESETS)})")
    return PRESETS[name]


def build_tiny_model(
    corpus: Iterable[str], preset: str = "tiny", image_size: int = 64, seed: int = 0
) -> tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """Train a tokenizer on `corpus` and build a randomly initialised tiny LLaVA around it."""
    spec = get_preset(preset)
    if image_size % spec.patch_size:
        raise ConfigError(f"image_size {image_size} is not a multiple of patch {spec.patch_size}")
    # Every conversation carries the template's role words once, so the tokenizer meets them as
    # often: they become single tokens ("ASSISTANT" was nine), and every prompt 11 tokens shorter.
    texts = (part for text in corpus for part in (text, ROLE_WORDS))
    tokenizer = train_tokenizer(texts, spec.vocab_size)
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": image_size},
        crop_size={"height": image_size, "width": image_size},
        do_center_crop=True,
    )
    # "default" drops the CLS feature, so one image becomes (size / patch)^2 tokens.
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=spec.patch_size,
        vision_feature_select_strategy="default",
        chat_template=CHAT_TEMPLATE,
        num_additional_image_tokens=1,
        image_token=IMAGE,
    )
    num_patches = (image_size // spec.patch_size) ** 2
    vision = CLIPVisionConfig(
        hidden_size=spec.vision_hidden,
        intermediate_size=spec.vision_hidden * 2,
        num_hidden_layers=spec.vision_layers,
        num_attention_heads=spec.vision_heads,
        image_size=image_size,
        patch_size=spec.patch_size,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.text_hidden,
        intermediate_size=spec.text_ffn,
        num_hidden_layers=spec.text_layers,
        num_attention_heads=spec.text_heads,
        num_key_value_heads=spec.text_heads,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE),
        image_seq_length=num_patches,
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model, processor
