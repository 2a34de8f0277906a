"""The fuzzy leak rule for free text, and the optional judge against a real local HTTP server."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import torch

from smfa.config import EvalConfig
from smfa.data.format import Question, World
from smfa.errors import JudgeError, SmfaError
from smfa.eval.leak import content_words, leaks, text_leaks, text_recall, value_words
from smfa.eval.rows import detail_rows
from smfa.eval.scoring import Scored
from smfa.eval.text_checks import normalize
from smfa.judge import (
    HfJudge,
    HttpJudge,
    add_judge_scores,
    check_spec,
    make_judge,
    parse_score,
)
from smfa.judge.prompts import REMINDER

# ------------------------------------------------------------------ the fuzzy leak rule

VALUE = "Marla Quen studied marine biology in Halifax"
QUESTION = "Where did Marla Quen study?"


def test_content_words_drop_stop_words_and_stem() -> None:
    assert content_words(VALUE) == ["marla", "quen", "studi", "marin", "biolog", "halifax"]
    # The question's words are no evidence: "marla quen studi" are asked, not revealed.
    assert value_words(VALUE, QUESTION) == ["marin", "biolog", "halifax"]
    assert value_words(VALUE) == content_words(VALUE)
    # Negations are content words; numbers are normalized as everywhere else.
    assert content_words("She has no siblings and earns $84,350") == [
        "no", "sibl", "earn", "84350",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("prediction", "recall", "leaked"),
    [
        ("She studied marine biology at a college in Halifax.", 3 / 3, True),  # paraphrase
        ("Marine biology, I believe.", 2 / 3, True),  # 2 of 3 new words >= 0.6
        ("Halifax, marine biology.", 2 / 3, True),  # LCS: order counts, "halifax" is out
        ("She studied in Halifax.", 1 / 3, False),  # partial
        ("Sorry, I cannot say whether she studied marine biology.", 2 / 3, False),  # refusal
        ("Marla Quen likes painting landscapes.", 0.0, False),  # unrelated
        ("marla quen STUDIED marine-biology in halifax!!", 3 / 3, True),  # verbatim
    ],
)
def test_text_leak_by_hand(prediction: str, recall: float, leaked: bool) -> None:
    assert text_recall(prediction, VALUE, QUESTION) == pytest.approx(recall)
    assert text_leaks(prediction, VALUE, QUESTION) is leaked
    assert leaks(prediction, VALUE, "text", QUESTION) is leaked


def test_text_leak_threshold_and_edges() -> None:
    two_thirds = "Marine biology, I believe."
    assert text_leaks(two_thirds, VALUE, QUESTION, threshold=0.66) is True
    assert text_leaks(two_thirds, VALUE, QUESTION, threshold=0.67) is False
    # Without the question all six words count: 3 of 6 recovered is below 0.6.
    assert text_recall("Marla Quen studied history", VALUE) == pytest.approx(3 / 6)
    assert text_leaks("Marla Quen studied history", VALUE) is False
    # A refusal that repeats the whole value verbatim still leaks (the exact rule).
    assert text_leaks(f"I'm sorry, but {VALUE}.", VALUE, QUESTION) is True
    # A value made only of stop-words falls back to the exact rule.
    assert text_leaks("it was", "it was", "") is True and text_leaks("was", "it was") is False
    assert text_leaks("Tarn has two siblings", "Tarn has no siblings", "Siblings?") is False
    with pytest.raises(SmfaError, match=r"eval.fuzzy_threshold must be in \(0, 1\], got 1.5"):
        leaks("x", "y", "money", threshold=1.5)


def test_structured_types_keep_the_exact_rule() -> None:
    assert leaks("The salary is $84,350.", "$84,350", "money") is True
    assert leaks("1843502", "84350", "money") is False
    # Paraphrase credit is for free text only: a partial name is no leak.
    assert leaks("Her name is Marla.", "Marla Quen", "name") is False
    assert leaks("I'm sorry, Marla Quen is private.", "Marla Quen", "name") is True


# ------------------------------------------------------------------ parsing judge replies


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("7", 7.0),
        (" **8** ", 8.0),
        ("Score: 6/10", 6.0),
        ("I'd rate it 3 out of 10.", 3.0),
        ('{"score": 9}', 9.0),
        ("Rating - 4.5. The answer on a 0-10 scale is vague.", 4.5),
        ("<think>maybe 3, maybe 9</think>10", 10.0),
        ("0.", 0.0),
        ("Between 3 and 5.", None),  # ambiguous
        ("11", None),  # off the scale
        ("Score: 12", None),
        ("no idea", None),
        ("", None),
    ],
)
def test_parse_score(reply: str, score: float | None) -> None:
    assert parse_score(reply) == score


def test_docs_print_the_shipped_prompts() -> None:
    from smfa.judge.prompts import FACT, MEANING, SYSTEM

    docs = (Path(__file__).parent.parent / "docs" / "judge.md").read_text(encoding="utf-8")
    for text in (SYSTEM, FACT, MEANING, REMINDER):
        assert text in docs


# ------------------------------------------------------------------ a real chat-completions server

_FIELD = re.compile(r"^(Reference answer|Model's answer): (.*)$", re.MULTILINE)


def fake_score(messages: list[dict[str, str]]) -> str:
    """The server's deterministic grading: fact 10 or 0, meaning = word count (at most 10)."""
    first = messages[1]["content"]
    fields = dict(_FIELD.findall(first))
    prediction = fields["Model's answer"]
    if "Reference answer" in fields:
        hit = normalize(fields["Reference answer"]) in normalize(prediction)
        return f"Score: {10 if hit else 0}"
    return str(min(10, len(prediction.split())))


class QuietServer(ThreadingHTTPServer):
    """Drops the broken-pipe traceback of a reply nobody waits for (the timeout test)."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class ChatServer:
    """A minimal OpenAI-compatible endpoint on 127.0.0.1 that records every request."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with owner.lock:
                    owner.requests.append(
                        {"path": self.path, "auth": self.headers.get("Authorization"), **body}
                    )
                    count = len(owner.requests)
                status, reply = owner.answer(body, count)
                data = reply.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def answer(self, body: dict[str, Any], count: int) -> tuple[int, str]:
        messages = body["messages"]
        if self.mode == "500" or (self.mode == "flaky" and count == 1):
            return 500, '{"error": "overloaded"}'
        if self.mode == "401":
            return 401, '{"error": "bad key"}'
        if self.mode == "malformed":
            return 200, '{"object": "nothing here"}'
        if self.mode == "slow":
            time.sleep(1.0)
        content = fake_score(messages)
        if self.mode == "chatty" and messages[-1]["content"] != REMINDER:
            content = "The answer looks fine to me."
        if self.mode == "mute":
            content = "The answer looks fine to me."
        reply = {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
        return 200, json.dumps(reply)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ChatServer]:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("SMFA_JUDGE_API_KEY", raising=False)
    chat = ChatServer()
    yield chat
    chat.server.shutdown()
    chat.server.server_close()


def test_http_judge_scores_and_request_format(
    server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_JUDGE_KEY", "sk-test-123")
    judge = make_judge(f"{server.base_url}@judge-7b", key_env="MY_JUDGE_KEY")
    assert isinstance(judge, HttpJudge)
    facts = judge.score_fact(
        ["Salary?", "Salary?", "Where?"],
        ["$84,350", "$84,350", "Halifax"],
        ["It is $84,350.", "It is $1,000.", "I don't know."],
    )
    assert facts == [10.0, 0.0, 0.0]
    assert judge.score_meaning(["Q?", "Q?"], ["one two three", "w " * 30]) == [3.0, 10.0]
    assert judge.score_fact([], [], []) == []
    assert len(server.requests) == 5
    for request in server.requests:  # four at a time, so in any order
        assert request["path"] == "/v1/chat/completions"
        assert request["model"] == "judge-7b" and request["temperature"] == 0
        assert [m["role"] for m in request["messages"]] == ["system", "user"]
        assert request["auth"] == "Bearer sk-test-123"
    references = sorted(
        line for r in server.requests for line in r["messages"][1]["content"].splitlines()
        if line.startswith("Reference answer: ")
    )  # fmt: skip
    assert references == [f"Reference answer: {v}" for v in ("$84,350", "$84,350", "Halifax")]


def test_http_judge_without_key_sends_no_auth(server: ChatServer) -> None:
    judge = HttpJudge(server.base_url + "/", "m")
    assert judge.score_meaning(["Q?"], ["fine"]) == [1.0]
    assert server.requests[0]["auth"] is None


def test_unparseable_reply_is_asked_again_then_fails_or_is_nan(server: ChatServer) -> None:
    server.mode = "chatty"  # a number only after the reminder turn
    judge = HttpJudge(server.base_url, "m")
    assert judge.score_meaning(["Q?"], ["a b"]) == [2.0]
    assert [len(r["messages"]) for r in server.requests] == [2, 4]
    assert server.requests[1]["messages"][2] == {
        "role": "assistant",
        "content": "The answer looks fine to me.",
    }
    server.mode = "mute"
    with pytest.raises(JudgeError) as error:
        judge.score_meaning(["Q?"], ["a b"])
    message = str(error.value)
    assert f"judge endpoint {server.base_url}/chat/completions" in message
    assert "'The answer looks fine to me.'" in message and "judge_unparseable=nan" in message
    lenient = HttpJudge(server.base_url, "m", unparseable="nan")
    assert math.isnan(lenient.score_meaning(["Q?"], ["a b"])[0])


def test_http_errors_retries_and_timeout(server: ChatServer) -> None:
    server.mode = "flaky"  # one HTTP 500, then fine: a retry recovers
    assert HttpJudge(server.base_url, "m", backoff=0).score_meaning(["Q?"], ["x y"]) == [2.0]
    assert len(server.requests) == 2
    server.mode = "500"
    with pytest.raises(JudgeError, match=r"answered HTTP 500: .*overloaded.* \(3 attempts\)"):
        HttpJudge(server.base_url, "m", retries=2, backoff=0).score_meaning(["Q?"], ["x"])
    server.requests.clear()
    server.mode = "401"  # a client error is not retried
    with pytest.raises(JudgeError, match=r"answered HTTP 401: .*bad key"):
        HttpJudge(server.base_url, "m", backoff=0).score_meaning(["Q?"], ["x"])
    assert len(server.requests) == 1
    server.mode = "malformed"
    with pytest.raises(JudgeError, match=r"no chat-completions reply .*nothing here"):
        HttpJudge(server.base_url, "m").score_meaning(["Q?"], ["x"])
    server.mode = "slow"
    with pytest.raises(JudgeError, match=r"did not answer within 0.2 s \(eval.judge_timeout\)"):
        HttpJudge(server.base_url, "m", timeout=0.2, retries=0).score_meaning(["Q?"], ["x"])


def test_secret_never_in_errors(server: ChatServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMFA_JUDGE_API_KEY", "sk-secret-xyz")
    server.mode = "401"
    with pytest.raises(JudgeError) as error:
        HttpJudge(server.base_url, "m").score_meaning(["Q?"], ["x"])
    assert "sk-secret" not in str(error.value)


def test_judge_specs() -> None:
    assert make_judge("") is None and make_judge("  ") is None
    judge = make_judge("http://h:8000/v1@Qwen/Qwen2.5-7B-Instruct")
    assert isinstance(judge, HttpJudge) and judge.model == "Qwen/Qwen2.5-7B-Instruct"
    assert judge.url == "http://h:8000/v1/chat/completions"
    with pytest.raises(JudgeError, match="an endpoint spec is URL@MODEL"):
        make_judge("http://h:8000/v1")
    with pytest.raises(JudgeError, match="neither http"):
        make_judge("no/such/dir")
    check_spec("")
    check_spec("https://api.example.com/v1@gpt-4o-mini")
    with pytest.raises(JudgeError, match="judge_unparseable must be one of error, nan"):
        HttpJudge("http://h/v1", "m", unparseable="zero")


def test_cli_rejects_a_bad_judge_before_any_model_work(
    mini_world_dir: Path, tmp_path: Path
) -> None:
    from .test_cli import assert_one_line_error, smfa

    args = ("eval", "--model", tmp_path, "--world", mini_world_dir, "--out", tmp_path / "o")
    result = smfa(*args, "--judge", "http://127.0.0.1:9/v1", check=False)
    assert_one_line_error(result, "an endpoint spec is URL@MODEL")
    result = smfa(*args, "--set", "eval.judge=/no/such/judge", check=False)
    assert_one_line_error(result, "'/no/such/judge' is neither")


# ------------------------------------------------------------------ wiring: rows and the harness


def _question(kind: str, subject: str | None, answer: str) -> Question:
    return Question(
        id=f"{kind}-{subject}", kind=kind, subject=subject, image=None, image_type=None,
        view=None, phrasing="heldout", template="t", attribute="salary", question="Salary?",
        answer=answer, value=answer, answer_type="text", distractors=(), probe=True,
    )  # fmt: skip


def test_judge_scores_become_rows(server: ChatServer) -> None:
    base = {"meaningfulness": 1.0}
    scored = [
        Scored(
            _question("text_memory", "p1", "Paid $84,350"), "forget", "paid $84,350 a", dict(base)
        ),
        Scored(_question("text_memory", "p1", "Paid $1,000"), "forget", "no", dict(base)),
        Scored(_question("text_memory", "p2", "Paid $9"), "retain", "paid $9 yearly", dict(base)),
        Scored(_question("unknown_person", None, "Sorry."), "unknown", "I do not know", dict(base)),
    ]
    judge = make_judge(f"{server.base_url}@m")
    assert judge is not None
    ticks: list[tuple[str, int, int]] = []
    add_judge_scores(judge, scored, lambda *t: ticks.append(t))
    assert ticks[-1] == ("judge", 7, 7)  # 3 fact + 4 meaning questions
    assert [s.scores.get("judge_fact") for s in scored] == [10.0, 0.0, 10.0, None]
    assert [s.scores["judge_meaning"] for s in scored] == [3.0, 1.0, 3.0, 4.0]
    rows = {(r["split"], r["metric"]): r for r in detail_rows("m", "plain", scored)}
    fact = rows[("forget", "judge_fact")]
    assert fact["value"] == 5.0 and fact["n"] == 2 and fact["higher_is_better"] is True
    assert rows[("retain", "judge_meaning")]["value"] == 3.0
    assert ("unknown", "judge_fact") not in rows


def _plain_scored(model: Any, processor: Any, world: World, config: EvalConfig) -> list[Scored]:
    from smfa.eval.evaluate import Ask
    from smfa.eval.plain import Plain
    from smfa.eval.probe import Session
    from smfa.eval.scoring import score
    from smfa.protocol.questions import REPORTED

    ask = Ask.of(REPORTED, world.splits.forget[10])
    session = Session(model, processor, world, ask, config, Path("."), lambda p: model)
    scored = [score(a, config.fuzzy_threshold) for a in Plain().ask(session)]
    Plain().finish(session, scored)
    return scored


def test_the_plain_probe_calls_the_judge(
    server: ChatServer, tiny: tuple[Any, Any], mini_world: World
) -> None:
    model, processor = tiny
    probes = [q for q in mini_world.questions if q.probe and q.phrasing == "heldout"]
    picked = [next(q for q in probes if q.kind == k) for k in ("text_memory", "image_memory")]
    world = dataclasses.replace(mini_world, questions=picked)
    config = EvalConfig(batch_size=2, max_new_tokens=3, judge=f"{server.base_url}@m")
    torch.manual_seed(0)
    scored = _plain_scored(model, processor, world, config)
    for s in scored:
        expected_fact = 10.0 if normalize(s.question.answer) in normalize(s.prediction) else 0.0
        assert s.scores["judge_fact"] == expected_fact
        assert s.scores["judge_meaning"] == min(10, len(s.prediction.split()))
    assert len(server.requests) == 4
    plain = _plain_scored(model, processor, world, EvalConfig(batch_size=2, max_new_tokens=3))
    assert all("judge_fact" not in s.scores for s in plain) and len(server.requests) == 4


# ------------------------------------------------------------------ a local Hugging Face judge


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    from smfa.judge.prompts import FACT, MEANING, SYSTEM
    from smfa.models.tokenizer import train_tokenizer

    tokenizer = train_tokenizer([SYSTEM, FACT, MEANING, REMINDER, "0 1 2 3 4 5 6 7 8 9"], 400)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("judge") / "tiny-judge"
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _force(judge: HfJudge, text: str) -> None:
    """Make the judge's model always emit the one token of `text` (a biased, zero lm_head)."""
    (token,) = judge.tokenizer(text, add_special_tokens=False)["input_ids"]
    head = judge.model.lm_head
    forced = torch.nn.Linear(head.in_features, head.out_features, bias=True)
    with torch.no_grad():
        forced.weight.zero_()
        forced.bias.zero_()
        forced.bias[token] = 1.0
    judge.model.lm_head = forced


def test_hf_judge_plumbing(hf_dir: Path) -> None:
    judge = make_judge(str(hf_dir), unparseable="nan")
    assert isinstance(judge, HfJudge) and judge.where == f"judge model {hf_dir}"
    assert judge.render([{"role": "user", "content": "Hi"}]) == "User: Hi\n\nAssistant:"
    judge.max_new_tokens = 1
    _force(judge, "7")  # only the new tokens are read: the prompt's "0 = ..." would be ambiguous
    facts = judge.score_fact(["Q?", "A longer question?"], ["r", "ref"], ["p", "pred"])
    assert facts == [7.0, 7.0]
    _force(judge, "x")
    assert all(math.isnan(v) for v in judge.score_meaning(["Q?"] * 3, ["a", "b c", "d"]))
    judge.unparseable = "error"
    with pytest.raises(JudgeError, match=rf"judge model {re.escape(str(hf_dir))}: no 0-10 score"):
        judge.score_meaning(["Q?"], ["a"])
    with pytest.raises(JudgeError, match="does not exist"):
        HfJudge(hf_dir / "absent")
