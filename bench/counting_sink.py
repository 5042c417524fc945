"""An OTLP/gRPC trace sink in a separate process that decodes every request and counts its
spans, so that the export figures' receiving end takes no CPU from the process measured.

(The tests' :class:`axonize_testsupport.otlp_sink.GrpcSink` keeps every request in the process
that runs it, for assertions; here only a count crosses the process boundary.)
"""

from __future__ import annotations

import multiprocessing as mp
import time
from concurrent import futures
from typing import Any


def _sink_main(port_q: Any, counter: Any) -> None:
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

    def export(request: Any, context: Any) -> Any:
        n = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        with counter.get_lock():
            counter.value += n
        return ts.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                         options=[("grpc.max_receive_message_length", 256 * 1024 * 1024)])
    handler = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.trace.v1.TraceService",
        {"Export": grpc.unary_unary_rpc_method_handler(
            export, request_deserializer=ts.ExportTraceServiceRequest.FromString,
            response_serializer=ts.ExportTraceServiceResponse.SerializeToString)})
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    port_q.put(port)
    server.wait_for_termination()


class CountingSink:
    """``with CountingSink() as sink:`` listens on 127.0.0.1 at ``sink.port``."""

    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self.counter: Any = ctx.Value("q", 0)
        q = ctx.Queue()
        self.proc = ctx.Process(target=_sink_main, args=(q, self.counter), daemon=True)
        self.proc.start()
        self.port = int(q.get(timeout=60))
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> CountingSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        with self.counter.get_lock():
            self.counter.value = 0

    def wait_for(self, n: int, timeout: float = 120) -> int:
        """Wait until ``n`` spans have arrived or ``timeout`` s passed; return the count."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.counter.value >= n:
                break
            time.sleep(0.002)
        return int(self.counter.value)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.join(10)
