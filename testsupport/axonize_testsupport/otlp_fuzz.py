"""A seeded corpus of mutated OTLP requests, for fuzzing an OTLP receiver.

:func:`corpus` yields the same requests for the same seed: valid seeds of every shape (traces
and metrics, protobuf and OTLP/JSON, every attribute kind, events, links, ``gpu.*`` gauges)
mutated at the byte level (flips, cuts, splices, inserted tags of every wire type, varints at
their extremes) or, for JSON, at the value level (wrong types, lone surrogates, huge numbers,
bad ids).  A receiver should answer each with 2xx or 4xx and never fail.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

from axonize_testsupport.otlp_build import any_value

PB, JSON = "application/x-protobuf", "application/json"


@dataclass(frozen=True)
class Case:
    path: str  # /v1/traces or /v1/metrics
    content_type: str
    body: bytes


ATTRIBUTES: dict[str, Any] = {
    "s": "text",
    "b": True,
    "i": -(2**63),
    "d": 1e308,
    "by": b"\x00\xff",
    "arr": [1, "a", [2.5]],
    "kv": {"x": {"y": [True]}},
    "empty": None,
    "gen_ai.request.model": "m",
    "gen_ai.usage.input_tokens": 2**40,
    "ai.llm.ttft_ms": -1.5,
    "gpu.0.uuid": "GPU-fuzz",
    "gpu.0.utilization.avg_pct": 50,
    "cost.total_usd": 0.5,
}


def trace_seed(rng: random.Random, now_ns: int) -> ts.ExportTraceServiceRequest:
    """A valid trace request of a random shape."""
    req = ts.ExportTraceServiceRequest()
    for _ in range(rng.randint(1, 2)):
        rs = req.resource_spans.add()
        rs.resource.attributes.add(key="service.name", value=any_value(f"svc-{rng.randint(0, 3)}"))
        for _ in range(rng.randint(1, 2)):
            ss = rs.scope_spans.add()
            ss.scope.name = "fuzz"
            for _ in range(rng.randint(1, 3)):
                start = now_ns - rng.randint(0, 3600) * 10**9
                sp = ss.spans.add(
                    trace_id=rng.randbytes(16),
                    span_id=rng.randbytes(8),
                    name=rng.choice(["a", "chat m", "ünïcode", ""]),
                    kind=rng.randint(0, 5),
                    start_time_unix_nano=start,
                    end_time_unix_nano=start + rng.randint(0, 10**9),
                )
                if rng.random() < 0.5:
                    sp.parent_span_id = rng.randbytes(8)
                for k in rng.sample(sorted(ATTRIBUTES), rng.randint(0, len(ATTRIBUTES))):
                    sp.attributes.add(key=k, value=any_value(ATTRIBUTES[k]))
                if rng.random() < 0.5:
                    ev = sp.events.add(time_unix_nano=start, name="tok")
                    ev.attributes.add(key="i", value=any_value(1))
                if rng.random() < 0.3:
                    sp.links.add(trace_id=rng.randbytes(16), span_id=rng.randbytes(8))
                sp.status.code = rng.randint(0, 2)  # type: ignore[assignment]
                sp.status.message = rng.choice(["", "boom"])
    return req


def metrics_seed(rng: random.Random, now_ns: int) -> ms.ExportMetricsServiceRequest:
    """A valid metrics request with ``gpu.*`` gauges."""
    req = ms.ExportMetricsServiceRequest()
    sm = req.resource_metrics.add().scope_metrics.add()
    for name in rng.sample(["gpu.utilization", "gpu.memory.used", "gpu.power", "other"], 2):
        metric = sm.metrics.add(name=name)
        for _ in range(rng.randint(1, 3)):
            dp = metric.gauge.data_points.add(time_unix_nano=now_ns, as_double=rng.random())
            dp.attributes.add(key="gpu.uuid", value=any_value(f"GPU-{rng.randint(0, 2)}"))
    return req


# ---------------------------------------------------------------- byte mutations
def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _flip(rng: random.Random, b: bytearray) -> None:
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)


def _set_byte(rng: random.Random, b: bytearray) -> None:
    b[rng.randrange(len(b))] = rng.choice([0, 1, 3, 0x7F, 0x80, 0xFF, rng.randrange(256)])


def _cut(rng: random.Random, b: bytearray) -> None:
    i = rng.randrange(len(b))
    del b[i : i + rng.randint(1, 16)]


def _truncate(rng: random.Random, b: bytearray) -> None:
    del b[rng.randrange(len(b)) :]


def _duplicate(rng: random.Random, b: bytearray) -> None:
    i = rng.randrange(len(b))
    j = min(len(b), i + rng.randint(1, 64))
    b[j:j] = b[i:j]


def _insert_field(rng: random.Random, b: bytearray) -> None:
    """A field of a random number and wire type, somewhere (often inside a message)."""
    wire = rng.choice([0, 1, 2, 3, 4, 5, 6, 7])
    tag = _varint(
        rng.choice([1, 2, 3, 4, 5, 7, 8, 9, 11, 15, rng.randint(1, 2**29 - 1)]) << 3 | wire
    )
    payload = {
        0: _varint(rng.choice([0, 1, 2, 3, 7, 2**31, 2**63, 2**64 - 1])),
        1: rng.randbytes(8),
        2: _varint(n := rng.randint(0, 40)) + rng.randbytes(n),
        5: rng.randbytes(4),
    }.get(wire, b"")
    i = rng.randrange(len(b) + 1)
    b[i:i] = tag + payload


def _append_field(rng: random.Random, b: bytearray) -> None:
    b += _varint(rng.choice([1, 7, 9, 15, 2, 4]) << 3 | rng.choice([0, 1, 2, 5])) + b"\x07"


def _extreme_varint(rng: random.Random, b: bytearray) -> None:
    i = rng.randrange(len(b))
    b[i : i + 1] = _varint(rng.choice([2**31 - 1, 2**32, 2**63, 2**64 - 1]))


def _splice(rng: random.Random, b: bytearray, other: bytes) -> None:
    i, j = rng.randrange(len(b) + 1), rng.randrange(len(other) + 1)
    b[i:] = other[j:]


MUTATORS: list[Callable[[random.Random, bytearray], None]] = [
    _flip,
    _set_byte,
    _cut,
    _truncate,
    _duplicate,
    _insert_field,
    _append_field,
    _extreme_varint,
]


# ---------------------------------------------------------------- JSON mutations
WEIRD: list[Any] = [
    None,
    True,
    -1,
    2**64,
    -(2**70),
    1e400,
    "\ud800",
    "x\udfffy",
    "",
    "zz",
    "0" * 33,
    [],
    {},
    [[[[[]]]]],
    {"stringValue": 5},
    "NaN",
    "18446744073709551616",
]


def _json_paths(doc: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _json_paths(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _json_paths(v, (*path, i))


def _mutate_json(rng: random.Random, doc: Any) -> Any:
    paths = list(_json_paths(doc))[1:]
    for _ in range(rng.randint(1, 3)):
        if not paths:
            break
        path = rng.choice(paths)
        parent = doc
        for p in path[:-1]:
            parent = parent[p]
        roll = rng.random()
        if roll < 0.6:
            parent[path[-1]] = copy.deepcopy(rng.choice(WEIRD))
        elif roll < 0.8 and isinstance(parent, dict):
            parent[rng.choice(["traceId", "spanId", "startTimeUnixNano", "x\ud800", "kind"])] = (
                copy.deepcopy(rng.choice(WEIRD))
            )
        elif isinstance(parent, dict):
            parent.pop(path[-1], None)
        paths = list(_json_paths(doc))[1:]
    return doc


def _to_json(message: Any) -> Any:
    doc = json_format.MessageToDict(message)
    # OTLP/JSON ids are hex (protobuf's JSON mapping writes base64).
    for path in list(_json_paths(doc)):
        if path and path[-1] in ("traceId", "spanId", "parentSpanId"):
            parent = doc
            for p in path[:-1]:
                parent = parent[p]
            parent[path[-1]] = base64.b64decode(parent[path[-1]]).hex()
    return doc


def valid_case(rng: random.Random, now_ns: int) -> Case:
    """A valid request (the first of its kind of a mutation)."""
    if rng.random() < 0.8:
        msg: Any = trace_seed(rng, now_ns)
        path = "/v1/traces"
    else:
        msg = metrics_seed(rng, now_ns)
        path = "/v1/metrics"
    if rng.random() < 0.7:
        return Case(path, PB, msg.SerializeToString())
    return Case(path, JSON, json.dumps(_to_json(msg)).encode())


def corpus(seed: int, n: int, now_ns: int | None = None, seeds: int = 300) -> Iterator[Case]:
    """``n`` mutated requests, the same for the same ``seed`` (and ``now_ns``), made from
    ``seeds`` valid requests."""
    rng = random.Random(seed)
    now = time.time_ns() if now_ns is None else now_ns
    pool = [valid_case(rng, now) for _ in range(seeds)]
    for _ in range(n):
        base = rng.choice(pool)
        if base.content_type == PB:
            b = bytearray(base.body)
            for _ in range(rng.randint(1, 3)):
                if not b:
                    break
                if rng.random() < 0.05:
                    _splice(rng, b, rng.choice(pool).body)
                else:
                    rng.choice(MUTATORS)(rng, b)
            yield Case(base.path, PB, bytes(b))
        elif rng.random() < 0.85:
            doc = _mutate_json(rng, json.loads(base.body))
            yield Case(base.path, JSON, json.dumps(doc).encode("utf-8", "surrogatepass"))
        else:
            b = bytearray(base.body)
            rng.choice([_flip, _cut, _truncate, _duplicate])(rng, b)
            yield Case(base.path, JSON, bytes(b))


class KeepAliveClient:
    """A minimal HTTP/1.1 client on one keep-alive connection: many small requests cost the
    sender little (an HTTP library costs more per request than the server under test)."""

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        import socket

        self._addr = (host, port)
        self._timeout = timeout
        self._sock: socket.socket | None = None
        self._buf = b""

    def _connect(self) -> Any:
        import socket

        if self._sock is None:
            self._sock = socket.create_connection(self._addr, timeout=self._timeout)
            self._buf = b""
        return self._sock

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """POST and return (status, body); reconnects if the server closed the connection."""
        head = f"POST {path} HTTP/1.1\r\nhost: {self._addr[0]}\r\ncontent-length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        for attempt in (0, 1):
            sock = self._connect()
            try:
                sock.sendall(head.encode() + body)
                return self._response()
            except (ConnectionError, EOFError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self._buf:
            chunk = self._connect().recv(65536)
            if not chunk:
                raise EOFError("connection closed by the server")
            self._buf += chunk
        head, self._buf = self._buf.split(marker, 1)
        return head

    def _response(self) -> tuple[int, bytes]:
        head = self._read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
        n = int(fields.get("content-length", "0"))
        while len(self._buf) < n:
            chunk = self._connect().recv(65536)
            if not chunk:
                raise EOFError("connection closed by the server")
            self._buf += chunk
        body, self._buf = self._buf[:n], self._buf[n:]
        if fields.get("connection", "").lower() == "close":
            self.close()
        return status, body

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
