"""Axonize's collector processors: cost, redaction, governance, budget, policy, filter and
sample, run over decoded OTLP spans by ``axonize-collector`` (the relay) or by any code that has
an ``ExportTraceServiceRequest``::

    from axonize_collector import build_pipeline
    pipeline = build_pipeline({"redaction": {"pii": True}})
    routes = pipeline.run(request)  # {"": the kept spans, "policy": routed ones, ...}
"""

from __future__ import annotations

from axonize_collector.budget import Budget, BudgetProcessor
from axonize_collector.config import build_pipeline
from axonize_collector.cost import CostProcessor
from axonize_collector.governance import GovernanceProcessor
from axonize_collector.pipeline import DROP, MAIN, Counts, Pipeline, Processor, Resource
from axonize_collector.policy import PolicyProcessor
from axonize_collector.redact import RedactionProcessor
from axonize_collector.sample import FilterProcessor, SampleProcessor

__all__ = [
    "DROP",
    "MAIN",
    "Budget",
    "BudgetProcessor",
    "CostProcessor",
    "Counts",
    "FilterProcessor",
    "GovernanceProcessor",
    "Pipeline",
    "PolicyProcessor",
    "Processor",
    "RedactionProcessor",
    "Resource",
    "SampleProcessor",
    "build_pipeline",
]
