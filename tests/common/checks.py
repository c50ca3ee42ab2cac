"""What the Python integration tests that print TAP-like lines share
(test-events.py, test-upload.py, test-manage.py, test-metrics.py): a
temporary directory, "ok - ..." / "not ok - ..." checks, a real asyncjobd
started on a socket in it, and the end: the daemon stopped, the directory
removed unless a check failed (then kept, and named), the exit status."""

import os
import shutil
import subprocess
import sys
import tempfile
import time

import rpc


class Run:
    def __init__(self, prefix):
        self.daemon = os.environ.get("ASYNCJOBD")
        self.cli = os.environ.get("ASYNCJOB_CLI")
        if not self.daemon:
            sys.exit("ASYNCJOBD must name the asyncjobd binary")
        self.failures = 0
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        self.sock = os.path.join(self.tmp, "s.sock")
        self.log = open(os.path.join(self.tmp, "asyncjobd.log"), "ab")
        self.proc = None

    def check(self, ok, what):
        print(("ok - " if ok else "not ok - ") + what, flush=True)
        if not ok:
            self.failures += 1

    def start(self, args, conf=None):
        """asyncjobd on self.sock with `args` (and a config file of the text
        `conf`); returns once it answers."""
        cmd = [self.daemon, "-s", self.sock]
        if conf is not None:
            path = os.path.join(self.tmp, "asyncjobd.conf")
            with open(path, "w") as f:
                f.write(conf)
            cmd += ["-c", path]
        self.proc = subprocess.Popen(cmd + list(args), stdout=self.log, stderr=self.log)
        for _ in range(400):
            try:
                c = rpc.Connection(self.sock)
                c.call("daemon.info")
                c.close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    sys.exit("asyncjobd exited with status %d at start; see %s" %
                             (self.proc.returncode, self.log.name))
                time.sleep(0.025)
        sys.exit("asyncjobd did not answer")

    def stop(self):
        """SIGTERM: the daemon must exit 0 (a sanitizer's report would not)."""
        self.proc.terminate()
        self.check(self.proc.wait() == 0, "asyncjobd exits 0 on SIGTERM")
        self.proc = None

    def run(self, main):
        """Runs main(), then cleans up and exits 1 when a check failed."""
        try:
            main()
        finally:
            if self.proc and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.log.close()
            if self.failures:
                print("# kept in %s" % self.tmp)
            else:
                shutil.rmtree(self.tmp)
        sys.exit(1 if self.failures else 0)
