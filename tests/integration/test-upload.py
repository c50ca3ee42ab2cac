#!/usr/bin/env python3
"""Uploads against the real daemon (SQLite store, so the spool directory is
known: STATE/uploads): content larger than one request, sent in pieces,
taken by a write job; the limits (max_upload_bytes, max_spool_bytes), each
refusal naming its field, an upload of another connection or user, one not
ended or already taken, and no spool file left behind by a connection that
goes, a job that took one, or a job refused. Run by `make check` with
ASYNCJOBD. Prints "ok - ..." / "not ok - ..." lines; exits 1 when a check
failed."""

import base64
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "common"))
import checks  # noqa: E402  (tests/common/checks.py)
import rpc  # noqa: E402  (tests/common/rpc.py)

T = checks.Run("asyncjob-upload.")
os.chmod(T.tmp, 0o755)     # another user's client reaches the socket
check = T.check
tmp = T.tmp
sock_path = T.sock
state = os.path.join(tmp, "state")
spool = os.path.join(state, "uploads")
files = os.path.join(tmp, "files")
os.makedirs(files)
os.chmod(files, 0o777)


def start():
    T.start(["--store", "sqlite", "--state-dir", state, "--write-root", files,
             "--log-level", "info"],
            "max_upload_bytes = 2M\nmax_spool_bytes = 3M\nsocket_mode = 0666\n")


def spool_files():
    return sorted(os.listdir(spool))


def poll(cond, seconds=5.0):
    end = time.time() + seconds
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def piece(c, token, data, end=False):
    params = {"upload": token, "content_base64": base64.b64encode(data).decode()}
    if end:
        params["end"] = True
    return c.call("upload.write", params)


def upload(c, data, size=256 * 1024):
    token = c.call("upload.begin")["result"]["upload"]
    for off in range(0, len(data), size):
        r = piece(c, token, data[off:off + size])
        assert "result" in r, r
    r = c.call("upload.write", {"upload": token, "end": True})
    assert r.get("result", {}).get("ended") is True, r
    return token


def error_of(reply):
    e = reply.get("error", {})
    return e.get("code"), (e.get("data") or {}).get("field") or (e.get("data") or {}).get("limit")


def main():
    start()
    c = rpc.Connection(sock_path, timeout=30)
    begin = c.call("upload.begin")["result"]
    check(len(begin["upload"]) == 32 and begin["max_bytes"] == 2 * 1024 * 1024
          and 0 < begin["max_piece_bytes"] < 1024 * 1024,
          "upload.begin gives a token, the limit and how large a piece may be: %s" % begin)
    piece(c, begin["upload"], b"u" * 1000)
    uploads = c.call("daemon.info")["result"]["uploads"]
    check(uploads == {"open": 1, "spool_bytes": 1000},
          "daemon.info counts uploads open and the spool's bytes: %s" % uploads)
    c.close()
    check(poll(lambda: spool_files() == []), "an upload of a connection that goes is removed")

    # ------------------------------------------------ content in pieces
    data = os.urandom(1536 * 1024)
    c = rpc.Connection(sock_path, timeout=30)
    token = upload(c, data)
    target = os.path.join(files, "big.bin")
    r = c.call("job.submit", {"type": "write", "path": target, "upload": token, "wait": True})
    job = r.get("result", {})
    with open(target, "rb") as f:
        got = f.read()
    check(job.get("state") == "succeeded" and got == data
          and job["result"]["bytes"] == len(data),
          "a write takes 1.5 MB sent in six pieces: the file holds them in order")
    check(poll(lambda: spool_files() == []), "the spool file goes once the write has ended")

    # An append of two uploads: in order, each once.
    log_path = os.path.join(files, "log.bin")
    a, b = os.urandom(300000), os.urandom(300000)
    for part in (a, b):
        t = upload(c, part, 100000)
        r = c.call("job.submit", {"type": "write", "path": log_path, "mode": "append",
                                  "upload": t, "wait": True})
        assert r.get("result", {}).get("state") == "succeeded", r
    with open(log_path, "rb") as f:
        check(f.read() == a + b, "two appends from uploads: the file holds both, in order")

    # ------------------------------------------------ refused
    t = c.call("upload.begin")["result"]["upload"]
    piece(c, t, b"x" * 1000)
    r = c.call("job.submit", {"type": "write", "path": target, "upload": t})
    check(error_of(r) == (-32602, "upload") and "not ended" in r["error"]["message"],
          "an upload not ended is refused: %s" % r.get("error"))
    r = c.call("job.submit", {"type": "write", "path": target, "upload": t, "content": "x"})
    check(error_of(r) == (-32602, "upload"), "upload and content together are refused")

    other = rpc.Connection(sock_path, timeout=30)
    r = piece(other, t, b"y")
    check(error_of(r) == (-32602, "upload"),
          "another connection cannot add to an upload: %s" % r.get("error"))
    r = other.call("upload.write", {"upload": "../../etc/passwd", "end": True})
    check(error_of(r) == (-32602, "upload"), "a token that is a path is no token")
    other.close()

    r = piece(c, t, b"z", end=True)
    r2 = piece(c, t, b"more")
    check(error_of(r2) == (-32602, "upload") and "ended" in r2["error"]["message"],
          "nothing is added to an upload that has ended")
    r = c.call("job.submit", {"type": "write", "path": os.path.join(files, "t.txt"),
                              "upload": t, "wait": True})
    check(r.get("result", {}).get("state") == "succeeded", "then a job takes it")
    r = c.call("job.submit", {"type": "write", "path": os.path.join(files, "t2.txt"),
                              "upload": t})
    check(error_of(r) == (-32602, "upload"), "an upload is taken once")

    # A job refused for its path has not taken the upload: fixed, it does.
    t = upload(c, b"q" * 5000)
    r = c.call("job.submit", {"type": "write", "path": "/nonexistent-root/x", "upload": t})
    r2 = c.call("job.submit", {"type": "write", "path": os.path.join(files, "q.txt"),
                               "upload": t, "wait": True})
    check(error_of(r) == (-32003, "path") and r2.get("result", {}).get("state") == "succeeded",
          "a job refused for its path leaves the upload to the next: %s" % r.get("error"))
    # A job that took its upload but is not made (its key names an earlier
    # job, which is the answer): nothing of the upload is left.
    c.call("job.submit", {"type": "sleep", "seconds": 0, "key": "upload-key"})
    t = upload(c, b"k" * 5000)
    r = c.call("job.submit", {"type": "write", "path": os.path.join(files, "k.txt"),
                              "upload": t, "key": "upload-key"})
    check(r.get("result", {}).get("type") == "sleep" and poll(lambda: spool_files() == []),
          "an upload taken by a spec whose key names an earlier job is removed: %s"
          % (spool_files(),))

    # ------------------------------------------------ limits
    t = c.call("upload.begin")["result"]["upload"]
    r = piece(c, t, os.urandom(700000))
    r = piece(c, t, os.urandom(700000))
    r = piece(c, t, os.urandom(700000))
    check(error_of(r) == (-32002, "max_upload_bytes"),
          "past max_upload_bytes: -32002 naming it: %s" % r.get("error"))
    c2 = rpc.Connection(sock_path, timeout=30)
    t2 = c2.call("upload.begin")["result"]["upload"]
    for _ in range(3):
        r = piece(c2, t2, os.urandom(600000))
    check(error_of(r) == (-32002, "max_spool_bytes"),
          "past max_spool_bytes (all uploads): -32002 naming it: %s" % r.get("error"))
    c2.close()
    info = c.call("daemon.info")
    check("result" in info, "the connection lives on")
    tokens = [c.call("upload.begin") for _ in range(9)]
    check(error_of(tokens[-1])[0] == -32002 and all("result" in x for x in tokens[:7]),
          "a connection has at most 8 uploads open: %s" % [error_of(x) for x in tokens])
    c.close()
    check(poll(lambda: spool_files() == []), "every upload of a closed connection is removed")

    # ------------------------------------------------ through the CLI
    cli = os.environ.get("ASYNCJOB_CLI")
    if cli:
        src = os.path.join(tmp, "src.bin")
        data = os.urandom(1500 * 1000)
        with open(src, "wb") as f:
            f.write(data)
        out = os.path.join(files, "cli.bin")
        with open(src, "rb") as stdin:
            p = subprocess.run([cli, "-s", sock_path, "write", out, "-"], stdin=stdin,
                               capture_output=True)
        with open(out, "rb") as f:
            check(p.returncode == 0 and f.read() == data and p.stderr == b"",
                  "asyncjob write PATH - with 1.5 MB on stdin (a pipe): the file, nothing on "
                  "stderr (%d, %r)" % (p.returncode, p.stderr))
        with open(src, "ab") as f:
            f.write(os.urandom(1000 * 1000))
        too = os.path.join(files, "too-large.bin")
        with open(src, "rb") as stdin:
            p = subprocess.run([cli, "-s", sock_path, "write", too, "-"], stdin=stdin,
                               capture_output=True)
        err = p.stderr.decode()
        check(p.returncode == 4 and err.count("\n") == 1 and "max_upload_bytes" in err
              and not os.path.exists(too),
              "2.5 MB past max_upload_bytes (2M): exit 4, one line naming the limit: %d %r"
              % (p.returncode, err))
        check(poll(lambda: spool_files() == []), "and no spool file is left")
        if shutil.which("script"):
            # On a terminal, the CLI says how far it got while it sends.
            typescript = subprocess.run(
                ["script", "-qec", "%s -s %s write %s - < %s" % (cli, sock_path, out, src),
                 "/dev/null"], capture_output=True, timeout=60)
            check(b"sending stdin to asyncjobd:" in typescript.stdout,
                  "on a terminal, progress is shown while stdin is sent")
        else:
            print("ok - # skip progress on a terminal: script(1) is not installed")

    # ------------------------------------------------ another user's
    if os.geteuid() == 0:
        c = rpc.Connection(sock_path, timeout=30)
        t = upload(c, b"root's content " * 10000)
        rd, wr = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(rd)
            os.setgid(65534)
            os.setuid(65534)
            n = rpc.Connection(sock_path, timeout=30)
            r = n.call("job.submit", {"type": "write", "path": os.path.join(files, "n.txt"),
                                      "upload": t})
            os.write(wr, repr(error_of(r)).encode())
            os._exit(0)
        os.close(wr)
        got = os.read(rd, 1000).decode()
        os.waitpid(pid, 0)
        check(got == repr((-32602, "upload")) and not os.path.exists(os.path.join(files, "n.txt")),
              "another user cannot take an upload of root's: %s" % got)
        c.close()
    else:
        print("ok - # skip another user's upload: not root")

    T.stop()


T.run(main)
