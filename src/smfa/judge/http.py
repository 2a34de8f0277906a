"""`HttpJudge`: a judge behind an OpenAI-compatible chat-completions endpoint (stdlib only).

Any server that speaks `POST {base_url}/chat/completions` works: vLLM, llama.cpp's server,
Ollama's /v1, text-generation-inference, or a hosted API. Each conversation is one request
with `temperature` 0; a batch runs `concurrency` requests at a time. The API key, if any, is
read from the environment variable named by `key_env` and sent as a bearer token; it never
appears in messages or errors, and it goes to that endpoint only: a redirect is never followed
(urllib would send the key on to any host the server names) but raises `JudgeError` naming its
target. Timeouts, refused connections, HTTP 429 and 5xx are retried `retries` times with
exponential back-off, then raise `JudgeError` naming the endpoint.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from smfa.errors import JudgeError
from smfa.judge.base import PromptJudge
from smfa.judge.prompts import Message

DEFAULT_KEY_ENV = "SMFA_JUDGE_API_KEY"
_RETRIED_STATUS = {408, 409, 429}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Follows no redirect: the 3xx reaches `chat` as an `HTTPError`."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def chat_url(base_url: str) -> str:
    """The chat-completions URL of a base URL ("http://h:8000/v1" -> ".../v1/chat/completions")."""
    url = base_url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise JudgeError(f"judge endpoint {base_url!r} must start with http:// or https://")
    return url if url.endswith("/chat/completions") else f"{url}/chat/completions"


class HttpJudge(PromptJudge):
    """Scores with `model` served at `base_url` (OpenAI chat-completions format)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        key_env: str = DEFAULT_KEY_ENV,
        timeout: float = 60.0,
        retries: int = 2,
        backoff: float = 0.5,
        concurrency: int = 4,
        max_tokens: int = 16,
        unparseable: str = "error",
    ) -> None:
        super().__init__(unparseable)
        if not model:
            raise JudgeError(f"judge endpoint {base_url!r} needs a model name (URL@MODEL)")
        if timeout <= 0 or retries < 0 or concurrency < 1:
            raise JudgeError("judge timeout must be > 0, retries >= 0 and concurrency >= 1")
        self.url = chat_url(base_url)
        self.where = f"judge endpoint {self.url}"
        self.model = model
        self.key_env = key_env
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.concurrency = concurrency
        self.max_tokens = max_tokens

    def complete(self, conversations: Sequence[list[Message]]) -> list[str]:
        if len(conversations) == 1 or self.concurrency == 1:
            return [self.chat(messages) for messages in conversations]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(self.chat, conversations))

    def request_body(self, messages: list[Message]) -> dict[str, Any]:
        """The JSON body of one chat-completions request."""
        return {
            "model": self.model,
            "messages": messages,
            "temperature": 0,
            "max_tokens": self.max_tokens,
        }

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.key_env, "").strip() if self.key_env else ""
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def chat(self, messages: list[Message]) -> str:
        """The reply text to one conversation; raises `JudgeError` once retries are spent."""
        data = json.dumps(self.request_body(messages)).encode("utf-8")
        opener = urllib.request.build_opener(_NoRedirect)  # proxies from the environment now
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(self.url, data, self._headers(), method="POST")
            try:
                with opener.open(request, timeout=self.timeout) as response:
                    return self._content(response.read())
            except urllib.error.HTTPError as error:
                if 300 <= error.code < 400:
                    raise self._redirected(error) from None
                detail = error.read()[:300].decode("utf-8", "replace")
                problem = f"answered HTTP {error.code}: {detail!r}"
                if error.code not in _RETRIED_STATUS and error.code < 500:
                    raise JudgeError(f"{self.where} {problem}") from None
            except TimeoutError:
                problem = f"did not answer within {self.timeout:g} s (eval.judge_timeout)"
            except urllib.error.URLError as error:
                if isinstance(error.reason, TimeoutError):
                    problem = f"did not answer within {self.timeout:g} s (eval.judge_timeout)"
                else:
                    problem = f"cannot be reached: {error.reason}"
            except OSError as error:  # a connection reset mid-reply
                problem = f"failed: {error}"
            if attempt < self.retries:
                time.sleep(self.backoff * 2**attempt)
        tries = self.retries + 1
        raise JudgeError(f"{self.where} {problem} ({tries} attempt{'s' * (tries > 1)})")

    def _redirected(self, error: urllib.error.HTTPError) -> JudgeError:
        location = error.headers.get("Location")
        target = urllib.parse.urljoin(self.url, location) if location else "nowhere"
        error.close()
        return JudgeError(
            f"{self.where} redirects to {target} (HTTP {error.code}); smfa follows no redirect, "
            "so the API key goes to the endpoint given only: set eval.judge to the final URL"
        )

    def _content(self, raw: bytes) -> str:
        try:
            reply = json.loads(raw)
            content = reply["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            shown = raw[:300].decode("utf-8", "replace")
            raise JudgeError(
                f"{self.where} sent no chat-completions reply "
                f"(expected choices[0].message.content): {shown!r}"
            ) from None
        if not isinstance(content, str):
            raise JudgeError(f"{self.where} sent a non-text message content: {content!r}")
        return content
