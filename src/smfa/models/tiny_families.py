"""Tiny random-weight checkpoints of real model families, for tests that run offline.

Each builder makes a family's own config, model and processor classes at toy size around the
project's locally trained tokenizer (plus that family's special tokens) and a chat template
written after the family's published one, so a saved directory loads through `AutoProcessor` /
`AutoModelForImageTextToText` exactly like a downloaded checkpoint. Images are 32 pixels with
8-pixel patches, so one image costs a handful of tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
import transformers

from smfa.errors import ConfigError
from smfa.models.templates import (
    GEMMA3_TEMPLATE,
    IDEFICS3_TEMPLATE,
    LLAVA_TEMPLATE,
    ONEVISION_TEMPLATE,
    QWEN_TEMPLATE,
)
from smfa.models.tokenizer import BOS, EOS, PAD, UNK, train_tokenizer

TEXT = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 1024,
    "tie_word_embeddings": False,
}
VISION = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1}
VISION["num_attention_heads"] = 2
IMAGE, PATCH = 32, 8


@dataclass
class Parts:
    model: Any
    tokenizer: Any
    image_processor: Any
    processor_class: type
    options: dict[str, Any]


def family_tokenizer(
    corpus: Iterable[str], specials: dict[str, str], eos: str | None = None
) -> Any:
    """The project's BPE tokenizer with a family's special tokens (named, e.g. image_token)."""
    core = train_tokenizer(corpus, 1024).backend_tokenizer
    core.add_special_tokens(list(dict.fromkeys(specials.values())))
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token=PAD,
        unk_token=UNK,
        bos_token=BOS,
        eos_token=eos or EOS,
        extra_special_tokens=specials,
        padding_side="left",
        model_max_length=1024,
    )


def _ids(tokenizer: Any, *names: str) -> dict[str, int]:
    return {n: tokenizer.convert_tokens_to_ids(getattr(tokenizer, n)) for n in names}


def _text(tokenizer: Any, **extra: Any) -> dict[str, Any]:
    return {
        **TEXT,
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        **extra,
    }


def _llava(corpus: Iterable[str]) -> Parts:
    tok = family_tokenizer(corpus, {"image_token": "<image>"})
    image_processor = transformers.CLIPImageProcessorPil(
        size={"shortest_edge": IMAGE}, crop_size={"height": IMAGE, "width": IMAGE}
    )
    options = {
        "patch_size": PATCH,
        "vision_feature_select_strategy": "default",
        "num_additional_image_tokens": 1,
        "chat_template": LLAVA_TEMPLATE,
    }
    config = transformers.LlavaConfig(
        text_config={**_text(tok), "model_type": "llama"},
        vision_config={**VISION, "image_size": IMAGE, "patch_size": PATCH},
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    model = transformers.LlavaForConditionalGeneration(config)
    return Parts(model, tok, image_processor, transformers.LlavaProcessor, options)


def _qwen(corpus: Iterable[str], version: str) -> Parts:
    specials = {
        "image_token": "<|image_pad|>",
        "video_token": "<|video_pad|>",
        "vision_start_token": "<|vision_start|>",
        "vision_end_token": "<|vision_end|>",
        "im_start": "<|im_start|>",
        "im_end": "<|im_end|>",
    }
    tok = family_tokenizer(corpus, specials, eos="<|im_end|>")
    image_processor = transformers.Qwen2VLImageProcessorPil(
        patch_size=PATCH,
        merge_size=2,
        temporal_patch_size=2,
        size={"shortest_edge": IMAGE * IMAGE, "longest_edge": IMAGE * IMAGE},
    )
    ids = _ids(tok, "image_token", "video_token", "vision_start_token", "vision_end_token")
    # Multimodal RoPE splits each head's 8 frequency pairs over time, height and width.
    text = _text(tok, rope_parameters={"rope_type": "default", "mrope_section": [2, 3, 3]})
    vision = {
        "depth": 1,
        "hidden_size": TEXT["hidden_size"],
        "num_heads": 2,
        "patch_size": PATCH,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
    }
    if version == "2":
        vision.update(embed_dim=32, mlp_ratio=2)
        config_cls, model_cls, proc_cls = (
            transformers.Qwen2VLConfig,
            transformers.Qwen2VLForConditionalGeneration,
            transformers.Qwen2VLProcessor,
        )
    else:
        vision.update(intermediate_size=64, out_hidden_size=TEXT["hidden_size"])
        vision.update(fullatt_block_indexes=[0], window_size=2 * IMAGE)
        config_cls, model_cls, proc_cls = (
            transformers.Qwen2_5_VLConfig,
            transformers.Qwen2_5_VLForConditionalGeneration,
            transformers.Qwen2_5_VLProcessor,
        )
    config = config_cls(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["image_token"],
        video_token_id=ids["video_token"],
        vision_start_token_id=ids["vision_start_token"],
        vision_end_token_id=ids["vision_end_token"],
    )
    options = {"chat_template": QWEN_TEMPLATE}
    return Parts(model_cls(config), tok, image_processor, proc_cls, options)


def _onevision(corpus: Iterable[str]) -> Parts:
    specials = {"image_token": "<image>", "video_token": "<video>", "im_start": "<|im_start|>"}
    specials["im_end"] = "<|im_end|>"
    tok = family_tokenizer(corpus, specials, eos="<|im_end|>")
    # One tile of the base resolution: no "anyres" splitting for these small images.
    image_processor = transformers.LlavaOnevisionImageProcessorPil(
        size={"height": IMAGE, "width": IMAGE},
        image_grid_pinpoints=[[IMAGE, IMAGE]],
        do_pad=True,
    )
    num_patches = (IMAGE // PATCH) ** 2
    options = {
        "num_image_tokens": num_patches,
        "vision_feature_select_strategy": "full",
        "chat_template": ONEVISION_TEMPLATE,
    }
    vision = {**VISION, "image_size": IMAGE, "patch_size": PATCH}
    vision["model_type"] = "siglip_vision_model"
    config = transformers.LlavaOnevisionConfig(
        text_config={**_text(tok), "model_type": "qwen2"},
        vision_config=vision,
        image_token_id=_ids(tok, "image_token")["image_token"],
        video_token_id=_ids(tok, "video_token")["video_token"],
        image_grid_pinpoints=[[IMAGE, IMAGE]],
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
    )
    model = transformers.LlavaOnevisionForConditionalGeneration(config)
    return Parts(model, tok, image_processor, transformers.LlavaOnevisionProcessor, options)


def _idefics3(corpus: Iterable[str], smol: bool = False) -> Parts:
    specials = {
        "image_token": "<image>",
        "fake_image_token": "<fake_token_around_image>",
        "global_image_token": "<global-img>",
        "end_of_utterance_token": "<end_of_utterance>",
    }
    tok = family_tokenizer(corpus, specials, eos="<end_of_utterance>")
    image_processor = transformers.Idefics3ImageProcessorPil(
        do_image_splitting=False,
        size={"longest_edge": IMAGE},
        max_image_size={"longest_edge": IMAGE},
    )
    scale = 2  # pixel shuffle: 4 x 4 patches become 2 x 2 image tokens
    seq_len = (IMAGE // PATCH) ** 2 // scale**2
    options = {"image_seq_len": seq_len, "chat_template": IDEFICS3_TEMPLATE}
    config_cls = transformers.SmolVLMConfig if smol else transformers.Idefics3Config
    config = config_cls(
        text_config={**_text(tok), "model_type": "llama"},
        vision_config={**VISION, "image_size": IMAGE, "patch_size": PATCH},
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        scale_factor=scale,
        pad_token_id=tok.pad_token_id,
    )
    if smol:  # SmolVLM's processor also needs num2words and a video processor
        model = transformers.SmolVLMForConditionalGeneration(config)
        return Parts(model, tok, image_processor, transformers.SmolVLMProcessor, options)
    model = transformers.Idefics3ForConditionalGeneration(config)
    return Parts(model, tok, image_processor, transformers.Idefics3Processor, options)


def _gemma3(corpus: Iterable[str]) -> Parts:
    specials = {
        "image_token": "<image_soft_token>",
        "boi_token": "<start_of_image>",
        "eoi_token": "<end_of_image>",
        "start_of_turn": "<start_of_turn>",
        "end_of_turn": "<end_of_turn>",
    }
    tok = family_tokenizer(corpus, specials)
    ids = _ids(tok, "image_token", "boi_token", "eoi_token")
    tok.image_token_id, tok.boi_token_id, tok.eoi_token_id = (
        ids["image_token"],
        ids["boi_token"],
        ids["eoi_token"],
    )
    image_processor = transformers.Gemma3ImageProcessorPil(size={"height": IMAGE, "width": IMAGE})
    tokens_per_image = 4  # 4 x 4 patches average-pooled to 2 x 2
    options = {"image_seq_length": tokens_per_image, "chat_template": GEMMA3_TEMPLATE}
    text = _text(tok, head_dim=16, sliding_window=64, query_pre_attn_scalar=16)
    text["eos_token_id"] = [tok.eos_token_id, tok.convert_tokens_to_ids("<end_of_turn>")]
    config = transformers.Gemma3Config(
        text_config=text,
        vision_config={**VISION, "image_size": IMAGE, "patch_size": PATCH},
        mm_tokens_per_image=tokens_per_image,
        image_token_index=ids["image_token"],
        boi_token_index=ids["boi_token"],
        eoi_token_index=ids["eoi_token"],
    )
    model = transformers.Gemma3ForConditionalGeneration(config)
    # Gemma 3 initialises its image projection to zeros; a trained checkpoint has a real one.
    projector = model.model.multi_modal_projector.mm_input_projection_weight
    torch.nn.init.normal_(projector, std=config.text_config.initializer_range)
    return Parts(model, tok, image_processor, transformers.Gemma3Processor, options)


BUILDERS: dict[str, Callable[[Iterable[str]], Parts]] = {
    "llava": _llava,
    "qwen2_vl": lambda corpus: _qwen(corpus, "2"),
    "qwen2_5_vl": lambda corpus: _qwen(corpus, "2.5"),
    "llava_onevision": _onevision,
    "idefics3": _idefics3,
    "smolvlm": lambda corpus: _idefics3(corpus, smol=True),
    "gemma3": _gemma3,
}


def tiny_family_parts(model_type: str, corpus: Iterable[str], seed: int = 0) -> Parts:
    """A tiny random-weight model of family `model_type` and the parts of its processor."""
    if model_type not in BUILDERS:
        raise ConfigError(f"no tiny builder for '{model_type}' (have: {', '.join(BUILDERS)})")
    corpus = list(corpus)
    torch.manual_seed(seed)
    parts = BUILDERS[model_type](corpus)
    config = parts.model.generation_config
    config.eos_token_id = parts.model.config.get_text_config().eos_token_id
    config.pad_token_id = parts.tokenizer.pad_token_id
    config.bos_token_id = parts.tokenizer.bos_token_id
    parts.model.eval()
    return parts


def build_tiny_family(model_type: str, corpus: Iterable[str], seed: int = 0) -> tuple[Any, Any]:
    """(model, processor) of family `model_type`; the processor class must be importable here.

    Qwen2-VL, Qwen2.5-VL and LLaVA-OneVision processors hold a video processor, which
    transformers builds only where torchvision is installed.
    """
    parts = tiny_family_parts(model_type, corpus, seed)
    try:
        processor = parts.processor_class(
            image_processor=parts.image_processor, tokenizer=parts.tokenizer, **parts.options
        )
    except (AttributeError, ImportError, ValueError) as exc:
        name = parts.processor_class.__name__
        raise ConfigError(f"{name} cannot be built here ({type(exc).__name__}: {exc})") from None
    return parts.model, processor
