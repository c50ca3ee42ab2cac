#!/usr/bin/env python3
"""job.cancel_many and job.forget against the real daemon: a filter by
state, type and label; a client affects only its own jobs, an admin
(root) everyone's; at most max_list_jobs in one call, with "more" until
done; a bad filter names its field; and the CLI's cancel --all/--label
and clean. Run by `make check` with ASYNCJOBD and ASYNCJOB_CLI. Prints
"ok - ..." / "not ok - ..." lines; exits 1 when a check failed."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "common"))
import checks  # noqa: E402  (tests/common/checks.py)
import rpc  # noqa: E402  (tests/common/rpc.py)

T = checks.Run("asyncjob-manage.")
os.chmod(T.tmp, 0o755)     # another user's client reaches the socket
check = T.check
sock_path = T.sock
CLI = T.cli
if not CLI:
    sys.exit("ASYNCJOB_CLI must name the asyncjob binary")


def start():
    T.start(["--store", "memory"], "max_list_jobs = 2\nsocket_mode = 0666\nwrite_root = %s\n"
            % T.tmp)


def as_nobody(calls):
    """Runs [(method, params)] on a connection of uid 65534; the replies."""
    rd, wr = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rd)
        os.setgid(65534)
        os.setuid(65534)
        c = rpc.Connection(sock_path, timeout=30)
        out = [c.call(m, p) for m, p in calls]
        os.write(wr, repr(out).encode())
        os._exit(0)
    os.close(wr)
    data = b""
    while True:
        chunk = os.read(rd, 65536)
        if not chunk:
            break
        data += chunk
    os.waitpid(pid, 0)
    return eval(data.decode())   # noqa: S307  (our own child's repr)


def sleep_spec(label, seconds=100):
    return {"type": "sleep", "seconds": seconds, "label": label}


def states(c, ids):
    return [c.call("job.get", {"id": i}).get("result", {}).get("state") for i in ids]


def main():
    start()
    c = rpc.Connection(sock_path, timeout=30)
    mine = [c.call("job.submit", sleep_spec("batch"))["result"]["id"] for _ in range(3)]
    other = c.call("job.submit", sleep_spec("other"))["result"]["id"]

    r = c.call("job.cancel_many", {"label": "batch"})["result"]
    check(r["canceled"] == mine[:2] and r["more"] is True,
          "cancel_many by label: the oldest max_list_jobs (2), more: true: %s" % r)
    r = c.call("job.cancel_many", {"label": "batch"})["result"]
    check(r["canceled"] == mine[2:] and r["more"] is False, "then the rest: %s" % r)
    check(states(c, mine + [other]) == ["canceled"] * 3 + ["running"],
          "the job of another label still runs")

    r = c.call("job.cancel_many", {"state": "succeeded"})
    check(r.get("error", {}).get("data", {}).get("field") == "state",
          "cancel_many of a final state is refused naming state")
    r = c.call("job.forget", {"state": "running"})
    check(r.get("error", {}).get("data", {}).get("field") == "state",
          "forget of an active state is refused naming state")
    r = c.call("job.forget", {"type": "nosuch"})
    check(r.get("error", {}).get("data", {}).get("field") == "type", "an unknown type is named")

    if os.geteuid() == 0:
        spec = sleep_spec("batch")
        out = as_nobody([("job.submit", spec), ("job.submit", spec),
                         ("job.cancel_many", {}), ("job.cancel_many", {}),
                         ("job.forget", {}), ("job.forget", {})])
        theirs = [out[0]["result"]["id"], out[1]["result"]["id"]]
        canceled = out[2]["result"]["canceled"] + out[3]["result"]["canceled"]
        forgotten = out[4]["result"]["forgotten"] + out[5]["result"]["forgotten"]
        check(sorted(canceled) == sorted(theirs) and states(c, [other]) == ["running"],
              "another user cancels only their own jobs: %s" % canceled)
        check(sorted(forgotten) == sorted(theirs) and states(c, mine) == ["canceled"] * 3,
              "and forgets only their own: %s" % forgotten)
        # Root is an admin: everyone's.
        theirs = [as_nobody([("job.submit", spec)])[0]["result"]["id"]]
        r = c.call("job.cancel_many", {})["result"]
        check(sorted(r["canceled"]) == sorted([other] + theirs),
              "an admin cancels everyone's: %s" % r)
    else:
        print("ok - # skip other users: not root")

    r = c.call("job.forget", {"state": "canceled"})["result"]
    r2 = c.call("job.forget", {"state": "canceled"})["result"]
    gone = r["forgotten"] + r2["forgotten"]
    check(set(mine) <= set(gone), "forget by state: %s" % gone)
    check(all(c.call("job.get", {"id": i}).get("error", {}).get("code") == -32001 for i in mine),
          "a forgotten job is not found")

    # The CLI.
    ids = [c.call("job.submit", sleep_spec("cli"))["result"]["id"] for _ in range(3)]
    p = subprocess.run([CLI, "-s", sock_path, "cancel", "--label", "cli"], capture_output=True,
                       text=True)
    check(p.returncode == 0 and p.stdout == "3 job(s) canceled\n",
          "asyncjob cancel --label: all of them, past max_list_jobs: %r" % p.stdout)
    p = subprocess.run([CLI, "-s", sock_path, "clean"], capture_output=True, text=True)
    check(p.returncode == 0 and p.stdout.endswith("job(s) forgotten\n")
          and all(c.call("job.get", {"id": i}).get("error") for i in ids),
          "asyncjob clean forgets them: %r" % p.stdout)
    p = subprocess.run([CLI, "-s", sock_path, "cancel", "--state", "failed"],
                       capture_output=True, text=True)
    check(p.returncode == 2 and "only queued or running" in p.stderr,
          "cancel --state failed is a usage error: %r" % p.stderr)
    p = subprocess.run([CLI, "-s", sock_path, "cancel", "--all", "7"], capture_output=True,
                       text=True)
    check(p.returncode == 2, "ids and a filter together are a usage error")
    c.close()
    T.stop()


T.run(main)
