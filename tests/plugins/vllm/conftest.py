"""The environment the vLLM CPU engine needs here, set before any test module imports vLLM
(the nox sessions set it too; this is for running pytest by hand)."""

from __future__ import annotations

import os

from axonize_testsupport.vllm_models import ENV

for _key, _value in ENV.items():
    os.environ.setdefault(_key, _value)
