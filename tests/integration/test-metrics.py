#!/usr/bin/python3
"""Metrics against the real daemon, read with a real Prometheus text parser
(Debian's python3-prometheus-client): the listener on metrics_listen
(GET /metrics; anything else 404), daemon.metrics through `asyncjob
metrics`, every family typed and named by Prometheus' conventions, and the
values move as jobs run: submitted and finished by type and state, run
durations, fetch bytes and statuses, write bytes, the timers' lateness, the
store's commits, the gauges. A metrics_listen that is not HOST:PORT stops
the start. Skipped (77) without the parser. Run by `make check`."""

import http.server
import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    print("# skipped: python3-prometheus-client is not installed")
    sys.exit(77)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "common"))
import checks  # noqa: E402  (tests/common/checks.py)
import rpc  # noqa: E402  (tests/common/rpc.py)

T = checks.Run("asyncjob-metrics.")
check = T.check
tmp = T.tmp
sock_path = T.sock
DAEMON, CLI = T.daemon, T.cli
if not CLI:
    sys.exit("ASYNCJOB_CLI must name the asyncjob binary")
files = os.path.join(tmp, "files")
os.makedirs(files)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Body(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"x" * 1000
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def parse(text):
    """{(name, labels as a sorted tuple): value} and {family: type}."""
    samples, types = {}, {}
    for fam in text_string_to_metric_families(text):
        types[fam.name] = fam.type
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples, types


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def main():
    port = free_port()
    T.start(["--store", "sqlite", "--state-dir", os.path.join(tmp, "state"), "--write-root",
             files], "metrics_listen = 127.0.0.1:%d\n" % port)
    conf = os.path.join(tmp, "asyncjobd.conf")
    c = rpc.Connection(sock_path, timeout=30)
    url = "http://127.0.0.1:%d/metrics" % port

    def scrape():
        with urllib.request.urlopen(url, timeout=10) as r:
            ctype = r.headers.get("Content-Type", "")
            return r.read().decode(), ctype

    text, ctype = scrape()
    before, types = parse(text)
    check(ctype.startswith("text/plain; version=0.0.4"), "GET /metrics: %s" % ctype)
    want = {
        "asyncjobd_jobs_submitted": "counter", "asyncjobd_jobs_finished": "counter",
        "asyncjobd_job_run_duration_seconds": "histogram", "asyncjobd_jobs": "gauge",
        "asyncjobd_fetch_received_bytes": "counter", "asyncjobd_fetch_responses": "counter",
        "asyncjobd_write_bytes": "counter", "asyncjobd_connections": "gauge",
        "asyncjobd_event_subscribers": "gauge", "asyncjobd_io_workers_busy": "gauge",
        "asyncjobd_timer_lateness_seconds": "histogram", "asyncjobd_store_commits": "counter",
        "asyncjobd_store_commit_seconds": "counter", "asyncjobd_active_jobs": "gauge",
    }
    missing = {k: v for k, v in want.items() if types.get(k) != v}
    check(not missing, "every family parses, with its type: missing or mistyped %s" % missing)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Body)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    web = "http://127.0.0.1:%d/body" % server.server_address[1]
    c.call("job.submit", {"type": "sleep", "seconds": 0.05, "wait": True})
    c.call("job.submit", {"type": "sleep", "seconds": 0.01, "wait": True})
    c.call("job.submit", {"type": "sleep", "seconds": 1, "timeout": 0.05, "wait": True})
    c.call("job.submit", {"type": "write", "path": os.path.join(files, "m.txt"),
                          "content": "hello", "wait": True})
    c.call("job.submit", {"type": "fetch", "url": web, "wait": True})

    p = subprocess.run([CLI, "-s", sock_path, "metrics"], capture_output=True, text=True)
    check(p.returncode == 0, "asyncjob metrics exits 0: %s" % p.stderr)
    after, _ = parse(p.stdout)
    moved = lambda name, **l: value(after, name, **l) - value(before, name, **l)
    check(moved("asyncjobd_jobs_submitted_total", type="sleep") == 3
          and moved("asyncjobd_jobs_finished_total", type="sleep", state="succeeded") == 2
          and moved("asyncjobd_jobs_finished_total", type="sleep", state="failed") == 1,
          "sleeps submitted and finished by state")
    # A sleep never ends early: the three ran at least 0.05 + 0.01 + 0.05 s
    # (no upper bound: that would be a timing). The buckets are cumulative
    # and +Inf holds them all.
    buckets = sorted((float(dict(k[1])["le"]), v) for k, v in after.items()
                     if k[0] == "asyncjobd_job_run_duration_seconds_bucket"
                     and dict(k[1]).get("type") == "sleep")
    check(moved("asyncjobd_job_run_duration_seconds_count", type="sleep") == 3
          and moved("asyncjobd_job_run_duration_seconds_sum", type="sleep") >= 0.1
          and all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:]))
          and buckets[-1][1] == value(after, "asyncjobd_job_run_duration_seconds_count",
                                      type="sleep"),
          "the sleeps' run durations in the histogram")
    check(moved("asyncjobd_write_bytes_total") == 5, "write bytes")
    check(moved("asyncjobd_fetch_received_bytes_total") == 1000
          and moved("asyncjobd_fetch_responses_total", status="2xx") == 1,
          "fetch bytes and its 2xx status")
    check(moved("asyncjobd_timer_lateness_seconds_count") >= 2, "timer lateness observed")
    check(moved("asyncjobd_store_commits_total") > 0, "store commits counted")
    check(value(after, "asyncjobd_jobs", state="succeeded") >= 4
          and value(after, "asyncjobd_connections") >= 2, "gauges: jobs by state, connections")

    try:
        urllib.request.urlopen("http://127.0.0.1:%d/other" % port, timeout=10)
        check(False, "another path answers")
    except urllib.error.HTTPError as e:
        check(e.code == 404, "another path: 404 (%d)" % e.code)
    c.close()
    T.stop()
    server.shutdown()

    with open(conf, "w") as f:
        f.write("metrics_listen = nowhere\n")
    p = subprocess.run([DAEMON, "-c", conf, "-s", sock_path + "2", "--store", "memory"],
                       capture_output=True, text=True, timeout=30)
    check(p.returncode == 1 and "metrics_listen nowhere: expected HOST:PORT" in p.stderr,
          "a metrics_listen that is not HOST:PORT stops the start: %r" % p.stderr)


T.run(main)
