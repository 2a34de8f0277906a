"""Loading and saving models through the Hugging Face Auto classes, with clear errors.

A model directory is whatever `save_pretrained` wrote (config, safetensors weights, processor
files). Saving goes through a staging directory so a failed save leaves nothing behind, and it
refuses to write into the directory a model was loaded from. `source` may also be a Hugging Face
hub id (`llava-hf/llava-1.5-7b-hf`): it loads from the local Hugging Face cache, and is
downloaded only when SMFA_HUB_DOWNLOAD=1 (one line says so when it is not cached, instead of a
screen of retries on a machine without hub access). `ModelConfig` chooses dtype, attention and
checkpointing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from transformers import AutoModelForImageTextToText, AutoProcessor
from transformers.utils import logging as hf_logging

from smfa.config import ModelConfig
from smfa.errors import ConfigError, ModelDirError
from smfa.io import atomic_write_json, canonical_json, sha256_file, sha256_text, staged_dir

# Written beside the weights by `save_model`: each weights file's size and sha256, so a cached
# model that was truncated, emptied or replaced since is noticed before it is reused.
WEIGHTS_RECORD = "smfa-weights.json"
# Set to 1 to let a hub id that is not in the local cache be downloaded (docs/models.md).
DOWNLOAD_ENV = "SMFA_HUB_DOWNLOAD"


def model_fingerprint(model_dir: Path) -> str:
    """Identifies a model's exact weights without reading them: names, sizes and mtimes."""
    model_dir = Path(model_dir)
    meta = model_dir / "smfa-train.json"
    files = (
        sorted(
            p for p in model_dir.iterdir() if p.suffix in (".safetensors", ".json") and p.is_file()
        )
        if model_dir.is_dir()
        else []
    )
    stamp = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    identity = meta.read_text(encoding="utf-8") if meta.exists() else ""
    return sha256_text(
        canonical_json({"dir": str(model_dir.resolve()), "files": stamp, "meta": identity})
    )


def quiet_transformers() -> None:
    """smfa draws its own progress; transformers' per-file bars and notices are noise here."""
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


DTYPES: dict[str, torch.dtype | str] = {
    "fp32": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
    "auto": "auto",
}
ATTENTION = ("", "eager", "sdpa", "flash_attention_2")


def load_options(options: ModelConfig) -> dict[str, Any]:
    """`from_pretrained` keywords for a `ModelConfig`, checked first (errors name the key)."""
    if options.dtype not in DTYPES:
        raise ConfigError(f"model.dtype '{options.dtype}' is not one of {', '.join(DTYPES)}")
    if options.attn_implementation not in ATTENTION:
        choices = ", ".join(a for a in ATTENTION if a)
        raise ConfigError(
            f"model.attn_implementation '{options.attn_implementation}' is not one of {choices}"
        )
    try:
        device = torch.device(options.device)
    except RuntimeError:
        raise ConfigError(f"model.device '{options.device}' is not a torch device") from None
    kwargs: dict[str, Any] = {"dtype": DTYPES[options.dtype]}
    if device.type != "cpu":
        kwargs["device_map"] = str(device)
    if options.attn_implementation:
        kwargs["attn_implementation"] = options.attn_implementation
    return kwargs


def _some(keys: Any, shown: int = 3) -> str:
    keys = sorted(str(k) for k in keys)
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more


def check_loading_info(source: str | Path, info: dict[str, Any]) -> None:
    """Refuse a checkpoint whose weights do not match its config: transformers would fill a
    missing weight with random values and drop an extra one, both without a word."""
    problems = []
    if info.get("missing_keys"):
        problems.append(f"missing weights {_some(info['missing_keys'])}")
    if info.get("unexpected_keys"):
        problems.append(f"unexpected weights {_some(info['unexpected_keys'])}")
    if info.get("mismatched_keys"):
        problems.append(f"weights of another shape {_some(k for k, *_ in info['mismatched_keys'])}")
    if info.get("error_msgs"):
        problems.append(str(info["error_msgs"][0]).strip().splitlines()[0])
    if problems:
        raise ModelDirError(
            f"{source}: the checkpoint does not match its config.json: {'; '.join(problems)}"
        )


def cached_snapshot(hub_id: str) -> Path:
    """The folder of `hub_id` in the local Hugging Face cache; ModelDirError, in one line, when
    the cache does not hold it (never a request to the hub)."""
    from huggingface_hub import constants, try_to_load_from_cache

    try:
        config = try_to_load_from_cache(hub_id, "config.json")
    except ValueError:  # not a valid hub id either
        config = None
    if isinstance(config, str):
        return Path(config).parent
    how = f"set {DOWNLOAD_ENV}=1 with hub access"
    if constants.HF_HUB_OFFLINE:
        how += " and HF_HUB_OFFLINE unset"
    raise ModelDirError(
        f"{hub_id}: neither a local model folder nor in the Hugging Face cache "
        f"({constants.HF_HUB_CACHE}); to download it, {how} (or fetch it first: hf download "
        f"{hub_id})"
    )


def model_source(source: str | Path) -> tuple[str, bool]:
    """(what to load, whether it is a local folder) for `source`, checked first.

    A local folder must hold config.json and readable weights. A hub id ("org/name") loads from
    its folder in the local Hugging Face cache, as a local folder: even with
    `local_files_only`, transformers asks the hub for an adapter file and retries for minutes
    without hub access. Only with SMFA_HUB_DOWNLOAD=1 is a hub id handed to transformers.
    """
    path = Path(source)
    text = str(source)
    if not path.exists():
        if path.is_absolute() or text.startswith((".", "~")) or text.count("/") > 1:
            # a path, not a hub id: asking the hub for it would only retry and fail
            raise ModelDirError(f"{source}: no such model directory")
        if os.environ.get(DOWNLOAD_ENV, "").strip() == "1":
            return text, False
        path = cached_snapshot(text)
    if not path.is_dir():
        raise ModelDirError(f"{path}: not a model directory (it is a file)")
    if not (path / "config.json").is_file():
        raise ModelDirError(f"{path}: not a model directory (no config.json)")
    problem = weights_problem(path, hashes=False)
    if problem:
        raise ModelDirError(f"{path}: {problem}")
    return str(path), True


def load_model(source: str | Path, options: ModelConfig | None = None) -> tuple[Any, Any]:
    """Load (model, processor) from a local directory or a hub id (`model_source`).

    `options` is a run's `model` section (dtype, device, attention, checkpointing,
    `trust_remote_code`); without it: fp32 on the CPU, no remote code.
    """
    quiet_transformers()
    options = options if options is not None else ModelConfig()
    kwargs = load_options(options)
    trust_remote_code = options.trust_remote_code
    where, local = model_source(source)
    try:
        processor = AutoProcessor.from_pretrained(
            where, local_files_only=local, trust_remote_code=trust_remote_code
        )
        model, info = AutoModelForImageTextToText.from_pretrained(
            where,
            local_files_only=local,
            trust_remote_code=trust_remote_code,
            output_loading_info=True,
            **kwargs,
        )
    except (OSError, ValueError, KeyError, RuntimeError, ImportError, SafetensorError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelDirError(f"{source}: cannot load a multimodal model: {first}") from None
    check_loading_info(source, info)
    if options.gradient_checkpointing:
        # Non-reentrant checkpointing needs no gradient on the (frozen) inputs under LoRA.
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.eval()
    return model, processor


def save_model(
    model: Any,
    processor: Any,
    out: Path,
    extra: dict[str, str] | None = None,
    shown: Path | None = None,
) -> Path:
    """Write model + processor (+ small text files) to `out` atomically.

    `shown` is the path an error names when `out` lies in a run's staging directory (the final
    output's name, not the temporary one)."""
    out = Path(out)
    loaded_from = getattr(model, "name_or_path", "") or ""
    if loaded_from and Path(loaded_from).exists() and Path(loaded_from).resolve() == out.resolve():
        raise ModelDirError(f"{out}: refusing to overwrite the model it was loaded from")
    quiet_transformers()
    try:
        with staged_dir(out) as stage:
            model.save_pretrained(stage, safe_serialization=True)
            processor.save_pretrained(stage)
            for name, text in (extra or {}).items():
                (stage / name).write_text(text, encoding="utf-8")
            record_weights(stage)
    except (OSError, SafetensorError) as exc:
        # A full disk (ENOSPC) or the file-size limit (EFBIG): safetensors reports it as a
        # SafetensorError, and transformers' own writes as an OSError that names no file.
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ModelDirError(f"{shown or out}: cannot save the model: {reason}") from exc
    return out


def record_weights(model_dir: Path) -> None:
    """Write WEIGHTS_RECORD: size and sha256 of every weights file of `model_dir`."""
    files = {
        p.name: {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
        for p in sorted(Path(model_dir).glob("*.safetensors"))
    }
    atomic_write_json(Path(model_dir) / WEIGHTS_RECORD, files)


def weights_problem(model_dir: Path, hashes: bool = True) -> str | None:
    """Why `model_dir`'s weights cannot be trusted, or None when they can.

    With smfa's record: every recorded file is there with its size (and, with `hashes`, its
    sha256). Without one (a checkpoint from elsewhere): every weights file has a readable
    safetensors header that covers the whole file.
    """
    model_dir = Path(model_dir)
    record_path = model_dir / WEIGHTS_RECORD
    if record_path.is_file():
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
            files = {name: (int(v["bytes"]), str(v["sha256"])) for name, v in record.items()}
        except (ValueError, TypeError, KeyError, AttributeError):
            return f"{WEIGHTS_RECORD} is unreadable"
        for name, (size, digest) in files.items():
            path = model_dir / name
            if not path.is_file():
                return f"{name} is missing ({WEIGHTS_RECORD} lists it)"
            actual = path.stat().st_size
            if actual != size:
                return f"{name} is {actual:,} bytes, {WEIGHTS_RECORD} recorded {size:,}"
            if hashes and sha256_file(path) != digest:
                return f"{name} changed since it was saved (sha256 differs from {WEIGHTS_RECORD})"
        return None
    for path in sorted(model_dir.glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="pt"):
                pass
        except (SafetensorError, OSError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return f"{path.name} is not a readable safetensors file ({first})"
    return None
