"""Hugging Face model families: tiny random-weight checkpoints through the same CLI a user runs.

Per family that can be built here: answer-only labels (hand-checked), images reaching the model,
`smfa unlearn` (SMFA and IDK) and `smfa eval` end to end, and the merged model reloading with
stock transformers. Families whose processor cannot be built on this machine (a video processor
needs torchvision) are covered at model level: LoRA presets and image inputs.
"""

from __future__ import annotations

import functools
import json
import re
import types
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import AutoModelForImageTextToText, PreTrainedTokenizerFast

from smfa.config import ModelConfig
from smfa.data.batches import IGNORE_INDEX, Collator, Encoder
from smfa.data.format import World
from smfa.errors import ConfigError
from smfa.models import templates
from smfa.models.adapters import LoraSpec, target_modules
from smfa.models.families import FAMILIES
from smfa.models.io import load_model, load_options, save_model
from smfa.models.tiny import CHAT_TEMPLATE
from smfa.models.tiny_families import build_tiny_family, family_tokenizer, tiny_family_parts
from smfa.reference import world_corpus

from .test_cli import WORLD, smfa

# Family -> (text that ends an answer turn, where the language model's layers are).
END_TO_END = {
    "llava": ("</s>", "language_model"),  # llava-hf's template writes no end: EOS
    "gemma3": ("<end_of_turn>", "language_model"),
    "idefics3": ("<end_of_utterance>", "text_model"),
}
MODEL_ONLY = ("qwen2_vl", "qwen2_5_vl", "llava_onevision", "smolvlm")
QUICK_UNLEARN = [
    *("--set", "unlearn.epochs=1", "--set", "unlearn.retain_budget=6"),
    *("--set", "unlearn.batch_size=8", "--set", "unlearn.bf16=false"),
]
QUICK_EVAL = [
    "--set", "eval.slice=reported", "--set", "eval.max_new_tokens=6",
    "--set", "eval.attacks=prefill,int8,fair_mc,leak_at_k_prefill,mia",  # on every family
    "--set", "eval.leak_k=2",
]  # fmt: skip


def test_tiny_model_ids_are_unchanged(tiny: tuple, mini_world: World) -> None:
    """The project's tiny LLaVA encodes as pinned here (ids from main, with role-word tokens)."""
    _, processor = tiny
    encoder = Encoder(processor)
    image = mini_world.questions_where(id="q000001")[0]
    text = mini_world.questions_where(id="q000082")[0]
    prompt = (274, 30, 225)  # "USER", ":", " " ... " ASSISTANT", ":" around the question
    tail = (278, 30)
    got = encoder.encode(image.id, image.question, image.answer, mini_world.image_path(image.image))
    assert got.prompt_ids == (*prompt, 4, 4, 4, 4, 203, 749, 283, 300, 281, 35, *tail)
    assert got.answer_ids == (313, 281, 283, 701, 699, 18, 3)
    got = encoder.encode(text.id, text.question, text.answer, None)
    assert got.prompt_ids == (*prompt, 331, 283, 701, 699, 285, 397, 396, 35, *tail)
    assert got.answer_ids == (701, 699, 285, 397, 396, 283, 1228, 18, 3)
    # The chat template's role words are single tokens of the locally trained tokenizer.
    assert processor.tokenizer.tokenize("USER: ASSISTANT:") == ["USER", ":", "ĠASSISTANT", ":"]
    assert encoder.lead == " " and encoder.end_ids == (3,) and encoder.stop_ids == [3]


def test_tiny_model_answers_follow_the_old_rule_everywhere(tiny: tuple, mini_world: World) -> None:
    """Every answer of the world: " " + answer, then EOS (the rule before families existed)."""
    tok = tiny[1].tokenizer
    encoder = Encoder(tiny[1])
    for question in mini_world.questions:
        old = (*tok(" " + question.answer, add_special_tokens=False)["input_ids"], 3)
        assert encoder.answer_ids(question.answer) == old


@pytest.mark.parametrize(
    ("template", "lead", "end"),
    [
        (templates.LLAVA_TEMPLATE, " ", "</s>"),  # writes no end: the tokenizer's EOS
        (CHAT_TEMPLATE, " ", "</s>"),  # the project's tiny LLaVA
        (templates.QWEN_TEMPLATE, "", "<|im_end|>"),
        (templates.ONEVISION_TEMPLATE, "", "<|im_end|>"),
        (templates.IDEFICS3_TEMPLATE, " ", "<end_of_utterance>"),
        (templates.GEMMA3_TEMPLATE, "", "<end_of_turn>"),
    ],
    ids=["llava-1.5", "tiny", "qwen2-vl", "llava-onevision", "idefics3", "gemma3"],
)
def test_answer_frame_is_read_from_each_template(
    template: str, lead: str, end: str, mini_world: World
) -> None:
    """Text-only prompts need only the template, so even the families without a processor here
    (Qwen2-VL, LLaVA-OneVision) have their answer lead and turn end checked."""
    specials = ["<image>", "<|im_start|>", "<|im_end|>", "<|image_pad|>", "<|vision_start|>"]
    specials += ["<|vision_end|>", "<end_of_utterance>", "<start_of_turn>", "<end_of_turn>"]
    specials += ["<start_of_image>"]
    tok = family_tokenizer(world_corpus(mini_world), {f"t{i}": t for i, t in enumerate(specials)})
    render = functools.partial(tok.apply_chat_template, chat_template=template)
    encoder = Encoder(types.SimpleNamespace(tokenizer=tok, apply_chat_template=render))
    assert encoder.lead == lead
    assert tok.convert_ids_to_tokens(list(encoder.end_ids)) == [end]
    answer = "Garer Hartberg lives in Coromouth."
    question = "Where does Garer Hartberg live?"
    sample = encoder.encode("q", question, answer, None)
    assert tok.decode(sample.answer_ids) == lead + answer + end
    # What trains is the tokenized conversation itself (LLaVA-1.5's EOS is added, not written).
    reply = {"role": "assistant", "content": [{"type": "text", "text": answer}]}
    conversation = encoder._render(
        [{"role": "user", "content": [{"type": "text", "text": question}]}, reply], False
    )
    ids = tok(conversation, add_special_tokens=False)["input_ids"]
    written = (
        len(sample.prompt_ids) + len(sample.answer_ids) - (template == templates.LLAVA_TEMPLATE)
    )
    assert ids[:written] == [*sample.prompt_ids, *sample.answer_ids][:written]


def test_answers_tokenize_as_in_the_conversation_with_sentencepiece_words(
    mini_world: World,
) -> None:
    """LLaMA-style tokenizers mark word starts with "▁": " Paris" alone would gain a stray "▁"."""
    core = Tokenizer(models.BPE(unk_token="<unk>"))
    # LLaVA-1.5's (Llama 2's) tokenizer.json: prepend "▁", spaces become "▁", words split there.
    core.normalizer = normalizers.Sequence(
        [normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")]
    )
    core.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never")
    core.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<pad>", "<unk>", "<s>", "</s>"])
    core.train_from_iterator(world_corpus(mini_world), trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", bos_token="<s>", eos_token="</s>"
    )
    render = functools.partial(tok.apply_chat_template, chat_template=templates.LLAVA_TEMPLATE)
    encoder = Encoder(types.SimpleNamespace(tokenizer=tok, apply_chat_template=render))
    answer = "Garer Hartberg's home city is Coromouth."
    in_context = tok("USER: ? ASSISTANT: " + answer, add_special_tokens=False)["input_ids"]
    prompt = tok("USER: ? ASSISTANT:", add_special_tokens=False)["input_ids"]
    assert encoder.text_ids(answer) == in_context[len(prompt) :]
    assert tok(" " + answer, add_special_tokens=False)["input_ids"] != in_context[len(prompt) :]


@pytest.mark.parametrize("family", [*END_TO_END, *MODEL_ONLY])
def test_lora_preset_adapts_only_the_language_model(family: str, mini_world: World) -> None:
    model = tiny_family_parts(family, world_corpus(mini_world)).model
    names = target_modules(model, LoraSpec(targets="language"))
    stack = FAMILIES[family].text_stack
    layers = model.config.get_text_config().num_hidden_layers
    assert len(names) == 7 * layers  # q, k, v, o, gate, up, down per decoder layer
    assert all(re.search(rf"\.{stack}\.layers\.\d+\.(self_attn|mlp)\.", n) for n in names)


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl"])
def test_qwen_images_reach_the_model(family: str, mini_world: World) -> None:
    """Without the processor (no torchvision here): the image processor's grid drives the model."""
    parts = tiny_family_parts(family, world_corpus(mini_world))
    question = mini_world.questions_where(kind="image_memory")[0]
    image = Image.open(mini_world.image_path(question.image)).convert("RGB")
    pixels = parts.image_processor([image], return_tensors="pt")
    assert set(pixels) == set(FAMILIES[family].image_keys)
    count = int(pixels["image_grid_thw"].prod()) // 4  # 2 x 2 patches merge into one token
    tok = parts.tokenizer
    ids = tok.convert_tokens_to_ids(["<|vision_start|>", *["<|image_pad|>"] * count])
    ids += [tok.convert_tokens_to_ids("<|vision_end|>"), *tok(question.question)["input_ids"]]
    input_ids = torch.tensor([ids])
    marks = {"mm_token_type_ids": (input_ids == ids[1]).long()}  # 3D RoPE positions for images
    with torch.no_grad():
        seen = parts.model(input_ids=input_ids, **pixels, **marks).logits
        dark = {**pixels, "pixel_values": torch.zeros_like(pixels["pixel_values"])}
        blind = parts.model(input_ids=input_ids, **dark, **marks).logits
    assert not torch.allclose(seen[0, -1], blind[0, -1])


def _family_checkpoint(family: str, world: World, path: Path) -> Path:
    model, processor = build_tiny_family(family, world_corpus(world))
    return save_model(model, processor, path)


@pytest.mark.families
@pytest.mark.parametrize("family", list(END_TO_END))
def test_family_unlearn_then_eval(
    family: str, mini_world: World, mini_world_dir: Path, tmp_path: Path
) -> None:
    end, stack = END_TO_END[family]
    vanilla = _family_checkpoint(family, mini_world, tmp_path / "vanilla")
    model, processor = load_model(vanilla)
    assert model.config.model_type == family
    encoder = Encoder(processor)
    tok = processor.tokenizer

    # Answer-only labels: the labelled span is the answer and the turn's end, nothing else.
    question = mini_world.questions_where(kind="image_memory")[0]
    sample = encoder.encode(
        question.id, question.question, question.answer, mini_world.image_path(question.image)
    )
    batch = Collator(encoder, train=True)([sample])
    labels = batch["labels"][0]
    labelled = labels[labels != IGNORE_INDEX].tolist()
    assert (labels[: len(sample.prompt_ids)] == IGNORE_INDEX).all()
    expected_end = end if family != "llava" else tok.eos_token
    assert tok.decode(labelled).strip() == question.answer + expected_end
    if family == "gemma3":  # trains with its image tokens marked as its processor marks them
        image = Image.open(mini_world.image_path(question.image)).convert("RGB")
        text = encoder.prompt_text(question.question, True)
        own = processor(text=text, images=image, return_mm_token_type_ids=True)
        marks = batch["token_type_ids"][0, : len(sample.prompt_ids)]
        assert marks.tolist() == own["token_type_ids"][0] and marks.sum() == 4  # 2 x 2 pooled

    # Images reach the model: other pixels, other predictions.
    batch.pop("labels")
    with torch.no_grad():
        seen = model(**batch).logits
        # (not zeros: Idefics3 drops all-zero images as padding)
        dark = {**batch, "pixel_values": torch.full_like(batch["pixel_values"], 0.5)}
        assert not torch.allclose(seen, model(**dark).logits)

    # The CLI a user runs: unlearn with SMFA and with IDK, then evaluate.
    before = dict(model.named_parameters())
    runs, changed = {}, {}
    for method in ("smfa", "idk"):
        out = tmp_path / method
        smfa(
            "unlearn", "--world", mini_world_dir, "--model", vanilla, "--out", out,
            "--method", method, "--set", f"workdir={tmp_path / 'work'}", *WORLD, *QUICK_UNLEARN,
        )  # fmt: skip
        runs[method] = out / "model"
        # The merged model reloads with stock transformers; only language-model weights moved.
        merged = AutoModelForImageTextToText.from_pretrained(runs[method], local_files_only=True)
        assert type(merged) is type(model)
        moved = {n for n, w in merged.named_parameters() if not torch.equal(w, before[n])}
        assert moved and all(f".{stack}.layers." in name for name in moved)
        changed[method] = moved
    assert changed["smfa"] <= set(load_file(str(tmp_path / "smfa" / "delta.safetensors")))
    results = tmp_path / "results"
    smfa(
        "eval", "--world", mini_world_dir, "--out", results,
        "--model", f"vanilla={vanilla}", "--model", f"smfa={runs['smfa']}",
        "--model", f"idk={runs['idk']}", "--set", f"workdir={tmp_path / 'work'}", *QUICK_EVAL,
    )  # fmt: skip
    data = json.loads((results / "results.json").read_text())
    models = {row["model"] for row in data["rows"]}
    assert models == {"vanilla", "smfa", "idk"}
    assert {(r["model"], r["probe"]) for r in data["rows"] if r["probe"] != "plain"} == {
        (m, a) for m in models for a in ("prefill", "int8", "fair_mc", "leak_at_k_prefill", "mia")
    }


def test_dtype_attention_and_checkpointing_options(tmp_path: Path, mini_world: World) -> None:
    vanilla = _family_checkpoint("gemma3", mini_world, tmp_path / "vanilla")
    options = ModelConfig(dtype="bf16", attn_implementation="eager", gradient_checkpointing=True)
    model, _ = load_model(vanilla, options=options)
    assert next(model.parameters()).dtype == torch.bfloat16
    assert model.config.get_text_config()._attn_implementation == "eager"
    assert model.is_gradient_checkpointing
    with pytest.raises(ConfigError, match=r"model\.dtype 'fp8'"):
        load_options(ModelConfig(dtype="fp8"))
    with pytest.raises(ConfigError, match=r"model\.device 'gpu0'"):
        load_options(ModelConfig(device="gpu0"))
    assert load_options(ModelConfig(device="cuda:1"))["device_map"] == "cuda:1"
