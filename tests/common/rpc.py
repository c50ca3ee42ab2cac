"""JSON-RPC 2.0 over asyncjobd's Unix socket, one message per line: what
the Python integration tests share (test-crash.py, test-powerloss.py)."""

import json
import socket


class Connection:
    """One connection to the daemon, replies read line by line."""

    def __init__(self, path, timeout=None):
        self.sock = socket.socket(socket.AF_UNIX)
        if timeout is not None:
            # A daemon that stops answering fails the test, not hangs it.
            self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.file = self.sock.makefile("rb")

    def close(self):
        self.file.close()
        self.sock.close()

    def send(self, rid, method, params=None):
        msg = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        self.sock.sendall((json.dumps(msg) + "\n").encode())

    def reply(self):
        """The next message; ConnectionError when the daemon hung up."""
        line = self.file.readline()
        if not line:
            raise ConnectionError("the daemon closed the connection")
        return json.loads(line)

    def call(self, method, params=None, rid=1):
        self.send(rid, method, params)
        return self.reply()

    def pipeline(self, depth, next_request, stop=None):
        """Keeps up to `depth` requests in flight, as a pipelined client
        does (a daemon stops reading a client that does not read its
        replies). next_request() gives (method, params, context), or None
        when there are no more. Yields (context, reply) as replies come, in
        whatever order, until every request is answered or `stop` (an
        Event) is set. ConnectionError when the daemon hangs up."""
        inflight = {}
        rid = 0
        more = True
        while not (stop is not None and stop.is_set()):
            while more and len(inflight) < depth:
                request = next_request()
                if request is None:
                    more = False
                    break
                method, params, context = request
                rid += 1
                inflight[rid] = context
                self.send(rid, method, params)
            if not inflight:
                return
            reply = self.reply()
            yield inflight.pop(reply["id"]), reply
