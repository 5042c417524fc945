"""What Axonize's tests, bench and nox sessions share: real OTLP sinks on loopback
(:mod:`.otlp_sink`), tiny random-weight models built offline (:mod:`.tiny_models`), a stand-in
for the Ollama server (:mod:`.ollama_server`), free loopback ports (:mod:`.ports`), the Axonize
backend in-process (:mod:`.backend_server`) or as a process to kill (:mod:`.backend_process`),
and a seeded corpus of mutated OTLP requests with a cheap keep-alive client (:mod:`.otlp_fuzz`).

Installed in development only (``pip install -e testsupport``, which every nox session that
needs it does); it is no part of the ``axonize`` wheel.  Users testing their own code want
:mod:`axonize.testing` instead.
"""

from __future__ import annotations

from axonize_testsupport.ports import free_port

__all__ = ["free_port"]
