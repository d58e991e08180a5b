"""Starts `autoglm serve` on a free loopback port for tests and benchmarks, and stops it.

    with ServerProcess(binary, ["-m", model, ...]) as server:
        server.url  # http://127.0.0.1:PORT
"""
import os
import signal
import subprocess
import tempfile
import time
import urllib.request


class ServerProcess:
    def __init__(self, binary, args, ready_timeout=60.0, env=None):
        self.binary = binary
        self.args = list(args)
        self.ready_timeout = ready_timeout
        self.env = env
        self.process = None
        self.url = None
        self.port = None
        self._dir = tempfile.TemporaryDirectory(prefix="autoglm_server_")
        self.log_path = os.path.join(self._dir.name, "server.log")

    def start(self):
        port_file = os.path.join(self._dir.name, "port")
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [self.binary, "serve", "--port", "0", "--port-file", port_file] + self.args,
            stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("server exited with %d:\n%s" % (self.process.returncode, self.log()))
            if os.path.exists(port_file) and os.path.getsize(port_file) > 0:
                self.port = int(open(port_file).read().strip())
                self.url = "http://127.0.0.1:%d" % self.port
                if self._ready():
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("server not ready after %.0f s:\n%s" % (self.ready_timeout, self.log()))

    def _ready(self):
        try:
            with urllib.request.urlopen(self.url + "/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def log(self):
        try:
            return open(self.log_path, errors="replace").read()[-4000:]
        except OSError:
            return ""

    def terminate(self):
        """SIGTERM: the server drains and exits."""
        self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout=30):
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        self._dir.cleanup()
