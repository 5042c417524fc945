"""``python -m axonize``: small tools around the SDK."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m axonize",
        description="Axonize command-line tools. Tracing itself needs no command: call "
                    "axonize.init() in your program.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    summary = sub.add_parser(
        "summary", help="print trace trees and per-model figures of an OTLP JSON-lines file",
        description="Read spans written by the file exporter (AXONIZE_EXPORTER=file) and print "
                    "each trace as a tree, then latency, TTFT and tokens/s per model.",
    )
    summary.add_argument("file", help="OTLP JSON-lines file, e.g. axonize-spans.jsonl")
    summary.add_argument("--traces", type=int, default=5, help="trace trees to print (5)")
    sc_cmd = sub.add_parser("semconv", help="print the attribute table (docs/semconv.md)")
    sc_cmd.add_argument("--write", metavar="FILE",
                        help="update the generated table inside FILE instead of printing")
    sub.add_parser("settings", help="print the settings table (docs/configuration.md)")
    args = parser.parse_args(argv)
    if args.command == "summary":
        from axonize_core._summary import summarize

        try:
            with open(args.file, encoding="utf-8") as fh:
                summarize(fh, sys.stdout, max_traces=args.traces)
        except FileNotFoundError:
            print(f"error: {args.file} does not exist; run a program with "
                  f"AXONIZE_EXPORTER=file AXONIZE_FILE_PATH={args.file} first", file=sys.stderr)
            return 2
        return 0
    if args.command == "semconv":
        from axonize_core._prometheus import render_doc as render_prometheus_doc
        from axonize_core.semconv import markdown_table, render_doc

        if args.write:
            with open(args.write, encoding="utf-8") as fh:
                text = fh.read()
            with open(args.write, "w", encoding="utf-8") as fh:
                fh.write(render_prometheus_doc(render_doc(text)))
            return 0
        sys.stdout.write(markdown_table())
        return 0
    if args.command == "settings":
        from axonize_core._config import settings_markdown

        sys.stdout.write(settings_markdown())
        return 0
    parser.print_help()
    return 0
