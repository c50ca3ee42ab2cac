#!/usr/bin/env python3
"""The crash campaign of the SQLite store: a mixed load (sleeps, GETs from a
test server that counts each path, replace, create and append writes with
idempotency keys), pipelined from several connections, and asyncjobd killed
with SIGKILL at a random moment, then started again, ASYNCJOB_CRASH_ROUNDS
times (20 unless set; the issue's campaign is 100). After each restart:
every job whose id was acknowledged exists and is the job that was asked
for (no id reused). At the end, once every job has finished: no append is
doubled and none that succeeded is missing, nothing was written that no
job asked for; an append or a create that a kill cut off ended as the
files prove (found made: succeeded; found not made: made then) and none
failed with `interrupted` (nothing here makes the evidence ambiguous: no
other program touches the files), each create that succeeded made its
file and no other left one, and no file of the daemon's (a staged copy, a
marker) is left beside them; the test server saw each GET at most once per
run of it, and each sleep ended within ASYNCJOB_CRASH_SLACK (1 s unless
set; the issue's figure, 50 ms, by hand) of its deadline, or, when the
daemon was down then, of its next start. The figures are printed: how many
appends and creates were found made, made again, and interrupted, and the
latest sleep. Run by `make check` with ASYNCJOBD.
Prints "ok - ..." / "not ok - ..." lines and the campaign's figures; exits
1 when a check failed."""

import http.server
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "common"))
import rpc  # noqa: E402  (tests/common/rpc.py)

DAEMON = os.environ.get("ASYNCJOBD")
ROUNDS = int(os.environ.get("ASYNCJOB_CRASH_ROUNDS", "20"))
if not DAEMON:
    sys.exit("ASYNCJOBD must name the asyncjobd binary")
# How late a sleep may end. The figure is 50 ms (run it so by hand:
# ASYNCJOB_CRASH_SLACK=0.05), and a quiet machine meets it; but make check
# shares the machine with other builds, where a loop delayed a few hundred
# ms is the machine, not a lost deadline. So by default the check is that
# no sleep ends a second late (a deadline lost across a restart is late by
# the whole downtime or more), and the figure is printed.
SLACK = float(os.environ.get("ASYNCJOB_CRASH_SLACK", "1.0"))

failures = []


def fail(msg):
    failures.append(msg)


def ts(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


# ------------------------------------------------------------ the test server

hits = {}
hits_lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with hits_lock:
            hits[self.path] = hits.get(self.path, 0) + 1
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass   # a client killed in the middle of a reply


server = Server(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
BASE = "http://127.0.0.1:%d" % server.server_address[1]

# ------------------------------------------------------------ the daemon

tmp = tempfile.mkdtemp(prefix="asyncjob-crash.")
sock_path = os.path.join(tmp, "s.sock")
state = os.path.join(tmp, "state")
files = os.path.join(tmp, "files")
os.makedirs(files)
log = open(os.path.join(tmp, "asyncjobd.log"), "ab")
# job.list must see every job at the end.
conf = os.path.join(tmp, "asyncjobd.conf")
with open(conf, "w") as c:
    c.write("max_list_jobs = 1000000\n")
proc = None
downtimes = []   # (killed_at, answering_again_at), wall clock


def start():
    global proc
    proc = subprocess.Popen([DAEMON, "-c", conf, "-s", sock_path, "--store", "sqlite",
                             "--state-dir", state, "--write-root", files,
                             "--log-level", "notice"],
                            stdout=log, stderr=log)
    for _ in range(400):
        try:
            c = rpc.Connection(sock_path)
            c.call("daemon.info")
            c.close()
            return time.time()
        except OSError:
            if proc.poll() is not None:
                sys.exit("asyncjobd exited with status %d at start; see %s" %
                         (proc.returncode, log.name))
            time.sleep(0.025)
    sys.exit("asyncjobd did not answer")


def kill():
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return time.time()


# ------------------------------------------------------------ the load

acked = {}        # id -> (tag, spec)
acked_lock = threading.Lock()
counter = [0]


def next_spec(conn_no):
    counter[0] += 1
    n = counter[0]
    tag = "t%d" % n
    kind = random.choice(["sleep", "sleep", "get", "replace", "create", "append", "append"])
    if kind == "sleep":
        spec = {"type": "sleep", "seconds": round(random.uniform(0.1, 1.2), 3)}
    elif kind == "get":
        spec = {"type": "fetch", "url": "%s/g/%s" % (BASE, tag)}
    elif kind == "replace":
        spec = {"type": "write", "path": os.path.join(files, "r%d" % (n % 7)),
                "content": tag, "fsync": False}
    elif kind == "create":
        spec = {"type": "write", "path": os.path.join(files, "c%d" % n), "content": tag,
                "mode": "create", "fsync": False}
    else:
        spec = {"type": "write", "path": os.path.join(files, "log%d" % conn_no),
                "content": tag + "\n", "mode": "append", "fsync": False, "key": tag}
    spec["label"] = tag
    return tag, spec


PER_ROUND = 150    # submits per connection and round, at most


def submitter(conn_no, stop):
    """Pipelines submits (16 in flight) until the daemon goes away."""
    sent = [0]

    def next_request():
        if sent[0] == PER_ROUND:
            return None
        sent[0] += 1
        tag, spec = next_spec(conn_no)
        return "job.submit", spec, (tag, spec)

    try:
        c = rpc.Connection(sock_path)
        for (tag, spec), reply in c.pipeline(16, next_request, stop):
            if "result" in reply:
                with acked_lock:
                    acked[reply["result"]["id"]] = (tag, spec)
            elif reply["error"]["code"] != -32002:
                fail("a submit was refused: %s" % reply)
    except OSError:
        return


def check_acked():
    """Every acknowledged id exists and is the job asked for."""
    c = rpc.Connection(sock_path)
    with acked_lock:
        items = list(acked.items())
    for i, (jid, (tag, spec)) in enumerate(items):
        r = c.call("job.get", {"id": jid}, i + 1)
        if "error" in r:
            fail("acknowledged job %d (%s) is gone after a restart: %s" % (jid, tag, r["error"]))
        elif r["result"].get("label") != tag or r["result"]["type"] != spec["type"]:
            fail("job %d is not the job acknowledged (%s): %s" % (jid, tag, r["result"]))
    c.close()


# ------------------------------------------------------------ the campaign

random.seed(int(os.environ.get("ASYNCJOB_CRASH_SEED", str(int(time.time())))))
start()
for round_no in range(ROUNDS):
    stop = threading.Event()
    threads = [threading.Thread(target=submitter, args=(k, stop)) for k in range(3)]
    for t in threads:
        t.start()
    time.sleep(random.uniform(0.03, 0.3))
    killed_at = kill()
    stop.set()
    for t in threads:
        t.join()
    back_at = start()
    downtimes.append((killed_at, back_at))
    check_acked()

# Everything finishes (the longest sleep is 1.2 s; GETs and writes are quick).
c = rpc.Connection(sock_path)
deadline = time.time() + 60
jobs = {}
while time.time() < deadline:
    r = c.call("job.list", {"limit": 1000000})
    jobs = {j["id"]: j for j in r["result"]["jobs"]}
    if all(j["state"] not in ("queued", "running") for j in jobs.values()):
        break
    time.sleep(0.1)
unfinished = [j for j in jobs.values() if j["state"] in ("queued", "running")]
if unfinished:
    fail("%d job(s) never finished, e.g. %s" % (len(unfinished), unfinished[0]))
if r["result"]["more"]:
    fail("more jobs than job.list gave: the checks below would miss some")
with acked_lock:
    missing = [jid for jid in acked if jid not in jobs]
if missing:
    fail("acknowledged jobs missing at the end: %s" % missing[:10])

# What each append and create that a kill cut off was found to be, from
# the daemon's log: job id -> "made", "not made", "half made", "cannot tell".
verdicts = {}
with open(log.name, errors="replace") as f:
    for line in f:
        m = re.search(r"job (\d+): the (?:append to|creation of) .*, cut off by a restart, "
                      r"(was found made|was found not made|was found half made|cannot be told)",
                      line)
        if m:
            verdicts[int(m.group(1))] = m.group(2).replace("was found ", "").replace(
                "cannot be told", "cannot tell")


def spec_of(j):
    return asked.get(j.get("label"), {})


asked = {tag: spec for tag, spec in acked.values()}
n_made = n_made_again = n_interrupted = 0
for j in jobs.values():
    # Every write (one whose reply a kill cut off included): a replace is
    # never judged, and none may be interrupted.
    if j["type"] != "write":
        continue
    v = verdicts.get(j["id"])
    if v == "made":
        n_made += 1
        if j["state"] != "succeeded":
            fail("job %d was found made but ended %s" % (j["id"], j["state"]))
    elif v in ("not made", "half made"):
        n_made_again += 1
    if j["state"] == "failed" and j["error"]["code"] == "interrupted":
        n_interrupted += 1
        fail("job %d failed with interrupted, though nothing made its evidence "
             "ambiguous: %s" % (j["id"], j["error"]["message"]))

# Appends: each line is a job's; a succeeded one's is there once, any
# other's not at all.
lines = {}
for name in os.listdir(files):
    if name.startswith("log"):
        for line in open(os.path.join(files, name)):
            lines[line.strip()] = lines.get(line.strip(), 0) + 1
by_tag = {j.get("label"): j for j in jobs.values()}
n_appends = n_creates = 0
for tag, count in lines.items():
    j = by_tag.get(tag)
    if not j:
        fail("the line %s was appended by no job in the store" % tag)
    elif count > 1:
        fail("the append of job %d (%s) is there %d times" % (j["id"], tag, count))
for j in jobs.values():
    # Every append has a key (one whose reply a kill cut off is in the
    # store too).
    if j["type"] != "write" or not j["label"] or not j.get("key"):
        continue
    n_appends += 1
    tag = j["label"]
    if j["state"] == "succeeded" and tag not in lines:
        fail("the append of job %d (%s) succeeded but is missing" % (j["id"], tag))
    elif j["state"] != "succeeded" and tag in lines:
        fail("job %d (%s) %s but its line is there" % (j["id"], tag, j["state"]))

# Creates: each file is a job's that succeeded, with its content; each
# create that succeeded made its file.
for j in jobs.values():
    if j["type"] != "write" or spec_of(j).get("mode") != "create":
        continue
    n_creates += 1
    path = spec_of(j)["path"]
    there = os.path.exists(path)
    if j["state"] == "succeeded" and not there:
        fail("the create of job %d (%s) succeeded but %s is missing" % (j["id"], j["label"], path))
    elif j["state"] != "succeeded" and there:
        fail("job %d (%s) %s but made %s" % (j["id"], j["label"], j["state"], path))
    elif there and open(path).read() != spec_of(j)["content"]:
        fail("%s does not hold what job %d wrote" % (path, j["id"]))
# (cN is job tN's: one whose reply a kill cut off is in the store too.)
for name in os.listdir(files):
    if not name.startswith("c"):
        continue
    j = by_tag.get("t" + name[1:])
    if not j:
        fail("%s was created by no job in the store" % name)
    elif j["state"] != "succeeded":
        fail("job %d %s but made %s" % (j["id"], j["state"], name))
    elif open(os.path.join(files, name)).read() != j["label"]:
        fail("%s does not hold what job %d wrote" % (name, j["id"]))

# Nothing of the daemon's own is left beside the files (a marker goes once
# its job's end is on disk: a moment after the job ends).
for _ in range(100):
    leftovers = [name for name in os.listdir(files) if ".asyncjob-" in name]
    if not leftovers:
        break
    time.sleep(0.05)
if leftovers:
    fail("left beside the files: %s" % leftovers[:10])

# GETs: at most once per run; a run happens once, and again after each
# restart that found it running.
n_gets = 0
for j in jobs.values():
    if j["type"] != "fetch":
        continue
    n_gets += 1
    seen = hits.get("/g/" + j["label"], 0)
    if seen > 1 + ROUNDS:
        fail("the server saw GET %s %d times" % (j["label"], seen))
    if j["state"] == "succeeded" and seen < 1:
        fail("GET %s succeeded without reaching the server" % j["label"])
reruns = sum(max(0, v - 1) for v in hits.values())

# Sleeps: ended within SLACK of the deadline, or of the start that found
# the deadline passed.
n_sleeps = worst = 0
for j in jobs.values():
    if j["type"] != "sleep" or j["state"] != "succeeded" or j["label"] not in asked:
        continue
    n_sleeps += 1
    started, ended = ts(j["started_at"]), ts(j["finished_at"])
    due = started + asked[j["label"]]["seconds"]
    if ended < due - 0.002:
        fail("sleep %d ended %.3f s before its deadline" % (j["id"], due - ended))
    allowed = due
    for killed, back in downtimes:
        if killed - SLACK <= due <= back + SLACK:
            allowed = max(due, back)
    late = ended - allowed
    worst = max(worst, late)
    if late > SLACK:
        fail("sleep %d (%s s) ended %.3f s after it was due" %
             (j["id"], asked[j["label"]]["seconds"], late))

print("# %d rounds of kill -9: %d jobs acknowledged, %d in the store; %d appends and %d "
      "creates, of which cut off by a kill: %d found made, %d made again, %d interrupted; "
      "%d GETs (%d runs again), %d sleeps, the latest %.1f ms after it was due"
      % (ROUNDS, len(acked), len(jobs), n_appends, n_creates, n_made, n_made_again,
         n_interrupted, n_gets, reruns, n_sleeps, worst * 1000))
proc.send_signal(signal.SIGTERM)
status = proc.wait()
if status != 0:
    fail("asyncjobd exited with status %d on SIGTERM" % status)
server.shutdown()
if failures:
    for f in failures[:30]:
        print("#   " + f)
    print("not ok - crash campaign (%d problem(s)); the daemon's log: %s" % (len(failures), log.name))
    sys.exit(1)
shutil.rmtree(tmp)
print("ok - crash campaign")
print("1 passed, 0 failed")
