"""What HTTPS costs the LAN port: `GET /healthz` over the plain loopback listener against the
HTTPS port, on one kept-alive connection and with a new connection (a full TLS handshake) each.

Starts `vomeet serve` with `VOMEET_TLS=on` on loopback (fresh data directory, ASR off); the HTTPS
client pins the box's certificate, as the desktop client does. Also times what the appliance does
with the certificate: making one, loading it into the served context, the 2-second watcher's check.

    .venv/bin/python benchmarks/tls_cost.py --requests 300
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from appliance.config import load_settings
from appliance.tls.making import box_names, make_self_signed
from appliance.tls.serving import ServedCertificate

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(pem: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    context.load_verify_locations(cadata=pem)
    return context


def median_ms(work: Callable[[], object], times: int) -> float:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        work()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def over_the_wire(requests: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        https_port, plain_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOMEET_")}
        env.update(VOMEET_DATA_DIR=folder, VOMEET_HOST="127.0.0.1", VOMEET_PORT=str(https_port),
                   VOMEET_TLS="on", VOMEET_LOOPBACK_PORT=str(plain_port), VOMEET_ASR_ENABLED="false")
        serve = subprocess.Popen([sys.executable, "-m", "appliance", "serve"], cwd=REPO, env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            plain, https = f"http://127.0.0.1:{plain_port}", f"https://127.0.0.1:{https_port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{plain}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("the appliance did not start")
                time.sleep(0.1)
            context = pinned((Path(folder) / "tls" / "current" / "cert.pem").read_text())
            with httpx.Client(base_url=plain) as p, httpx.Client(base_url=https, verify=context) as s:
                p.get("/healthz"), s.get("/healthz")
                print(f"kept-alive, plain loopback: {median_ms(lambda: p.get('/healthz'), requests):.2f} ms")
                print(f"kept-alive, HTTPS:          {median_ms(lambda: s.get('/healthz'), requests):.2f} ms")

            def fresh(base: str, verify: ssl.SSLContext) -> None:
                with httpx.Client(base_url=base, verify=verify) as client:
                    client.get("/healthz")

            unused = ssl.create_default_context()  # made once: building one per client costs ~20 ms
            print(f"new connection, plain:      {median_ms(lambda: fresh(plain, unused), requests):.2f} ms")
            print(f"new connection, HTTPS:      {median_ms(lambda: fresh(https, context), requests):.2f} ms")
        finally:
            serve.send_signal(signal.SIGTERM)
            serve.wait(timeout=60)


def on_the_box() -> None:
    names = box_names()
    print(f"make a key and certificate: {median_ms(lambda: make_self_signed(*names), 50):.2f} ms")
    with tempfile.TemporaryDirectory() as folder:
        served = ServedCertificate(load_settings(data_dir=folder, host="0.0.0.0"))
        print(f"load into the served context: {median_ms(served.load, 50):.2f} ms")
        print(f"watcher's check, nothing changed: {median_ms(served.refresh, 200) * 1000:.0f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    on_the_box()
    over_the_wire(args.requests)


if __name__ == "__main__":
    main()
