"""Starts `autoglm serve` on a free loopback port, runs a client command against it, then stops the server
with SIGTERM and checks that it drained and exited cleanly. {url} and {pid} in the command are replaced.

    python3 tests/server/run_against_server.py --binary build/tools/autoglm \\
        --serve-args "-m model.gguf -t 1" -- python3 bench/load/load_test.py --url {url} --server-pid {pid}
"""
import argparse
import os
import shlex
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server_harness import ServerProcess  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--serve-args", required=True, help="arguments of `autoglm serve`, one string")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no client command")
    server = ServerProcess(args.binary, shlex.split(args.serve_args)).start()
    try:
        filled = [c.replace("{url}", server.url).replace("{pid}", str(server.process.pid)) for c in command]
        rc = subprocess.call(filled)
        alive = server.process.poll() is None
        if not alive:
            print("server died during the run:\n" + server.log(), file=sys.stderr)
    finally:
        exit_code = server.stop()
    if exit_code != 0:
        print("server exited with %s:\n%s" % (exit_code, server.log()), file=sys.stderr)
    return rc if rc != 0 else (0 if alive and exit_code == 0 else 1)


if __name__ == "__main__":
    sys.exit(main())
