"""A stand-in for an LLM: a loopback HTTP server that speaks the OpenAI chat-completions protocol
and answers from a scripted confusion matrix (no LLM weights install offline). It finds each
text's true label in `truth`, answers it with probability `accuracy` and otherwise one of the
other labels at random (seeded by the text, so a text always gets the same answer), and records
every request body. Scripted faults: the first `fail_first` requests get these statuses (429,
500, ...), texts in `malformed` get prose instead of JSON, and with `structured=False` a request
asking for structured output gets a 400."""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Script:
    truth: dict[str, str]
    labels: list[str]
    accuracy: float = 0.8
    fail_first: list[int] = field(default_factory=list)
    malformed: set[str] = field(default_factory=set)
    structured: bool = True
    requests: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, text: str) -> str:
        if text in self.malformed:
            return "I would say this is about sport, probably."
        rng = random.Random(hashlib.sha256(text.encode()).hexdigest())
        true = self.truth.get(text)
        if true is not None and rng.random() < self.accuracy:
            return json.dumps({"label": true})
        return json.dumps({"label": rng.choice([label for label in self.labels if label != true])})


def handler_for(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def reply(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with script.lock:
                script.requests.append(body)
                fault = script.fail_first.pop(0) if script.fail_first else None
            if not self.path.endswith("/chat/completions"):
                return self.reply(404, {"error": {"message": "no such route"}})
            if fault is not None:
                return self.reply(fault, {"error": {"message": "scripted fault", "type": "server_error"}})
            if "response_format" in body and not script.structured:
                return self.reply(400, {"error": {"message": "response_format is not supported"}})
            text = body["messages"][-1]["content"]
            message = {"role": "assistant", "content": script.answer(text)}
            usage = {"prompt_tokens": len(text.split()), "completion_tokens": 5}
            usage["total_tokens"] = usage["prompt_tokens"] + 5
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            answer = {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body["model"]}
            self.reply(200, {**answer, "choices": [choice], "usage": usage})

    return Handler


@contextmanager
def chat_server(script: Script) -> Iterator[str]:
    """The server on a free loopback port for the block; yields its base URL (…/v1)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(script))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
