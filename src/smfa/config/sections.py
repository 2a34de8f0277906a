"""The run configuration's sections: one dataclass each, and `RunConfig`, which holds them all.

Every setting's default lives here, with a comment saying what it does and, where it was
measured, why it is what it is. Bounds, limits and choices are `smfa.config.bounds`'; reading
YAML and `--set` overrides into these is `smfa.config.load`'s.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from smfa.config.bounds import BOUNDS, DEFAULT_ATTACKS, RELEARN_MODES, RELEARN_SPLITS, check_bound
from smfa.errors import ConfigError


@dataclass
class WorldConfig:
    """Everything that determines a generated world (`smfa.world.build.build_world`): the same
    values always give the same bytes."""

    people: int = 25
    seed: int = 0
    image_size: int = 64
    fundus_share: float = 0.3
    train_scenes: int = 800
    validation_scenes: int = 60
    heldout_scenes: int = 120
    unknown_people: int = 30
    few_shot_retain: int = 64
    forget_ratios: list[int] = field(default_factory=lambda: [5, 10, 15])

    def as_dict(self) -> dict[str, Any]:
        """The parameters as JSON values, as recorded in the manifest."""
        return dataclasses.asdict(self)

    def check(self) -> None:
        """Raise ConfigError naming the first parameter outside its bounds (`BOUNDS`)."""
        for key in BOUNDS:
            if key.startswith("world."):
                found = getattr(self, key.removeprefix("world."))
                many = isinstance(found, (list, tuple))
                if many and not found:
                    raise ConfigError(f"{key} must list at least one value")
                for value in found if many else [found]:
                    check_bound(key, value)


@dataclass
class ModelConfig:
    """The tiny model trained here, and how checkpoints are loaded."""

    preset: str = "tiny"  # tiny | small
    trust_remote_code: bool = False  # only for checkpoints whose code you have read
    # How a checkpoint is loaded for unlearning and evaluation (docs/models.md).
    dtype: str = "fp32"  # fp32 | bf16 | fp16 | auto (the checkpoint's own)
    attn_implementation: str = ""  # eager | sdpa | flash_attention_2; empty: transformers' pick
    gradient_checkpointing: bool = False  # recompute activations: less memory, slower steps
    device: str = "cpu"  # where unlearning and evaluation load it: cpu, cuda, cuda:1, ...
    # Vision pretraining of the tiny preset's CLIP tower on fresh generated images.
    vision_steps: int = 1200
    vision_batch: int = 48
    vision_lr: float = 3e-3
    base_threads: int = 2  # the base is built before the workers start, so it has every core


@dataclass
class LoopConfig:
    """What the one training loop (`smfa.train.train_loop`) reads: seed, batch, optimizer and
    schedule. Each caller's settings give theirs (`TrainConfig.loop`, `UnlearnConfig.loop`)."""

    seed: int = 0
    threads: int = 1
    batch_size: int = 32
    lr: float = 1e-3
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    # bf16 autocast (weights stay fp32): x1.7 faster on an AMX CPU; a CPU without bf16
    # arithmetic (AVX2 only) trains in fp32 instead, where emulated bf16 is x17 slower
    bf16: bool = True


@dataclass
class TrainConfig(LoopConfig):
    """The reference-model training: its loop's settings (`LoopConfig`) and the schedule."""

    # Passes over each kind of example; person facts need many more exposures than scenes.
    # One vanilla each on the demo world (held-out phrasings, previous tokenizer;
    # benchmarks/LOG.md has the current model too): 24/12 gave understanding of
    # portraits 80.7% and fundus 83.3%, re-rendered portraits 92.9%; 24/24 gave 95.5% / 96.7%
    # and 99.0% for 17% more steps; 20/24 dropped portraits to 88.6%.
    memory_repeats: int = 24
    understanding_repeats: int = 24
    # Understanding facts of fundus images: few patients, look-alike eyes, features the tower
    # sees least well (83% on fresh pictures against 93% for portraits). 48 against 24 took
    # every fundus cell of the demo's vanilla from 90.0-96.7% to 96.7-100% (30 more steps).
    fundus_repeats: int = 48
    scene_repeats: int = 1
    refusal_repeats: int = 1
    augment: bool = True  # re-frame photos of people in training (scenes are never re-framed)
    freeze_vision: bool = True  # the pretrained tower already sees; the LM learns the world
    # Each batch computed as this many micro-batches of similar length (the same samples and
    # the same token-mean loss, less padding: `smfa.data.batches.LengthSplit`); 1: unsplit.
    length_parts: int = 4

    @property
    def loop(self) -> LoopConfig:
        return LoopConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(LoopConfig)})


@dataclass
class EvalConfig:
    """The one evaluation (`smfa.eval.evaluate`) and its probes' settings."""

    batch_size: int = 64
    max_new_tokens: int = 24
    threads: int = 1
    # Which slice of the protocol `smfa eval` asks (smfa.protocol.questions.SLICES): "full" (the
    # reported slice plus the training phrasings and scenes, to show what was memorized),
    # "reported", or "validation" (the phrasings that exist for choosing hyper-parameters).
    slice: str = "full"
    # Free-text values (answer_type "text") leak at this ROUGE-L recall of their content words.
    fuzzy_threshold: float = 0.6
    # Optional judge (docs/judge.md): "" none, "http://HOST:PORT/v1@MODEL", or a model directory.
    judge: str = ""
    judge_key_env: str = "SMFA_JUDGE_API_KEY"  # environment variable with the endpoint's key
    judge_timeout: float = 60.0  # seconds per request
    judge_unparseable: str = "error"  # a reply without a score: error, or nan (left unscored)
    # Attacks that try to extract the forget values (src/smfa/attacks/, docs/attacks.md); each
    # is cached per model. An empty list turns them off; "all" runs every one (ALL_ATTACKS).
    attacks: list[str] = field(default_factory=lambda: list(DEFAULT_ATTACKS))
    attack_retain: int = 32  # retain questions asked under each attack, beside the forget ones
    relearn_steps: int = 48  # the relearning attack's LoRA budget (batch 8) ...
    relearn_seeds: int = 2  # ... repeated with this many seeds (attribute halves, init, order)
    relearn_lr: float = 1e-3
    # The strong relearning attack (relearn_strong) reports the worst forget leak over this grid:
    # every learning rate x steps (batch 8) x mode ("lora": a fresh LoRA adapter; "full": every
    # linear and embedding weight of the language model) x split ("a_to_b": half the attribute
    # types relearned, the other half measured; "cross_person": one forget person's facts
    # relearned, the others measured), each setting averaged over this many seeds.
    relearn_strong_lrs: list[float] = field(default_factory=lambda: [1e-4, 1e-3, 1e-2])
    relearn_strong_steps: list[int] = field(default_factory=lambda: [48, 192])
    relearn_strong_modes: list[str] = field(default_factory=lambda: list(RELEARN_MODES))
    relearn_strong_seeds: int = 3
    relearn_strong_splits: list[str] = field(default_factory=lambda: list(RELEARN_SPLITS))
    # leak@k (leak_at_k, leak_at_k_prefill): this many answers sampled at temperature 1 per
    # question, a leak if any states the value; seeded per batch, so a rerun samples the same.
    leak_k: int = 8
    leak_seed: int = 0


@dataclass
class UnlearnConfig:
    """What every unlearning method shares: the budget, the LoRA shape and the loop settings.

    The paper's settings for a 7B model are r=16, alpha=16, dropout 0.05, lr 1e-4, 5 epochs,
    batch 2; the tiny model here trains from a higher learning rate in larger batches.
    Method-specific knobs live in each method's own `Params` (set them as methods.NAME.KEY).
    """

    retain_budget: int = 64  # few-shot retain questions a method may see (<= the world's pool)
    lora_r: int = 16
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    # A preset (language, language-attention, language-mlp, all) or a regex over module names.
    lora_targets: str = "language"
    lr: float = 1e-3
    epochs: int = 5
    batch_size: int = 8
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    augment: bool = True  # re-framed portraits, so forgetting covers re-taken photos
    bf16: bool = True  # bf16 autocast, as in reference training (weights stay fp32)
    seed: int = 0
    threads: int = 1

    @property
    def loop(self) -> LoopConfig:
        return LoopConfig(
            seed=self.seed, threads=self.threads, batch_size=self.batch_size, lr=self.lr,
            warmup_ratio=self.warmup_ratio, max_grad_norm=self.max_grad_norm, bf16=self.bf16,
        )  # fmt: skip


@dataclass
class CompareConfig:
    """`smfa compare`: which methods run side by side, and how their variants are chosen.

    A method with several variants (its own `methods.NAME.sweep`, SMFA's k by default) has one
    chosen on the validation slice; the reported slice never chooses."""

    # The demo's methods: SMFA (the paper's reference row), VERA (this project's erasure, which
    # holds under the generative attacks), IDK and NPO (refusal and its strongest baseline).
    # Also registered: ga, gd, kl, task_arithmetic, fisher and undo (docs/methods.md); "all"
    # (alone) runs every registered method.
    methods: list[str] = field(default_factory=lambda: ["smfa", "vera", "idk", "npo"])
    # Choosing among a method's variants, forgetting first: only variants whose validation leak
    # (image and text questions, each) is at most this compete on the validation score.
    max_leak: float = 0.02
    slice: str = "reported"  # the slice every model is reported (and attacked) on
    workers: int = 2  # methods trained and evaluated in parallel worker processes
    # Which variants of a method with several (SMFA's k sweep) are evaluated on the reported
    # slice and attacked (`eval.attacks`): "selected" (the one the validation slice chooses;
    # the others keep their validation rows only) or "all".
    report_variants: str = "selected"


@dataclass
class ErasureConfig:
    """The erasure record `smfa unlearn` writes (docs/erasure.md) and what `smfa verify` holds
    a model to. The record's measurement asks the reported slice with `eval.*` settings and
    runs `eval.attacks`."""

    measure: bool = True  # evaluate the unlearned model for the record (off: hashes only)
    max_leak: float = 0.02  # forget leak (image, text) a verified model may show
    max_attack_leak: float = 0.05  # forget leak under any one attack
    tolerance: float = 0.02  # how far a re-measured figure may be from the recorded one


@dataclass
class RunConfig:
    world: WorldConfig = field(default_factory=WorldConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    unlearn: UnlearnConfig = field(default_factory=UnlearnConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)
    erasure: ErasureConfig = field(default_factory=ErasureConfig)
    # Per-method knobs, checked against that method's Params: methods.smfa.k=5
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    forget_ratio: int = 10
    workdir: str = "runs"
