"""A local server that speaks the Ollama HTTP API, for tests and the bench.

It stands in for the Ollama server binary (which cannot run here) and nothing else: the real
``ollama`` Python client talks to it over loopback HTTP exactly as it would to Ollama.  It answers
``/api/chat``, ``/api/generate``, ``/api/embed`` and ``/api/embeddings`` with deterministic
output, streams NDJSON chunk by chunk with realistic timing fields (``total_duration``,
``load_duration``, ``prompt_eval_count``/``_duration``, ``eval_count``/``_duration``, in ns), and
answers errors as Ollama does:

- an unknown model: 404 ``{"error": "model \\"x\\" not found, try pulling it first"}``;
- the model ``crash``: 500 before any output;
- the model ``fail-midstream``: two chunks, then an ``{"error": ...}`` line in the stream;
- the model ``stall``: waits ``stall_s`` before answering (client timeouts).

Timing: the first chunk comes after ``first_token_s`` (prefill), then one chunk every
``token_s``, ``chunks`` in all (8 by default); ``options.num_predict`` caps them
(``done_reason: length``).  Each chunk stands for ``tokens_per_chunk`` tokens in ``eval_count``
(real servers merge tokens into one chunk, e.g. the bytes of one multi-byte character).  A chat
request with ``tools`` answers with a call of the first tool.

Run ``python -m axonize_testsupport.ollama_server [--first-token-ms N --token-ms N
--chunks N]``: it prints its port.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# The examples' default models (llama3.2, all-minilm) are served too, so that they run unchanged.
MODELS = ("tiny-llama:latest", "tiny-embed:latest", "llama3.2:latest", "all-minilm:latest",
          "fail-midstream:latest", "stall:latest", "crash:latest")
WORDS = ("The", " sky", " is", " blue", " because", " of", " Rayleigh", " scattering", " of",
         " sunlight", " in", " the", " air", ".")
EMBED_DIM = 8


def _canonical(model: str) -> str:
    return model if ":" in model else model + ":latest"


class OllamaServer:
    """``with OllamaServer() as srv:`` serves on 127.0.0.1 at ``srv.host``."""

    def __init__(self, first_token_s: float = 0.0, token_s: float = 0.0, load_s: float = 0.0,
                 stall_s: float = 5.0, tokens_per_chunk: int = 1, chunks: int = 8) -> None:
        self.first_token_s = first_token_s
        self.chunks = chunks
        self.tokens_per_chunk = tokens_per_chunk
        self.token_s = token_s
        self.load_s = load_s
        self.stall_s = stall_s
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.app = self
        self.port = self._httpd.server_address[1]
        self.host = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> OllamaServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def record(self, path: str, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append((path, body))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    app: OllamaServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Without this, Nagle's algorithm holds the first streamed chunk back ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # ------------------------------------------------------------------ plumbing
    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    def do_GET(self) -> None:
        if self.path == "/api/tags":
            self._send_json(200, {"models": [{"name": m, "model": m} for m in MODELS]})
        else:
            self._send_json(404, {"error": f"unknown endpoint {self.path}"})

    def do_POST(self) -> None:
        app = self.server.app
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._send_json(400, {"error": "invalid JSON body"})
            return
        app.record(self.path, body)
        model = _canonical(str(body.get("model") or ""))
        if not body.get("model"):
            self._send_json(400, {"error": "model is required"})
            return
        if model not in MODELS:
            self._send_json(404, {"error": f'model "{body["model"]}" not found, try pulling '
                                           "it first"})
            return
        if model == "crash:latest":
            self._send_json(500, {"error": "llama runner process has terminated: exit status 2"})
            return
        if model == "stall:latest":
            time.sleep(app.stall_s)
        if self.path == "/api/chat":
            self._generate(app, body, model, chat=True)
        elif self.path == "/api/generate":
            self._generate(app, body, model, chat=False)
        elif self.path == "/api/embed":
            self._embed(app, body, model)
        elif self.path == "/api/embeddings":
            self._send_json(200, {"embedding": _vector(str(body.get("prompt", "")))})
        else:
            self._send_json(404, {"error": f"unknown endpoint {self.path}"})

    # ------------------------------------------------------------------ endpoints
    def _generate(self, app: OllamaServer, body: dict[str, Any], model: str, chat: bool) -> None:
        t0 = time.perf_counter_ns()
        options = body.get("options") or {}
        limit = options.get("num_predict")
        n = app.chunks if limit is None or limit < 0 else min(int(limit), app.chunks)
        reason = "length" if limit is not None and 0 <= limit <= app.chunks else "stop"
        if chat:
            prompt = " ".join(str(m.get("content", "")) for m in body.get("messages") or [])
        else:
            prompt = str(body.get("prompt") or "")
        prompt_tokens = max(1, len(prompt.split()))
        tools = body.get("tools") or []
        stream = body.get("stream", True)
        if app.load_s:
            time.sleep(app.load_s)
        t_loaded = time.perf_counter_ns()
        if app.first_token_s:
            time.sleep(app.first_token_s)
        t_prefilled = time.perf_counter_ns()

        def piece(i: int) -> dict[str, Any]:
            out: dict[str, Any] = {"model": model, "created_at": _now()}
            if chat:
                out["message"] = {"role": "assistant", "content": WORDS[i % len(WORDS)]}
            else:
                out["response"] = WORDS[i % len(WORDS)]
            out["done"] = False
            return out

        if stream:
            self._start_stream()
        text = []
        for i in range(n):
            if i and app.token_s:
                time.sleep(app.token_s)
            text.append(WORDS[i % len(WORDS)])
            if stream:
                self._chunk(piece(i))
                if model == "fail-midstream:latest" and i == 1:
                    self._chunk({"error": "an error was encountered while running the model"})
                    self._end_stream()
                    return
        t_end = time.perf_counter_ns()
        final: dict[str, Any] = {"model": model, "created_at": _now()}
        content = "" if stream else "".join(text)
        if chat:
            message: dict[str, Any] = {"role": "assistant", "content": content}
            if tools:
                fn = tools[0].get("function", {})
                message["tool_calls"] = [{"function": {"name": fn.get("name", "tool"),
                                                       "arguments": {"city": "Paris"}}}]
            final["message"] = message
        else:
            final["response"] = content
        final.update({
            "done": True, "done_reason": reason,
            "total_duration": t_end - t0, "load_duration": t_loaded - t0,
            "prompt_eval_count": prompt_tokens, "prompt_eval_duration": t_prefilled - t_loaded,
            "eval_count": n * app.tokens_per_chunk, "eval_duration": t_end - t_prefilled,
        })
        if not chat:
            final["context"] = list(range(prompt_tokens + n))
        if stream:
            self._chunk(final)
            self._end_stream()
        else:
            self._send_json(200, final)

    def _embed(self, app: OllamaServer, body: dict[str, Any], model: str) -> None:
        t0 = time.perf_counter_ns()
        inputs = body.get("input", "")
        items = [inputs] if isinstance(inputs, str) else list(inputs)
        vectors = [_vector(str(x)) for x in items]
        self._send_json(200, {
            "model": model, "embeddings": vectors,
            "total_duration": time.perf_counter_ns() - t0, "load_duration": 0,
            "prompt_eval_count": sum(max(1, len(str(x).split())) for x in items),
        })


def _vector(text: str) -> list[float]:
    seed = sum(text.encode())
    return [((seed + 31 * i) % 97) / 97.0 for i in range(EMBED_DIM)]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--first-token-ms", type=float, default=0.0)
    parser.add_argument("--token-ms", type=float, default=0.0)
    parser.add_argument("--chunks", type=int, default=8, help="chunks in an answer")
    args = parser.parse_args()
    srv = OllamaServer(args.first_token_ms / 1000, args.token_ms / 1000, chunks=args.chunks)
    print(srv.port, flush=True)
    try:
        srv._httpd.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
