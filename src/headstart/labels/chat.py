"""A chat model as an annotator: the prompt (the label set, optional descriptions and examples),
the answer's JSON schema, strict parsing, the call through the `openai` client (any
OpenAI-compatible endpoint; its retries with backoff on 429 and 5xx), and an on-disk cache of
responses that makes a run resumable."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headstart.errors import ConfigError
from headstart.extras import optional

SYSTEM = (
    "You label texts for a classifier. Give each text exactly one of these labels:\n{labels}\n"
    'Answer with JSON only, in the form {{"label": "<label>"}}, and nothing else.'
)


def prompt(
    text: str, labels: list[str], descriptions: dict[str, str], shots: list[tuple[str, str]]
) -> list[dict[str, str]]:
    """The chat messages that ask for `text`'s label: the label set (with descriptions) in the
    system message, then each example as a user turn answered by the assistant, then the text."""
    listed = "\n".join(
        f"- {label}" + (f": {descriptions[label]}" if label in descriptions else "") for label in labels
    )
    messages = [{"role": "system", "content": SYSTEM.format(labels=listed)}]
    for example, label in shots:
        messages += [
            {"role": "user", "content": example},
            {"role": "assistant", "content": json.dumps({"label": label})},
        ]
    return [*messages, {"role": "user", "content": text}]


def answer_schema(labels: list[str]) -> dict[str, Any]:
    """The structured-output format that holds the model to one of the labels."""
    schema = {
        "type": "object",
        "properties": {"label": {"type": "string", "enum": labels}},
        "required": ["label"],
        "additionalProperties": False,
    }
    return {"type": "json_schema", "json_schema": {"name": "label", "schema": schema, "strict": True}}


def parse_answer(content: str | None, labels: list[str]) -> str | None:
    """The label of a JSON answer {"label": one of `labels`}; None for anything else (never guessed)."""
    try:
        value = json.loads(content or "")
    except json.JSONDecodeError:
        return None
    label = value.get("label") if isinstance(value, dict) else None
    return label if isinstance(label, str) and label in labels else None


@dataclass
class Reply:
    """One response: the message content and its token counts."""

    content: str | None
    prompt_tokens: int
    completion_tokens: int
    cached: bool = False


class ResponseCache:
    """Responses by a hash of (model, messages), one JSON line each, appended as they arrive: an
    interrupted run resumes where it stopped. A torn last line (a crash mid-write) is skipped. The
    file holds hashes and answers, never the texts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.replies: dict[str, Reply] = {}
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                self.replies[entry["key"]] = Reply(
                    entry["content"], entry["prompt_tokens"], entry["completion_tokens"], True
                )

    @staticmethod
    def key(model: str, messages: list[dict[str, str]]) -> str:
        """The hash a request's reply is kept under."""
        return hashlib.sha256(json.dumps([model, messages], ensure_ascii=False).encode()).hexdigest()

    def get(self, key: str) -> Reply | None:
        """The reply kept under `key`, if any."""
        return self.replies.get(key)

    def put(self, key: str, reply: Reply) -> None:
        """Keep `reply` and append it to the file at once."""
        entry: dict[str, Any] = {"key": key, "content": reply.content}
        entry |= {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens}
        with self.lock:
            self.replies[key] = reply
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as stream:
                stream.write(json.dumps(entry) + "\n")
                stream.flush()
                os.fsync(stream.fileno())


class ChatAnnotator:
    """Asks an OpenAI-compatible chat endpoint for labels. Structured output is tried first; a
    server that refuses it (400) is asked again with the prompt alone, and never again with it."""

    def __init__(self, endpoint: str, model: str, api_key: str, timeout: float, max_retries: int) -> None:
        with optional("headstart labels prelabel"):
            import openai
        self.openai = openai
        self.client: Any = openai.OpenAI(  # Any: requests are built as keyword dicts
            base_url=endpoint, api_key=api_key, timeout=timeout, max_retries=max_retries
        )
        self.model = model
        self.structured = True

    def ask(self, messages: list[dict[str, str]], labels: list[str]) -> Reply:
        """One reply; the client retries 429, 5xx and lost connections with exponential backoff.
        A request that still fails raises RequestFailedError; a refused key or model, ConfigError."""
        request: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": 0}
        try:
            if self.structured:
                try:
                    response = self.client.chat.completions.create(
                        **request, response_format=answer_schema(labels)
                    )
                except self.openai.BadRequestError:
                    self.structured = False
            if not self.structured:
                response = self.client.chat.completions.create(**request)
        except (self.openai.AuthenticationError, self.openai.PermissionDeniedError) as error:
            raise ConfigError(
                f"The endpoint refused the API key ({error.status_code}); set the variable named by "
                "--api-key-env to a valid key."
            ) from None
        except self.openai.NotFoundError:
            raise ConfigError(
                f"The endpoint has no chat model '{self.model}' (404); check --endpoint (e.g. "
                "http://localhost:8000/v1) and --model."
            ) from None
        except (self.openai.APIStatusError, self.openai.APIConnectionError) as error:
            status = getattr(error, "status_code", None)
            raise RequestFailedError(f"HTTP {status}" if status else type(error).__name__) from None
        usage = response.usage
        content = response.choices[0].message.content if response.choices else None
        return Reply(content, usage.prompt_tokens if usage else 0, usage.completion_tokens if usage else 0)


class RequestFailedError(Exception):
    """A request that failed after the client's retries; its reason, without the request's text."""
