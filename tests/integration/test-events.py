#!/usr/bin/env python3
"""Events against the real daemon: a replay is sent as fast as the client
reads it, never cut off for being long (max_output_bytes is 64 KiB here,
the replays are megabytes); live events wait behind a replay and come in
order after it; events forgotten while a slow client replays are reported
(`missed`); a large result is left out of events (`result_omitted`) and
read with job.get; a second subscribe or an unsubscribe during a replay is
refused, the connection lives on. Run by `make check` with ASYNCJOBD.
Prints "ok - ..." / "not ok - ..." lines; exits 1 when a check failed."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "common"))
import checks  # noqa: E402  (tests/common/checks.py)
import rpc  # noqa: E402  (tests/common/rpc.py)

T = checks.Run("asyncjob-events.")
check = T.check
sock_path = T.sock


def start(conf_text):
    T.start(["--store", "memory", "--log-level", "notice"], conf_text)


def stop():
    T.stop()


def submit_sleeps(n, message_bytes, label_bytes=200):
    """n sleeps of 0 s, each with a label and a message of the sizes given,
    pipelined on a connection of their own; waits until all have ended."""
    c = rpc.Connection(sock_path, timeout=60)
    specs = iter(range(n))

    def next_request():
        i = next(specs, None)
        if i is None:
            return None
        spec = {"type": "sleep", "seconds": 0, "label": ("%d-" % i).ljust(label_bytes, "l"),
                "message": "m" * message_bytes}
        return "job.submit", spec, i

    ids = []
    for _, reply in c.pipeline(8, next_request):
        ids.append(reply["result"]["id"])
    c.call("job.wait", {"ids": ids, "timeout": 60})
    c.close()
    return ids


def read_replay(conn):
    """Reads a connection's messages up to the reply to events.subscribe
    (id "sub"): the events and the reply."""
    events = []
    while True:
        msg = conn.reply()
        if msg.get("id") == "sub":
            return events, msg
        if msg.get("method") == "job.updated":
            events.append(msg["params"])


def main():
    # ------------------------------------------------ a long replay
    start("max_output_bytes = 64K\nmax_message_bytes = 64K\n")
    # 400 jobs, 1,200 events, 4 KiB of message in each succeeded one:
    # about 2.4 MB to replay, 37 times max_output_bytes.
    ids = submit_sleeps(400, 4096)
    slow = rpc.Connection(sock_path, timeout=30)
    slow.send("sub", "events.subscribe", {"since": 0})
    # It does not read for a while: a replay that pushed everything at
    # once would pass max_output_bytes and be disconnected.
    time.sleep(1.0)
    # Meanwhile more jobs change state: their events come after the
    # replay, in order, none twice.
    more = submit_sleeps(50, 10)
    try:
        events, reply = read_replay(slow)
    except (ConnectionError, OSError) as e:
        check(False, "a replay of 2.4 MB to a client that reads slowly is sent whole (%s)" % e)
        return
    seqs = [e["seq"] for e in events]
    check(reply.get("result", {}).get("missed") is False and len(events) == 3 * 450,
          "a replay of 2.4 MB to a client that reads slowly is sent whole: %d events, reply %s"
          % (len(events), reply.get("result")))
    check(seqs == list(range(1, len(seqs) + 1)) and reply["result"]["seq"] == seqs[-1],
          "replayed and live events come once each, in order, before the reply (seq %d)"
          % reply["result"]["seq"])
    finished = {e["job"]["id"]: e["job"] for e in events if e["job"]["state"] == "succeeded"}
    check(set(finished) == set(ids + more)
          and all(len(j["result"]["message"]) in (4096, 10) for j in finished.values()),
          "a small result (4 KiB) travels in its event")
    # Live again after the replay.
    sub_after = submit_sleeps(1, 10)
    msg = slow.reply()
    check(msg.get("method") == "job.updated" and msg["params"]["seq"] == seqs[-1] + 1
          and msg["params"]["job"]["id"] == sub_after[0],
          "after the replay, live events follow on")
    slow.close()

    # ------------------------------------------------ a large result
    big = submit_sleeps(1, 20000)[0]
    c = rpc.Connection(sock_path, timeout=30)
    c.send("sub", "events.subscribe", {"since": 0, "ids": [big]})
    events, reply = read_replay(c)
    last = events[-1]["job"] if events else {}
    check(last.get("state") == "succeeded" and "result" not in last
          and last.get("result_omitted") is True,
          "an event leaves out a result of 20 KB: result_omitted")
    got = c.call("job.get", {"id": big})["result"]
    check(len(got.get("result", {}).get("message", "")) == 20000,
          "job.get gives that result whole")

    # ------------------------------------------------ refused during a replay
    c.send("sub", "events.subscribe", {"since": 0})
    time.sleep(0.5)
    # The connection has not read the replay: these wait behind it, and
    # are answered when it has gone.
    c.send("again", "events.subscribe", {"since": 0})
    c.send("unsub", "events.unsubscribe")
    c.send("info", "daemon.info")
    answers = {}
    while len(answers) < 4:
        msg = c.reply()
        if "id" in msg:
            answers[msg["id"]] = msg
    check(answers["sub"].get("result", {}).get("missed") is False,
          "a replay ends with its reply")
    # Requests are read as the replay drains: one sent during it is
    # refused, or, read after it ended, served.
    for rid in ("again", "unsub"):
        a = answers[rid]
        check("result" in a or (a.get("error", {}).get("code") == -32600
                                and "replay" in a["error"]["message"]),
              "%s during a replay: refused with -32600 naming the replay, or served after it"
              % rid)
    check("result" in answers["info"], "the connection lives on")
    c.close()
    stop()

    # ------------------------------------------------ forgotten while replaying
    start("max_output_bytes = 64K\nmax_message_bytes = 64K\nevent_history = 600\n")
    submit_sleeps(150, 4096)      # 450 events, all kept
    slow = rpc.Connection(sock_path, timeout=30)
    slow.send("sub", "events.subscribe", {"since": 0})
    time.sleep(1.0)
    submit_sleeps(300, 10)        # 900 more: the oldest 750 are forgotten
    events, reply = read_replay(slow)
    seqs = [e["seq"] for e in events]
    result = reply.get("result", {})
    check(result.get("missed") is True and seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
          and seqs[-1] == result.get("seq") == 1350,
          "events forgotten during a slow replay: reply says missed, the rest in order "
          "(%d events, reply %s)" % (len(seqs), result))
    slow.close()
    stop()


T.run(main)
