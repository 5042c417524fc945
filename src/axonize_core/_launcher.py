"""``axonize-instrument``: run any Python program with Axonize and its plugins active.

    axonize-instrument [options] python serve.py --port 8000

Like ``opentelemetry-instrument``: the options become environment variables, a folder holding a
``sitecustomize.py`` is put first on ``PYTHONPATH`` (and stays there for child processes), and
the command replaces this process (same PID, arguments, stdin/stdout, signals and exit code).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

from axonize_core._config import SETTINGS

BOOTSTRAP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_bootstrap")

# Options offered on the command line (every setting is still available as AXONIZE_*).
_OPTIONS = (
    "service_name", "environment", "endpoint", "protocol", "headers", "api_key", "exporter",
    "file_path", "sample_rate", "semconv", "plugins", "disabled_plugins", "capture_content",
    "max_content_length", "batch_size", "flush_interval_ms", "debug",
    "prometheus_port",
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="axonize-instrument",
        usage="axonize-instrument [options] COMMAND [ARGS ...]",
        description="Run a Python program with Axonize tracing and every installed framework "
                    "plugin active, without changing its code. Each option sets the "
                    "environment variable shown; any other setting can be given as its "
                    "AXONIZE_* or OTEL_* variable (see docs/configuration.md).",
        epilog="examples:\n"
               "  axonize-instrument --list\n"
               "  axonize-instrument --service-name chat python serve.py\n"
               "  axonize-instrument --exporter console python -m my_app\n"
               "  axonize-instrument --endpoint http://collector:4317 uvicorn app:app",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--list", action="store_true",
                        help="list the plugins, their framework versions and whether each will "
                             "activate, then exit")
    by_name = {s.name: s for s in SETTINGS}
    for name in _OPTIONS:
        s = by_name[name]
        default = f" (default: {s.default})" if s.default else ""
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, metavar="VALUE",
                            help=f"{s.meaning.replace(chr(96), '')} [{s.env}]{default}")
    parser.add_argument("command", nargs="?", help="the program to run, e.g. python")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")
    return parser


def list_plugins() -> int:
    from axonize_core._plugins import discover

    plugins = discover()
    if not plugins:
        print("no plugins installed (pip install 'axonize[transformers]', ...)")
        return 0
    print(f"{'plugin':<16}{'framework':<34}{'installed':<14}{'activates':<10} why")
    for p in plugins:
        print(f"{p.name:<16}{p.requirement:<34}{p.installed or '-':<14}"
              f"{'yes' if p.will_activate else 'no':<10} {p.reason}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    by_name = {s.name: s for s in SETTINGS}
    for name in _OPTIONS:
        value = getattr(args, name)
        if value is not None:
            os.environ[by_name[name].env] = value
    if args.list:
        return list_plugins()
    if not args.command:
        parser.print_help(sys.stderr)
        print("\naxonize-instrument: error: give the command to run, e.g. "
              "'axonize-instrument python serve.py'", file=sys.stderr)
        return 2
    python_path = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                   if p and p != BOOTSTRAP_DIR]
    os.environ["PYTHONPATH"] = os.pathsep.join([BOOTSTRAP_DIR, *python_path])
    executable = shutil.which(args.command)
    if executable is None:
        print(f"axonize-instrument: command not found: {args.command}", file=sys.stderr)
        return 127
    os.execv(executable, [executable, *args.args])
    return 0  # pragma: no cover - execv does not return
