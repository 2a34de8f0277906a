"""Commands that erase and prove it: unlearn, stream, verify, keygen, export-lora."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from smfa.cli.common import ConfigOpt, SetOpt, config_of, console
from smfa.errors import SmfaError
from smfa.terminal import console as terminal_console

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from smfa.erasure.signing import Trust

# Signing and trusting erasure records (unlearn, stream, verify).
SignKeyOpt = Annotated[
    Path | None,
    typer.Option("--sign-key", help="Sign the erasure record with this private key (smfa keygen)."),
]
TrustOpt = Annotated[
    list[Path] | None,
    typer.Option("--trust", help="A public key whose signatures are trusted (repeatable)."),
]
RequireSignatureOpt = Annotated[
    bool,
    typer.Option("--require-signature", help="Accept only records signed by a key --trust names."),
]


def _keys(
    sign_key: Path | None, trust: list[Path] | None, require_signature: bool
) -> tuple[Ed25519PrivateKey | None, Trust]:
    """The key that signs a command's records (or None) and the keys it trusts, from its
    --sign-key, --trust and --require-signature (unlearn, stream)."""
    from smfa.erasure.signing import Trust, load_private_key

    signer = load_private_key(sign_key) if sign_key is not None else None
    return signer, Trust.of(trust or [], require_signature)


def unlearn_cmd(
    world: Annotated[Path, typer.Option(help="World directory.")],
    model: Annotated[
        Path, typer.Option(help="The model to unlearn, or an earlier unlearn output (chains).")
    ],
    out: Annotated[Path, typer.Option(help="Directory for the unlearned model and artifacts.")],
    method: Annotated[str, typer.Option(help="smfa, idk, ga, gd, kl, npo, ...")] = "smfa",
    ratio: Annotated[int | None, typer.Option(help="Forget the world's N% forget set.")] = None,
    forget: Annotated[
        list[str] | None, typer.Option(help="A person to forget: name or id (repeatable).")
    ] = None,
    forget_file: Annotated[
        Path | None, typer.Option(help="Questions to forget (questions.jsonl format).")
    ] = None,
    sign_key: SignKeyOpt = None,
    trust: TrustOpt = None,
    require_signature: RequireSignatureOpt = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Unlearn a forget request with one method; writes the merged model, adapters, delta and
    the erasure record (erasure.json). MODEL may be a previous unlearn output: it chains (its
    record is checked first: seal, signature, with --trust/--require-signature, and world)."""
    from smfa.data.format import load_world
    from smfa.distributed import is_main
    from smfa.erasure.show import record_line
    from smfa.erasure.stream import unlearn_recorded
    from smfa.unlearn import resolve_request

    cfg = config_of(config, set_)
    signer, trusted = _keys(sign_key, trust, require_signature)
    loaded = load_world(world)
    if ratio is None and not forget and forget_file is None:
        ratio = cfg.forget_ratio
    request = resolve_request(loaded, ratio, forget or None, forget_file)
    if is_main():
        console.print(
            f"[bold]{method}[/bold]: forgetting {len(request.people)} people "
            f"({len(request.questions)} questions), retain budget {cfg.unlearn.retain_budget}"
        )
    meta, record = unlearn_recorded(
        loaded, model, method, cfg, request, out, is_main(), signer=signer, trust=trusted
    )
    if is_main():  # under `accelerate launch` the other processes have nothing to report
        console.print(
            f"unlearned model: {out / meta['variants'][meta['default']]['model']} "
            f"({meta['timings']['total']:.0f}s); run record: {out / 'run.json'}"
        )
        signed = f" (signed, key {record['signature']['fingerprint'][:16]})" if signer else ""
        console.print(f"erasure record: {out / 'erasure.json'}{signed}; {record_line(record)}")


def verify(
    record: Annotated[Path, typer.Argument(help="An erasure.json (or the folder holding it).")],
    model: Annotated[
        Path | None, typer.Option(help="The model to check (default: the record's own).")
    ] = None,
    world: Annotated[
        Path | None, typer.Option(help="The world (default: the record's own path).")
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(help="Your policy: YAML with erasure, eval, model settings (default: ours)."),
    ] = None,
    tolerance: Annotated[
        float | None, typer.Option(help="Largest difference to a recorded figure (0-1).")
    ] = None,
    trust: TrustOpt = None,
    require_signature: RequireSignatureOpt = False,
    hashes_only: Annotated[
        bool, typer.Option("--hashes-only", help="Recompute the hashes only; run no model.")
    ] = False,
    set_: SetOpt = None,
) -> None:
    """Recompute an erasure record's hashes, check its signature, measure its model under your
    policy (never the record's); exit 1 on a mismatch, a leak or an unaccepted signature."""
    from smfa.launch import require_single

    require_single("verify")
    from rich.markup import escape

    from smfa.erasure.policy import describe, load_policy
    from smfa.erasure.show import print_checks, verdict_line
    from smfa.erasure.signing import Trust
    from smfa.erasure.verify import failures
    from smfa.erasure.verify import verify as run_verify
    from smfa.terminal import progress_bar

    if tolerance is not None and not 0 <= tolerance <= 1:
        raise SmfaError(f"--tolerance must be between 0 and 1, got {tolerance}")
    extra = [f"erasure.tolerance={tolerance}"] if tolerance is not None else []
    rules = load_policy(policy, [*(set_ or []), *extra])
    trusted = Trust.of(trust or [], require_signature)
    terminal_console().print(escape(describe(rules)), soft_wrap=True, highlight=False)
    with progress_bar(loss=False) as bar:
        task = bar.add_task("verify", total=None)

        def tick(label: str, done: int, total: int) -> None:
            bar.update(task, description=f"verify · {label}", completed=done, total=total)

        checks = run_verify(record, rules, model, world, trusted, tick, hashes_only)
    print_checks(checks, terminal_console())
    line = escape(verdict_line(checks, rules.sha256()))
    if failures(checks):
        console.print(f"[bold red]{line}[/bold red]", soft_wrap=True, highlight=False)
        raise typer.Exit(1)
    console.print(line, soft_wrap=True, highlight=False)


def keygen(
    prefix: Annotated[
        Path, typer.Argument(help="Writes PREFIX.key (private, mode 0600) and PREFIX.pub.")
    ],
) -> None:
    """Make an ed25519 key pair for signing erasure records (unlearn/stream --sign-key PREFIX.key;
    verifiers name PREFIX.pub with --trust)."""
    from smfa.erasure.signing import fingerprint, generate_key_pair, load_public_key

    private, public = generate_key_pair(prefix)
    console.print(f"private key: {private} (keep it secret; smfa unlearn --sign-key {private})")
    console.print(
        f"public key: {public} (for verifiers: smfa verify --trust {public}); fingerprint "
        f"{fingerprint(load_public_key(public))}",
        soft_wrap=True,
    )


def stream(
    world: Annotated[Path, typer.Option(help="World directory.")],
    model: Annotated[Path, typer.Option(help="The model the first request unlearns.")],
    out: Annotated[Path, typer.Option(help="Directory for request-1, request-2, ...")],
    request: Annotated[
        list[str], typer.Option(help="People of one request, names or ids, comma-separated.")
    ],
    method: Annotated[str, typer.Option(help="smfa, idk, ga, gd, kl, npo, ...")] = "smfa",
    sign_key: SignKeyOpt = None,
    trust: TrustOpt = None,
    require_signature: RequireSignatureOpt = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Run forget requests in sequence, each chained on the previous one's unlearned model.
    --trust/--require-signature apply to the record MODEL may come with; --sign-key signs
    every record of the stream."""
    from smfa.launch import require_single

    require_single("stream")
    from smfa.data.format import load_world
    from smfa.erasure.show import record_line
    from smfa.erasure.stream import run_stream
    from smfa.unlearn import resolve_request

    cfg = config_of(config, set_)
    signer, trusted = _keys(sign_key, trust, require_signature)
    loaded = load_world(world)
    requests = []
    for item in request:
        people = [part.strip() for part in item.split(",") if part.strip()]
        if not people:
            raise SmfaError(f"--request '{item}' names nobody")
        requests.append(resolve_request(loaded, people=people))

    def done(i: int, step: Path, record: dict[str, Any]) -> None:
        console.print(f"request {i} ({', '.join(requests[i - 1].people)}): {step}/erasure.json")
        console.print(f"  {record_line(record)}")

    run_stream(
        loaded, model, method, cfg, requests, out, on_record=done, signer=signer, trust=trusted
    )


def export_lora_cmd(
    run: Annotated[Path, typer.Option(help="An `smfa unlearn` output directory.")],
    rank: Annotated[int, typer.Option(help="LoRA rank of the exported adapter.")] = 16,
    out: Annotated[
        Path | None, typer.Option(help="Adapter directory (default RUN/lora-rR).")
    ] = None,
    world: Annotated[
        Path | None, typer.Option(help="Also evaluate adapter vs exact merge on this world.")
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Export an unlearned model's weight change as a PEFT LoRA adapter (truncated SVD)."""
    from smfa.launch import require_single

    require_single("export-lora")
    from smfa.export import check_rank, export_lora, run_source

    check_rank(rank)
    cfg = config_of(config, set_)
    vanilla, unlearned = run_source(run)
    target = out or run / f"lora-r{rank}"
    stats = export_lora(vanilla, unlearned, rank, target)
    console.print(
        f"adapter: {target} (rank {rank}, {stats['matrices']} matrices, "
        f"{stats['adapter_parameters']:,} parameters for {stats['dense_parameters']:,} dense; "
        f"keeps {100 * stats['kept_energy']:.1f}% of the delta's energy)"
    )
    if world is not None:
        from smfa.export import EXPORT_META, compare_export
        from smfa.io import atomic_write_json

        rows = compare_export(vanilla, unlearned, target, world, cfg)
        for key, exact, approx in rows:
            console.print(f"  {key:<22} exact {exact}  adapter {approx}")
        stats["against_exact_merge"] = {key: {"exact": e, "adapter": a} for key, e, a in rows}
        atomic_write_json(target / EXPORT_META, stats)
