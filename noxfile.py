"""Development sessions: ``nox -s demo``, ``nox -s tests``, ``lint``, ``typecheck``, ``bench``.

Every install step of the project lives here.  Sessions that need torch install the local CPU
build first (``torch==2.13.0``) and pass it as a constraint to every later install, so nothing
pulls CUDA wheels.
"""

from __future__ import annotations

import pathlib

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typecheck", "tests"]

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
    """Run the test suite (real OTLP over gRPC and HTTP on loopback)."""
    session.install("-e", ".[test]")
    session.run("pytest", "-q", "-p", "no:cacheprovider", *session.posargs,
                env={"PYTHONHASHSEED": "0"})


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (line length 100) on everything."""
    session.install(RUFF)
    session.run("ruff", "check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on src/."""
    session.install("-e", ".", MYPY, "types-protobuf", "grpc-stubs")
    session.run("mypy", "--strict", "src")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Measure every README figure against its baseline in the same run.

    ``nox -s bench -- --json out.json`` also writes the figures as JSON;
    ``nox -s bench -- --quick`` runs fewer trials.
    """
    session.install("-e", ".[test]")
    session.run("python", "bench/run.py", *session.posargs)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Run the instrumented example; spans go to a local file, then print a summary."""
    session.install("-e", ".")
    out_dir = ROOT / "demo-output"
    out_dir.mkdir(exist_ok=True)
    spans = out_dir / "spans.jsonl"
    for path in (spans, out_dir / "spans.metrics.jsonl"):
        if path.exists():
            path.unlink()
    env = {"AXONIZE_EXPORTER": "file", "AXONIZE_FILE_PATH": str(spans),
           "AXONIZE_SERVICE_NAME": "axonize-demo"}
    session.run("python", "examples/quickstart.py", env=env)
    session.run("python", "-m", "axonize", "summary", str(spans))
    session.log(f"spans: {spans}  metrics: {out_dir / 'spans.metrics.jsonl'}")
    session.log("Send them to any OTLP endpoint instead: AXONIZE_EXPORTER=otlp "
                "OTEL_EXPORTER_OTLP_ENDPOINT=http://host:4317 python examples/quickstart.py")
