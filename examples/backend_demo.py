"""Start the Axonize backend on its embedded stores, send it traces, and show what it answers.

    python examples/backend_demo.py [--data-dir DIR] [--keep-running]

1. starts ``axonize-server serve`` (chDB and a private PostgreSQL in DIR; no server to
   install) on 127.0.0.1, ports 8080 and 4317 or free ones if those are taken;
2. creates a tenant and an API key through the admin API;
3. runs examples/quickstart.py (on a simulated H100) and examples/ollama_integration.py
   (against the test suite's stand-in Ollama server), both exporting to it over OTLP/gRPC;
4. prints the traces and the per-model analytics the REST API returns.

With ``--keep-running`` the server stays up afterwards (its PID is in DIR/server.pid) and the
URLs, a ready-made curl command and the dashboard's URL with the tenant key to paste are
printed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ADMIN_KEY = "demo-admin-key"


def port(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])


def stop_previous(data: Path) -> None:
    """A server left running by an earlier demo owns the data directory: stop it first."""
    pid_file = data / "server.pid"
    if not pid_file.exists():
        return
    try:
        pid = int(pid_file.read_text())
        os.killpg(pid, signal.SIGTERM)
    except (ValueError, ProcessLookupError, PermissionError):
        return
    print(f"stopping the server an earlier run left (PID {pid})", flush=True)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


def call(url: str, key: str, method: str = "GET", body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        "authorization": f"Bearer {key}", "content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"null")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=str(ROOT / "demo-output" / "server-data"))
    parser.add_argument("--keep-running", action="store_true")
    args = parser.parse_args()
    data = Path(args.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    stop_previous(data)
    http_port, grpc_port = port(8080), port(4317)
    base = f"http://127.0.0.1:{http_port}"
    env = {**os.environ, "AXONIZE_ADMIN_KEY": ADMIN_KEY}
    for key in [k for k in env if k.startswith(("OTEL_", "AXONIZE_EXPORTER"))]:
        env.pop(key)
    print(f"1/4 starting axonize-server (embedded stores in {data}) ...", flush=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "axonize_backend.cli", "serve", "--data-dir", str(data),
         "--http-port", str(http_port), "--grpc-port", str(grpc_port)],
        env=env, stdout=subprocess.DEVNULL, stderr=open(data / "server.log", "w"),  # noqa: SIM115
        start_new_session=True)
    (data / "server.pid").write_text(str(server.pid))
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if call(f"{base}/readyz", "")["status"] == "ok":
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                print((data / "server.log").read_text(), file=sys.stderr)
                raise SystemExit("axonize-server did not start; its log is above")
            time.sleep(0.3)
        print("2/4 creating a tenant and an API key", flush=True)
        name = f"demo-{int(time.time())}"
        tenant = call(f"{base}/api/v1/admin/tenants", ADMIN_KEY, "POST", {"name": name})
        key = call(f"{base}/api/v1/admin/tenants/{tenant['id']}/keys", ADMIN_KEY, "POST")["key"]
        print("3/4 running the examples, exporting to it over OTLP/gRPC", flush=True)
        sdk = {**env, "AXONIZE_ENDPOINT": f"http://127.0.0.1:{grpc_port}",
               "AXONIZE_API_KEY": key}
        subprocess.run([sys.executable, "examples/quickstart.py"], cwd=ROOT, check=True,
                       env={**sdk, "AXONIZE_SERVICE_NAME": "quickstart",
                            "AXONIZE_GPU_BACKEND": "simulated", "AXONIZE_GPU_SIMULATE": "h100"},
                       stdout=subprocess.DEVNULL)
        stand_in = subprocess.Popen(
            [sys.executable, "-m", "axonize_testsupport.ollama_server", "--first-token-ms", "40",
             "--token-ms", "10"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        try:
            ollama_port = stand_in.stdout.readline().strip() if stand_in.stdout else ""
            subprocess.run(["axonize-instrument", "--service-name", "ollama-app", sys.executable,
                            "examples/ollama_integration.py"], cwd=ROOT, check=True,
                           env={**sdk, "OLLAMA_HOST": f"127.0.0.1:{ollama_port}"},
                           stdout=subprocess.DEVNULL)
        finally:
            stand_in.terminate()
        print("4/4 what the API answers\n", flush=True)
        traces = call(f"{base}/api/v1/traces?limit=8", key)["traces"]
        print(f"{'trace':<34}{'root span':<26}{'service':<13}{'spans':>6}{'ms':>9}  model")
        for t in traces:
            print(f"{t['trace_id']:<34}{t['root_name'][:25]:<26}{t['service']:<13}"
                  f"{t['span_count']:>6}{t['duration_ms']:>9.1f}  {t['model'] or '-'}")
        overview = call(f"{base}/api/v1/analytics/overview", key)
        print(f"\n{'model':<20}{'requests':>9}{'errors':>8}{'p50 ms':>9}{'p99 ms':>9}"
              f"{'ttft p50':>10}{'tok/s':>8}{'gpu %':>7}{'cost USD':>11}")
        for m in overview["models"]:
            ttft = f"{m['ttft_ms']['p50']:.1f}" if m["ttft_ms"] else "-"
            tps = f"{m['tokens_per_second']:.0f}" if m["tokens_per_second"] else "-"
            gpu = f"{m['gpu_utilization_pct']:.0f}" if m["gpu_utilization_pct"] else "-"
            print(f"{m['model']:<20}{m['requests']:>9}{m['error_rate']:>8.0%}"
                  f"{m['latency_ms']['p50']:>9.1f}{m['latency_ms']['p99']:>9.1f}{ttft:>10}"
                  f"{tps:>8}{gpu:>7}{m['cost_usd']:>11.2e}")
        if args.keep_running:
            print(f"\nThe server keeps running (PID {server.pid}):\n"
                  f"  dashboard          {base}/   (sign in with the tenant key below)\n"
                  f"  API and OTLP/HTTP  {base}   (OpenAPI: {base}/schema)\n"
                  f"  OTLP/gRPC          127.0.0.1:{grpc_port}\n"
                  f"  tenant key         {key}\n"
                  f"  try: curl -H 'authorization: Bearer {key}' {base}/api/v1/traces\n"
                  f"  stop: kill {server.pid}")
            print(f"\nOpen the dashboard: {base}/  and paste the tenant key: {key}")
            return 0
    except BaseException:
        os.killpg(server.pid, signal.SIGTERM)
        raise
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
