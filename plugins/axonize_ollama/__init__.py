"""Axonize plugin for the ``ollama`` Python client: a span for every model call.

Patches ``Client._request`` and ``AsyncClient._request``, the one method every call of the client
goes through.  That covers ``Client``, ``AsyncClient`` and the module-level functions
(``ollama.chat`` is a method of a default ``Client`` bound at import, which a patch of the
public methods would miss).  ``chat``, ``generate``, ``embed`` and ``embeddings`` get a span,
streamed or not, with the server's address, token counts, time to first token and tokens/s as
the client saw them, and the server's own timings from the final chunk.  Other calls (``pull``,
``list``, ...) pass through untouched.
"""

from __future__ import annotations

import sys
from collections.abc import Collection
from typing import Any

from axonize_core.instrumentation import BaseInstrumentor, unwrap
from axonize_ollama._scope import __version__

#: Versions this plugin is tested against (oldest and newest in CI).  ``_request`` is private
#: API, so the range is closed above.
_INSTRUMENTS = ("ollama >= 0.4, < 0.7",)


class OllamaInstrumentor(BaseInstrumentor):
    """Instruments the ``ollama`` client."""

    name = "ollama"
    hook_module = "ollama"

    def instrumentation_dependencies(self) -> Collection[str]:
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        import wrapt

        from axonize_ollama._client import traced_async_request, traced_request

        wrapt.wrap_function_wrapper("ollama._client", "Client._request", traced_request)
        wrapt.wrap_function_wrapper("ollama._client", "AsyncClient._request",
                                    traced_async_request)

    def _uninstrument(self, **kwargs: Any) -> None:
        # Not `import ollama._client`: the package's `_client` attribute is its default Client
        # instance, which shadows the submodule of the same name.
        client = sys.modules["ollama._client"]
        unwrap(client.Client, "_request")
        unwrap(client.AsyncClient, "_request")


__all__ = ["OllamaInstrumentor", "__version__"]
