#!/usr/bin/env python3
"""Power loss with store_sync = full: asyncjobd, its state directory on a
simulated disk with a write cache, is killed with SIGKILL at a random moment
while it acknowledges a pipelined load of sleeps (some keyed, some waited
for) from three connections; the state directory is then built as a power
cut at that moment could have left it, and a daemon started on it must show
every job a reply told of, in a state no earlier than the reply told, under
its id (ids are not reused, keys still find their jobs). Rounds follow on
from each other's recovered directories: ASYNCJOB_POWERLOSS_ROUNDS of them
(10 unless set).

Then the control: the same with store_sync = normal, which does not flush
the WAL at each commit, must lose acknowledged jobs (or bring a finished
one back to an earlier state) within ASYNCJOB_POWERLOSS_CONTROL_ROUNDS
rounds (6 unless set; it stops at the first loss; 0 skips it). If it did
not, the simulation could not see what it is there to see, and the test
fails.

The simulated disk (this machine's kernel has no device-mapper, so neither
dm-log-writes nor dm-flakey, and LazyFS is not packaged): powerloss-shim.so,
preloaded into the daemon, records every change the daemon makes to the
files of its state directory (writes, truncations, creations, unlinks,
renames) and every flush that returned (fsync or fdatasync of a file, or of
the directory), in order, before the change is made (see the shim). From
the directory as it was before the round and that record, this test keeps
for each file a durable image, brought up to the file's content at each
flush of the file, and the changes since; and for the directory the names
that are durable, brought up to date at each flush of the directory, and
the creations, unlinks and renames since. The power cut keeps:
  - of each file's unflushed changes, per 512-byte sector, none, or the
    first k of those that touched it (a disk writes a cached sector back
    whole, at any time, in any order with other sectors): so writes are torn
    at sector boundaries and reordered; the chance that a sector was
    written back at all is drawn per round (0, 1, or in between);
  - of its unflushed size changes, those up to a random point;
  - of the directory's unflushed changes, those up to a random point (a
    journaling file system applies them in order); a file whose creation is
    not kept is gone.
A flush that returned is honoured whole. SQLite's -shm file is not on the
disk: it is memory, rebuilt from the WAL.

Before building the post-crash directory, the test checks the instrument:
the files the record says the daemon left must be, byte for byte, the real
files the killed daemon left (allowing for the one change the kill may have
cut short). A write the shim did not see fails the round there.

Limits: the model trusts flushes (a disk that acknowledges a flush it has
not done is shown only by ASYNCJOB_POWERLOSS_LYING_DISK=1, which makes the
test fail); it assumes sectors are written whole (no sector torn within,
none damaged beside one written: SQLite's powersafe overwrite); it follows
only files directly in the state directory, through the calls the shim
intercepts; and it does not model the file system's own metadata beyond
sizes and names. A seed (printed; ASYNCJOB_POWERLOSS_SEED sets it) fixes
the simulated disk's choices and the load's; the kill moment, and so what
the record holds, depend on timing: so on failure the work directory is
kept, with the failing round's record and its directories before and after
the cut (ASYNCJOB_POWERLOSS_KEEP=1 keeps every round's).

"Told" is what a reply said: the id and state in a submit's reply (queued
or running; succeeded for a submit with "wait"), and the state in a
job.get's. A daemon built with AddressSanitizer gets its runtime preloaded
before the shim (it must be the first library loaded). Skipped (77) when the
shim was not built. Run by `make check` with ASYNCJOBD and
ASYNCJOB_BUILDDIR. Prints "ok - ..." / "not ok - ..." and the figures; exits
1 when a check failed."""

import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "common"))
import rpc  # noqa: E402  (tests/common/rpc.py)

DAEMON = os.environ.get("ASYNCJOBD")
BUILDDIR = os.environ.get("ASYNCJOB_BUILDDIR")
if not DAEMON or not BUILDDIR:
    sys.exit("ASYNCJOBD and ASYNCJOB_BUILDDIR must name the asyncjobd binary and the build tree")
ROUNDS = int(os.environ.get("ASYNCJOB_POWERLOSS_ROUNDS", "10"))
CONTROL_ROUNDS = int(os.environ.get("ASYNCJOB_POWERLOSS_CONTROL_ROUNDS", "6"))
LYING_DISK = os.environ.get("ASYNCJOB_POWERLOSS_LYING_DISK") == "1"
SEED = int(os.environ.get("ASYNCJOB_POWERLOSS_SEED", str(int(time.time() * 1000) % 1000000007)))
SHIM = os.path.join(BUILDDIR, "tests", "integration", ".libs", "powerloss-shim.so")
SECTOR = 512
CONNECTIONS = 3
IN_FLIGHT = 16

if not os.path.exists(SHIM):
    print("# %s is missing (make check builds it)" % SHIM)
    sys.exit(77)
try:
    ldd = subprocess.run(["ldd", DAEMON], capture_output=True, text=True).stdout
except OSError:
    ldd = ""
# A daemon built with AddressSanitizer (gcc links its runtime as a shared
# library) refuses to start unless that runtime is the first library
# loaded: it is preloaded first, the shim after it.
PRELOAD = SHIM
for line in ldd.splitlines():
    words = line.split()
    if words and words[0].startswith("libasan.so") and len(words) >= 3 and words[1] == "=>":
        PRELOAD = words[2] + ":" + SHIM


class ModelError(Exception):
    """The record shows something the simulated disk cannot follow."""


# ------------------------------------------------------------ the record

HEADER = struct.Struct("=B3xIQQQ")   # struct record_header in the shim
NEEDS_RESULT = "WTUR"


class Op:
    __slots__ = ("type", "ino", "a", "payload", "result", "in_doubt")

    def __init__(self, type_, ino, a, payload):
        self.type, self.ino, self.a, self.payload = type_, ino, a, payload
        self.result = None
        self.in_doubt = False


def read_record(path):
    """The operations in the shim's record, each change with its result.
    The last record may be cut short by the kill: the shim writes a
    change's record before making it, so a partial one was never made. A
    change without its result is the one the kill interrupted: it may or
    may not have happened (in_doubt)."""
    with open(path, "rb") as f:
        data = f.read()
    ops = []
    pos = 0
    waiting = None
    while pos + HEADER.size <= len(data):
        t, n, ino, a, _ = HEADER.unpack_from(data, pos)
        if pos + HEADER.size + n > len(data):
            break
        payload = data[pos + HEADER.size:pos + HEADER.size + n]
        pos += HEADER.size + n
        t = chr(t)
        if t == "X":
            if waiting is None:
                raise ModelError("a result without a change in the record")
            waiting.result = a - (1 << 64) if a >= 1 << 63 else a
            waiting = None
            continue
        if waiting is not None:
            raise ModelError("a %s record without its result before a %s" % (waiting.type, t))
        op = Op(t, ino, a, payload)
        ops.append(op)
        if t in NEEDS_RESULT:
            waiting = op
    if waiting is not None:
        waiting.in_doubt = True
    return ops, len(data)


# ------------------------------------------------------------ the disk

class File:
    __slots__ = ("durable", "current", "pending")

    def __init__(self, data=b""):
        self.durable = bytes(data)
        self.current = bytearray(data)
        self.pending = []   # ("w", offset, data) or ("t", size), oldest first


class Stats:
    def __init__(self):
        self.written_back = self.dropped = self.older = 0
        self.dir_kept = self.dir_lost = 0
        self.files_lost = 0
        self.unflushed_files = 0


class Disk:
    """The state directory: what is durable, and what is not yet."""

    def __init__(self, base):
        self.durable_dir = {name: File(data) for name, data in base.items()}
        self.dir = dict(self.durable_dir)
        self.dir_pending = []   # ("create", name, File), ("unlink", name), ("rename", old, new)
        self.by_ino = {}

    def file(self, ino):
        f = self.by_ino.get(ino)
        if f is None:
            raise ModelError("a change to inode %d, which the record never opened" % ino)
        return f

    def apply(self, op):
        t = op.type
        if op.result is not None and op.result < 0:
            return   # the call failed and changed nothing
        if t == "C":
            name = op.payload.decode()
            f = File()
            self.dir[name] = f
            self.dir_pending.append(("create", name, f))
            self.by_ino[op.ino] = f
        elif t == "O":
            name = op.payload.decode()
            f = self.dir.get(name)
            if f is None:
                raise ModelError("%s was opened, but the record never created it" % name)
            self.by_ino[op.ino] = f
        elif t == "W":
            f = self.file(op.ino)
            data = op.payload if op.result is None else op.payload[:op.result]
            off = op.a
            if off > len(f.current):
                f.current.extend(bytes(off - len(f.current)))
            f.current[off:off + len(data)] = data
            if data:
                f.pending.append(("w", off, data))
        elif t == "T":
            f = self.file(op.ino)
            size = op.a
            if size < len(f.current):
                del f.current[size:]
            else:
                f.current.extend(bytes(size - len(f.current)))
            f.pending.append(("t", size))
        elif t == "U":
            name = op.payload.decode()
            self.dir.pop(name, None)
            self.dir_pending.append(("unlink", name))
        elif t == "R":
            old = op.payload[:op.a].decode()
            new = op.payload[op.a:].decode()
            if old in self.dir:
                self.dir[new] = self.dir.pop(old)
            self.dir_pending.append(("rename", old, new))
        elif t == "S":
            f = self.file(op.ino)
            f.durable = bytes(f.current)
            f.pending = []
        elif t == "Y":
            self.durable_dir = dict(self.dir)
            self.dir_pending = []
        elif t == "!":
            raise ModelError("the shim saw what the model cannot follow: %s" %
                             op.payload.decode(errors="replace"))
        else:
            raise ModelError("an unknown record %r" % t)

    def contents(self):
        return {name: bytes(f.current) for name, f in self.dir.items()}

    def after_power_loss(self, rng, p, stats):
        """The directory a power cut now could leave: names -> contents."""
        cut = rng.randint(0, len(self.dir_pending))
        stats.dir_kept += cut
        stats.dir_lost += len(self.dir_pending) - cut
        names = dict(self.durable_dir)
        for change in self.dir_pending[:cut]:
            if change[0] == "create":
                names[change[1]] = change[2]
            elif change[0] == "unlink":
                names.pop(change[1], None)
            elif change[1] in names:
                names[change[2]] = names.pop(change[1])
        stats.files_lost += len(set(self.dir) - set(names))
        return {name: file_after_power_loss(f, rng, p, stats) for name, f in names.items()}


def file_after_power_loss(f, rng, p, stats):
    if not f.pending:
        return f.durable
    stats.unflushed_files += 1
    size = len(f.durable)
    sizes = [size]
    extent = size
    for change in f.pending:
        size = max(size, change[1] + len(change[2])) if change[0] == "w" else change[1]
        sizes.append(size)
        extent = max(extent, size)
    final_size = rng.choice(sizes)
    sectors = -(-extent // SECTOR)
    image = bytearray(f.durable)
    image.extend(bytes(sectors * SECTOR - len(image)))
    touching = {}
    for i, change in enumerate(f.pending):
        if change[0] == "w":
            first = change[1] // SECTOR
            last = (change[1] + len(change[2]) - 1) // SECTOR
        else:
            first, last = change[1] // SECTOR, sectors - 1
        for s in range(first, last + 1):
            touching.setdefault(s, []).append(i)
    for s, changes in touching.items():
        if rng.random() >= p:
            stats.dropped += 1
            continue
        k = rng.randint(1, len(changes))
        stats.written_back += 1
        if k < len(changes):
            stats.older += 1
        lo, hi = s * SECTOR, (s + 1) * SECTOR
        block = image[lo:hi]
        for i in changes[:k]:
            change = f.pending[i]
            if change[0] == "w":
                off, data = change[1], change[2]
                a, b = max(lo, off), min(hi, off + len(data))
                block[a - lo:b - lo] = data[a - off:b - off]
            elif change[1] < hi:
                start = max(change[1], lo) - lo
                block[start:] = bytes(SECTOR - start)
        image[lo:hi] = block
    del image[final_size:]
    return bytes(image)


def read_dir(path):
    """The files of a state directory as a disk holds them: no -shm."""
    out = {}
    for name in os.listdir(path):
        full = os.path.join(path, name)
        if name.endswith("-shm") or not os.path.isfile(full) or os.path.islink(full):
            continue
        with open(full, "rb") as f:
            out[name] = f.read()
    return out


def explained(real, before, after, doubt):
    """Whether the real files are what the record says, allowing the
    change the kill cut short (doubt) to have happened, or not, or, for a
    write, in part. Returns None when they are, else what differs."""
    if real == before or real == after:
        return None
    for name in set(real) | set(after) | set(before):
        r, a, b = real.get(name), after.get(name), before.get(name)
        if r == a or r == b:
            continue
        if r == b"" and a is None and b is None:
            continue   # killed between creating it and recording that
        if doubt is not None and doubt.type == "W" and None not in (r, a, b) and \
                partly_written(r, a, b, doubt.a, doubt.a + len(doubt.payload)):
            continue
        what = lambda x: "missing" if x is None else "%d bytes" % len(x)
        return "%s: the real file is %s, the record says %s" % (name, what(r), what(a))
    return None


def partly_written(real, with_write, without, lo, hi):
    """Whether real is without, with part of the write at [lo, hi) done."""
    if not len(without) <= len(real) <= len(with_write):
        return False
    if real[:lo] != with_write[:lo] or real[hi:] != with_write[hi:len(real)]:
        return False
    return all(real[i] == with_write[i] or (i < len(without) and real[i] == without[i])
               for i in range(lo, min(hi, len(real))))


# ------------------------------------------------------------ the daemon

tmp = tempfile.mkdtemp(prefix="asyncjob-powerloss.")
sock_path = os.path.join(tmp, "s.sock")
log = open(os.path.join(tmp, "asyncjobd.log"), "ab")
failures = []


def fail(msg):
    failures.append(msg)
    print("#   " + msg)


def write_conf(sync):
    path = os.path.join(tmp, "asyncjobd-%s.conf" % sync)
    with open(path, "w") as c:
        c.write("store_sync = %s\n" % sync)
        c.write("max_list_jobs = 100000000\n")   # one job.list sees every job
        # Every job told of must still be there however long the campaign:
        # retention would drop the oldest finished ones (100000 by default).
        c.write("max_retained_jobs = 100000000\nretain_seconds = 864000\n")
    return path


def connect():
    return rpc.Connection(sock_path, timeout=120)


def start(conf, state, env=None):
    """A daemon on state; returns it once it answers, or None if it exits."""
    proc = subprocess.Popen([DAEMON, "-c", conf, "-s", sock_path, "--store", "sqlite",
                             "--state-dir", state, "--write-root", tmp, "--log-level", "warning"],
                            stdout=log, stderr=log, env=env)
    for _ in range(800):
        try:
            c = connect()
            c.call("daemon.info")
            c.close()
            return proc
        except (OSError, ValueError):
            if proc.poll() is not None:
                return None
            time.sleep(0.025)
    proc.kill()
    proc.wait()
    return None


# ------------------------------------------------------------ what replies told

RANK = {"queued": 0, "running": 1, "succeeded": 2, "failed": 2, "canceled": 2}


class Ledger:
    """Every job a reply told of: its label, the latest state told, its key."""

    def __init__(self):
        self.lock = threading.Lock()
        self.label = {}
        self.state = {}
        self.key = {}
        self.max_id = 0
        self.lost = set()
        self.id_list = []   # the ids in label, to pick from
        self.seen_by = {}   # (connection, id) -> the latest state told there

    def told(self, job, label, key=None, conn_no=0):
        """A reply told of job (a job object). Returns a problem, or None."""
        jid, state = job["id"], job["state"]
        with self.lock:
            if jid in self.lost:
                return None
            known = self.label.get(jid)
            if known is not None and known != label:
                return "id %d was told for %s and again for %s" % (jid, known, label)
            if known is None:
                self.id_list.append(jid)
            self.label[jid] = label
            if key is not None:
                self.key[jid] = key
            old = self.state.get(jid)
            self.max_id = max(self.max_id, jid)
            # Replies keep their order on one connection only: another
            # connection's older news (a get answered "running") may be
            # read after this one's "succeeded". A state goes back only
            # if one connection was told so; two final states never agree.
            seen = self.seen_by.get((conn_no, jid))
            self.seen_by[(conn_no, jid)] = state if seen is None or RANK[state] > RANK[seen] else seen
            if old is None or RANK[state] > RANK[old]:
                self.state[jid] = state
            if (seen is not None and RANK[state] < RANK[seen]) or \
                    (RANK[old or state] == 2 and RANK[state] == 2 and state != old and old):
                return "job %d was told %s, then %s" % (jid, seen or old, state)
        return None

    def forget(self, jid):
        """A job the power cut lost (the control's finding)."""
        with self.lock:
            self.lost.add(jid)
            del self.label[jid], self.state[jid]
            self.key.pop(jid, None)
            self.id_list = list(self.label)

    def pick(self, rng):
        with self.lock:
            return rng.choice(self.id_list) if self.id_list else None

    def count(self):
        with self.lock:
            return len(self.label)


def submitter(conn_no, round_tag, rng, ledger, stop, counts, problems):
    """Pipelines submits and gets (IN_FLIGHT at once) until the daemon goes."""
    my_keys = []
    n = [0]

    def next_request():
        n[0] += 1
        label = "%s-c%d-%d" % (round_tag, conn_no, n[0])
        r = rng.random()
        key = None
        if r < 0.15:
            jid = ledger.pick(rng)
            if jid is not None:
                return "job.get", {"id": jid}, ("get", jid, None)
        if r < 0.30:
            spec = {"type": "sleep", "seconds": round(rng.uniform(0, 0.05), 3), "wait": True}
        elif r < 0.45 and my_keys:
            label, key, spec = rng.choice(my_keys)   # the same key again
        else:
            spec = {"type": "sleep", "seconds": round(rng.uniform(0, 0.6), 3)}
            if r < 0.55:
                key = "key-" + label
                spec["key"] = key
                my_keys.append((label, key, spec))
        spec["label"] = label
        return "job.submit", spec, ("submit", label, key)

    try:
        c = connect()
        for (kind, what, key), reply in c.pipeline(IN_FLIGHT, next_request, stop):
            counts[0] += 1
            if "error" in reply:
                if reply["error"]["code"] != -32002:   # shutting down
                    problems.append("%s refused: %s" % (kind, reply["error"]))
                continue
            job = reply["result"]
            label = what if kind == "submit" else job.get("label")
            p = ledger.told(job, label, key, conn_no)
            if p:
                problems.append(p)
    except (OSError, ValueError):
        return


# ------------------------------------------------------------ a round

def power_loss_round(phase, round_no, conf, state, ledger, totals, lying):
    """One round on state; returns (the next round's state directory, jobs
    lost or set back), or (None, None) when it could not go on."""
    rng = random.Random("%d-%s-%d" % (SEED, phase, round_no))
    base = read_dir(state)
    record = os.path.join(tmp, "record-%s-%d" % (phase, round_no))
    env = dict(os.environ, LD_PRELOAD=PRELOAD, POWERLOSS_DIR=state, POWERLOSS_LOG=record)
    if lying:
        env["POWERLOSS_LYING_DISK"] = "1"
    proc = start(conf, state, env)
    if proc is None:
        fail("%s round %d: the daemon with the shim did not start; see %s" % (phase, round_no, log.name))
        return None, None

    stop = threading.Event()
    counts = [0]
    problems = []
    known_before = ledger.count()
    failed_before = len(failures)
    threads = [threading.Thread(target=submitter,
                                args=(k, "%s%d" % (phase, round_no), random.Random(rng.random()),
                                      ledger, stop, counts, problems))
               for k in range(CONNECTIONS)]
    for t in threads:
        t.start()
    lasted = rng.uniform(0.05, 0.8)
    time.sleep(lasted)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stop.set()
    for t in threads:
        t.join()
    for p in problems[:5]:
        fail("%s round %d: %s" % (phase, round_no, p))
    acked = ledger.count() - known_before

    # The instrument: the record must account for the real files.
    try:
        ops, record_size = read_record(record)
        disk = Disk(base)
        doubt = ops[-1] if ops and ops[-1].in_doubt else None
        for op in ops[:-1] if doubt else ops:
            disk.apply(op)
        before = disk.contents()
        if doubt:
            disk.apply(doubt)
        after = disk.contents() if doubt else before
    except ModelError as e:
        fail("%s round %d: %s" % (phase, round_no, e))
        return None, None
    why = explained(read_dir(state), before, after, doubt)
    if why:
        fail("%s round %d: the record does not account for the files the daemon left (%s): "
             "the shim missed a write" % (phase, round_no, why))
        return None, None

    # The power cut.
    p = rng.choice([0.0, 1.0, rng.random(), rng.random()])
    stats = Stats()
    crashed = os.path.join(tmp, "state-%s-%d" % (phase, round_no + 1))
    os.mkdir(crashed, 0o700)
    for name, data in disk.after_power_loss(rng, p, stats).items():
        # 0600, as the daemon makes its files.
        with open(os.open(os.path.join(crashed, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600),
                  "wb") as f:
            f.write(data)

    # What the daemon finds there.
    proc = start(conf, crashed)
    if proc is None:
        fail("%s round %d: asyncjobd did not start on the directory after the power cut "
             "(kept: %s); see %s" % (phase, round_no, crashed, log.name))
        return None, None
    try:
        lost = check_recovered(phase, round_no, ledger)
    except (OSError, ValueError) as e:
        fail("%s round %d: asyncjobd on the directory after the power cut: %s" % (phase, round_no, e))
        proc.kill()
        proc.wait()
        return None, None
    proc.send_signal(signal.SIGTERM)
    if proc.wait() != 0:
        fail("%s round %d: asyncjobd exited with status %d on SIGTERM" % (phase, round_no, proc.returncode))
    totals["acked"] += acked
    totals["unflushed_rounds"] += stats.unflushed_files > 0
    for k in ("written_back", "dropped", "older", "dir_kept", "dir_lost", "files_lost"):
        totals[k] += getattr(stats, k)
    print("# %s round %d: killed after %.2f s, %d replies, %d new jobs acknowledged (%d in all); "
          "record %.1f MB, %d changes; power cut with write-back chance %.2f: %d files with "
          "unflushed changes, %d sectors written back (%d of them not their latest), %d dropped, "
          "%d of %d directory changes kept; %d jobs lost or set back"
          % (phase, round_no, lasted, counts[0], acked, ledger.count() + len(ledger.lost),
             record_size / 1e6, len(ops), p, stats.unflushed_files, stats.written_back,
             stats.older, stats.dropped, stats.dir_kept, stats.dir_kept + stats.dir_lost, lost))
    if os.environ.get("ASYNCJOB_POWERLOSS_KEEP") != "1" and len(failures) == failed_before:
        os.unlink(record)
        shutil.rmtree(state)
    return crashed, lost


def check_recovered(phase, round_no, ledger):
    """Every job a reply told of is there, as told or later; returns how
    many are not (failures in the full phase, the control's finding in the
    normal one)."""
    expect_loss = phase == "normal"
    c = connect()
    r = c.call("job.list", {"limit": 100000000})
    jobs = {j["id"]: j for j in r["result"]["jobs"]}
    if r["result"]["more"]:
        fail("%s round %d: job.list did not give every job" % (phase, round_no))
    lost = 0
    problems = []
    with ledger.lock:
        told = [(jid, ledger.label[jid], ledger.state[jid], ledger.key.get(jid))
                for jid in ledger.label]
    for jid, label, state, key in told:
        j = jobs.get(jid)
        if j is None:
            problems.append("acknowledged job %d (%s, told %s) is gone" % (jid, label, state))
        elif j.get("label") != label:
            problems.append("job %d is %s, not %s as told: its id was reused" %
                            (jid, j.get("label"), label))
        elif RANK[j["state"]] < RANK[state] or (RANK[state] == 2 and j["state"] != state):
            problems.append("job %d (%s) was told %s and is %s" % (jid, label, state, j["state"]))
        else:
            continue
        lost += 1
        ledger.forget(jid)
    labels = {}
    for j in jobs.values():
        if j.get("label") in labels:
            problems.append("jobs %d and %d are both %s" % (labels[j["label"]], j["id"], j["label"]))
        labels[j.get("label")] = j["id"]

    # Keys still find their jobs, and a new job gets an id never told.
    with ledger.lock:
        keyed = [(jid, key, ledger.label[jid]) for jid, key in ledger.key.items()]
        highest = max([ledger.max_id] + list(ledger.lost))
    requests = iter([("job.submit", {"type": "sleep", "seconds": 0, "key": key, "label": label},
                      (jid, key, label)) for jid, key, label in keyed])
    for (jid, key, label), reply in c.pipeline(IN_FLIGHT, lambda: next(requests, None)):
        if "error" in reply:
            problems.append("the key of job %d: %s" % (jid, reply["error"]))
        elif reply["result"]["id"] != jid:
            problems.append("key %s found job %d, not %d" % (key, reply["result"]["id"], jid))
    probe = "%s%d-probe" % (phase, round_no)
    r = c.call("job.submit", {"type": "sleep", "seconds": 0, "label": probe})
    if "error" in r:
        problems.append("a new job was refused: %s" % r["error"])
    else:
        if r["result"]["id"] <= highest and not (expect_loss and lost):
            problems.append("a new job got id %d, not above %d, the highest told" %
                            (r["result"]["id"], highest))
        ledger.told(r["result"], probe)
    c.close()
    if expect_loss:
        for p in problems[:3]:
            print("#   (control) %s round %d: %s" % (phase, round_no, p))
        return lost
    for p in problems[:10]:
        fail("%s round %d: %s" % (phase, round_no, p))
    if len(problems) > 10:
        fail("%s round %d: ... and %d more" % (phase, round_no, len(problems) - 10))
    return lost


def campaign(phase, sync, rounds, lying=False, stop_at_loss=False):
    conf = write_conf(sync)
    state = os.path.join(tmp, "state-%s-0" % phase)
    os.mkdir(state, 0o700)
    state = os.path.realpath(state)
    ledger = Ledger()
    totals = dict(acked=0, written_back=0, dropped=0, older=0, dir_kept=0, dir_lost=0, files_lost=0,
                  unflushed_rounds=0)
    lost = 0
    ran = 0
    for round_no in range(rounds):
        state, round_lost = power_loss_round(phase, round_no, conf, state, ledger, totals, lying)
        if state is None:
            break
        ran += 1
        lost += round_lost
        if stop_at_loss and lost:
            break
    print("# %s (store_sync = %s%s): %d rounds (%d cut with unflushed changes), %d jobs "
          "acknowledged, %d lost or set back; %d sectors written back, %d dropped; %d directory "
          "changes kept, %d lost"
          % (phase, sync, ", a disk that ignores flushes" if lying else "", ran,
             totals["unflushed_rounds"], totals["acked"], lost, totals["written_back"],
             totals["dropped"], totals["dir_kept"], totals["dir_lost"]))
    return ran, lost


t0 = time.time()
print("# seed %d (ASYNCJOB_POWERLOSS_SEED); work directory %s" % (SEED, tmp))
n_failed = 0
before = len(failures)
ran, lost = campaign("full", "full", ROUNDS, lying=LYING_DISK)
if len(failures) > before or ran < ROUNDS:
    n_failed += 1
    print("not ok - power loss with store_sync = full%s: %d problem(s), %d acknowledged jobs "
          "lost or set back" % (" on a disk that ignores flushes" if LYING_DISK else "",
                                len(failures) - before, lost))
else:
    print("ok - power loss with store_sync = full: %d rounds, no acknowledged job lost" % ran)

n_cases = 1
if CONTROL_ROUNDS > 0:
    n_cases += 1
    before = len(failures)
    ran, lost = campaign("normal", "normal", CONTROL_ROUNDS, stop_at_loss=True)
    if len(failures) > before:
        n_failed += 1
        print("not ok - the control (store_sync = normal) could not run")
    elif not lost:
        n_failed += 1
        fail("store_sync = normal lost no acknowledged job in %d rounds: the simulated power cut "
             "may not be cutting anything" % ran)
        print("not ok - store_sync = normal loses acknowledged jobs")
    else:
        print("ok - store_sync = normal loses acknowledged jobs (%d in %d rounds): the test can "
              "see a loss" % (lost, ran))

log.close()
print("# %.1f s" % (time.time() - t0))
if n_failed:
    print("# kept for a look: %s" % tmp)
    print("%d passed, %d failed" % (n_cases - n_failed, n_failed))
    sys.exit(1)
shutil.rmtree(tmp)
print("%d passed, 0 failed" % n_cases)
