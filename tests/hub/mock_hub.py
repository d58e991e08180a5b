#!/usr/bin/env python3
"""A stand-in for the Hugging Face hub's HTTP API, serving a few small in-memory repos to tests/hub.

It answers the requests a downloader makes, with the headers the real hub sends:
  GET  /api/models/{repo}/revision/{rev}        {"sha": commit, "siblings": [{"rfilename": ...}, ...]}
  HEAD /{repo}/resolve/{rev}/{file}             as GET, without the body
  GET  /api/models/{repo}/tree/{rev}            the recursive file listing (newer huggingface_hub uses it)
  GET  /{repo}/resolve/{rev}/{file}             small (git) files: 200 with ETag "<git blob sha1>";
                                                LFS files (.safetensors, .gguf): 302 to the CDN path on the
                                                other loopback host name (127.0.0.1 <-> localhost) with
                                                X-Linked-Etag "<sha256>" and X-Linked-Size
  GET  /cdn/{sha256}?...                        the LFS content (the CDN does not need the token)
Every content GET honours "Range: bytes=N-" with 206. Every resolve answer carries X-Repo-Commit.
Errors carry X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo) like the hub's; an
unknown repo is a 401 without a token (the hub does not reveal private repos) and a 404 with one.

Repos: test-org/tiny-model (config, tokenizer, two safetensors shards and their index, plus files a model
download skips), test-org/tiny-gguf (two .gguf files and a split one under split/), test-org/gated-model
(files need "Authorization: Bearer hf_test_secret_token": 401 without, 403 with another token) and
test-org/old-tiny-model (renamed: relative 307 redirects to test-org/tiny-model).

Control endpoints for the tests:
  GET /_control/stats    counters: api, head, get (content GETs), range_get, cdn_auth (CDN requests that
                         carried an Authorization header), files_got (content GETs per file name)
  GET /_control/reset    zeroes the counters
  GET /_control/repos    per repo: commit and, per file, sha256, size and etag
  GET /_control/fault?file=NAME&mode=MODE[&bytes=N][&times=K]
      mode=cut           the next K (default 1) content GETs of NAME send N bytes, then drop the connection
      mode=corrupt       content GETs of NAME serve the right length with one byte flipped
      mode=ignore_range  content GETs of NAME answer 200 with the whole file even when a Range is asked
      mode=none          clears the fault of NAME

The first line on stdout is the port (bound to 127.0.0.1, port 0 unless --port). With --exit-on-stdin-eof the
server exits when its stdin closes, so a test that dies never leaves it running.
"""

import argparse
import hashlib
import json
import random
import re
import socket
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GATED_TOKEN = "hf_test_secret_token"
LFS_SUFFIXES = (".safetensors", ".gguf")


def random_bytes(seed, size):
    return random.Random(seed).randbytes(size)


def json_bytes(obj):
    return (json.dumps(obj, indent=2) + "\n").encode()


def build_repos():
    shard_names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    index = {
        "metadata": {"total_size": 3_800_000},
        "weight_map": {"model.embed_tokens.weight": shard_names[0], "model.norm.weight": shard_names[1],
                       "lm_head.weight": shard_names[1]},
    }
    tiny_model = {
        ".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n",
        "README.md": b"# tiny-model\n",
        "config.json": json_bytes({"model_type": "llama", "hidden_size": 64, "vocab_size": 256}),
        "generation_config.json": json_bytes({"bos_token_id": 1, "eos_token_id": 2}),
        "tokenizer.json": json_bytes({"version": "1.0", "model": {"type": "BPE", "vocab": {"a": 0}}}),
        "tokenizer_config.json": json_bytes({"bos_token": "<s>"}),
        "model.safetensors.index.json": json_bytes(index),
        shard_names[0]: random_bytes(1, 1_500_000),
        shard_names[1]: random_bytes(2, 2_300_000),
        # Not in the index (Mistral-style duplicate weights): a downloader following the index skips it.
        "consolidated.safetensors": random_bytes(3, 100_000),
    }
    tiny_gguf = {
        "README.md": b"# tiny-gguf\n",
        "tiny-Q4_K_M.gguf": random_bytes(4, 1_000_000),
        "tiny-Q8_0.gguf": random_bytes(5, 1_200_000),
        "split/big-Q2_K-00001-of-00002.gguf": random_bytes(6, 200_000),
        "split/big-Q2_K-00002-of-00002.gguf": random_bytes(7, 150_000),
    }
    gated = {
        "config.json": json_bytes({"model_type": "llama"}),
        "tokenizer.json": json_bytes({"version": "1.0"}),
        "model.safetensors": random_bytes(8, 600_000),
    }
    repos = {"test-org/tiny-model": {"files": tiny_model}, "test-org/tiny-gguf": {"files": tiny_gguf},
             "test-org/gated-model": {"files": gated, "gated": True}}
    for name, repo in repos.items():
        digest = hashlib.sha1(name.encode())
        meta = {}
        for fname, content in sorted(repo["files"].items()):
            sha256 = hashlib.sha256(content).hexdigest()
            lfs = fname.endswith(LFS_SUFFIXES)
            git_sha1 = hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
            meta[fname] = {"sha256": sha256, "size": len(content), "etag": sha256 if lfs else git_sha1,
                           "lfs": lfs}
            digest.update(fname.encode() + sha256.encode())
        repo["commit"] = digest.hexdigest()
        repo["meta"] = meta
    # A renamed repo: the hub answers its old name with relative redirects to the new one.
    renamed = {"test-org/old-tiny-model": "test-org/tiny-model"}
    return repos, renamed


class Hub:
    def __init__(self):
        self.repos, self.renamed = build_repos()
        self.by_sha256 = {}
        for repo in self.repos.values():
            for fname, content in repo["files"].items():
                self.by_sha256[repo["meta"][fname]["sha256"]] = (fname, content)
        self.lock = threading.Lock()
        self.faults = {}
        self.reset()

    def reset(self):
        with self.lock:
            self.stats = {"api": 0, "head": 0, "get": 0, "range_get": 0, "cdn_auth": 0, "files_got": {}}

    def count(self, key, file=None):
        with self.lock:
            self.stats[key] += 1
            if file is not None:
                self.stats["files_got"][file] = self.stats["files_got"].get(file, 0) + 1

    def take_fault(self, file):
        """The fault to apply to this content GET of `file`, consuming one use of a counted fault."""
        with self.lock:
            fault = self.faults.get(file)
            if fault is None:
                return None
            if fault["mode"] == "cut":
                fault["times"] -= 1
                if fault["times"] <= 0:
                    del self.faults[file]
            return dict(fault)


HUB = Hub()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock-hub/1.0"

    def log_message(self, format, *args):  # quiet: the test's output is the C++ side's
        pass

    def do_HEAD(self):
        self.handle_request(head=True)

    def do_GET(self):
        self.handle_request(head=False)

    # --- replies -------------------------------------------------------------------------------------------

    def reply(self, code, body=b"", headers=None, head=False, content_type="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def error(self, code, error_code, message, head, headers=None):
        h = {"X-Error-Code": error_code, "X-Error-Message": message}
        h.update(headers or {})
        self.reply(code, json_bytes({"error": message}), h, head)

    # --- routing -------------------------------------------------------------------------------------------

    def handle_request(self, head):
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if path.startswith("/_control/"):
            return self.control(path[len("/_control/"):], query)
        m = re.fullmatch(r"/api/models/([^/]+/[^/]+)/revision/(.+)", path)
        if m:
            return self.api_revision(m.group(1), m.group(2), head)
        m = re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/([^/]+)", path)
        if m:
            return self.api_tree(m.group(1), m.group(2), head)
        m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if m:
            return self.resolve(m.group(1), m.group(2), m.group(3), head)
        m = re.fullmatch(r"/cdn/([0-9a-f]{64})", path)
        if m:
            return self.cdn(m.group(1), head)
        self.error(404, "NotFound", "no route for " + path, head)

    def control(self, what, query):
        if what == "stats":
            with HUB.lock:
                return self.reply(200, json_bytes(HUB.stats))
        if what == "reset":
            HUB.reset()
            return self.reply(200, b"{}")
        if what == "repos":
            out = {name: {"commit": r["commit"], "files": r["meta"]} for name, r in HUB.repos.items()}
            return self.reply(200, json_bytes(out))
        if what == "fault":
            with HUB.lock:
                if query.get("mode", "none") == "none":
                    HUB.faults.pop(query["file"], None)
                else:
                    HUB.faults[query["file"]] = {"mode": query["mode"], "bytes": int(query.get("bytes", "0")),
                                                 "times": int(query.get("times", "1"))}
            return self.reply(200, b"{}")
        self.error(404, "NotFound", "unknown control " + what, False)

    def find_repo(self, name, rev, head):
        """The repo and its commit, or None after answering with the hub's error."""
        repo = HUB.repos.get(name)
        if repo is None:
            # Like the hub, which does not tell an anonymous caller whether a private repo exists.
            code = 404 if self.headers.get("Authorization") else 401
            self.error(code, "RepoNotFound", f"Repository Not Found for url: {self.path}. If you are trying "
                       "to access a private or gated repo, make sure you are authenticated.", head)
            return None
        if rev not in ("main", repo["commit"]):
            self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}", head)
            return None
        return repo

    def api_revision(self, name, rev, head):
        HUB.count("api")
        if name in HUB.renamed:
            new = HUB.renamed[name]
            location = f"/api/models/{new}/revision/{urllib.parse.quote(rev, safe='')}"
            return self.reply(307, b"", {"Location": location}, head)
        repo = self.find_repo(name, rev, head)
        if repo is None:
            return
        body = {"id": name, "modelId": name, "sha": repo["commit"], "private": False,
                "gated": "manual" if repo.get("gated") else False,
                "siblings": [{"rfilename": f} for f in sorted(repo["files"])]}
        self.reply(200, json_bytes(body), head=head)

    def api_tree(self, name, rev, head):
        """The recursive file listing (newer huggingface_hub lists a snapshot with it), files only."""
        HUB.count("api")
        repo = self.find_repo(name, rev, head)
        if repo is None:
            return
        entries = []
        for fname, meta in sorted(repo["meta"].items()):
            entry = {"type": "file", "path": fname, "size": meta["size"], "oid": meta["etag"]}
            if meta["lfs"]:
                entry["lfs"] = {"oid": meta["sha256"], "size": meta["size"], "pointerSize": 134}
            entries.append(entry)
        self.reply(200, json_bytes(entries), head=head)

    def resolve(self, name, rev, fname, head):
        if head:
            HUB.count("head")
        if name in HUB.renamed:
            target = f"/{HUB.renamed[name]}/resolve/{rev}/{urllib.parse.quote(fname)}"
            return self.reply(307, b"", {"Location": target}, head)
        repo = self.find_repo(name, rev, head)
        if repo is None:
            return
        commit = {"X-Repo-Commit": repo["commit"]}
        if repo.get("gated"):
            auth = self.headers.get("Authorization")
            if auth is None:
                message = (f"Access to model {name} is restricted. You must have access to it and be "
                           "authenticated to access it. Please log in.")
                return self.error(401, "GatedRepo", message, head, commit)
            if auth != "Bearer " + GATED_TOKEN:
                return self.error(403, "GatedRepo", f"Access to model {name} is restricted and you are not "
                                  "in the authorized list.", head, commit)
        meta = repo["meta"].get(fname)
        if meta is None:
            return self.error(404, "EntryNotFound", f"Entry not found for {fname}", head, commit)
        if meta["lfs"]:
            host = self.headers.get("Host", "127.0.0.1")
            port = host.rsplit(":", 1)[1]
            other = "localhost" if host.startswith("127.0.0.1") else "127.0.0.1"
            location = f"http://{other}:{port}/cdn/{meta['sha256']}?expires=9999999999&signature=abc"
            headers = dict(commit)
            headers.update({"Location": location, "ETag": '"%s"' % meta["sha256"],
                            "X-Linked-Etag": '"%s"' % meta["sha256"], "X-Linked-Size": str(meta["size"])})
            return self.reply(302, b"", headers, head)
        self.send_content(fname, repo["files"][fname], meta["etag"], head, commit)

    def cdn(self, sha256, head):
        if self.headers.get("Authorization") is not None:
            HUB.count("cdn_auth")
        entry = HUB.by_sha256.get(sha256)
        if entry is None:
            return self.error(404, "NotFound", "no such object", head)
        self.send_content(entry[0], entry[1], sha256, head, {})

    def send_content(self, fname, content, etag, head, extra):
        base = fname.rsplit("/", 1)[-1]
        fault = None if head else HUB.take_fault(base)
        if not head:
            HUB.count("get", base)
        if fault and fault["mode"] == "corrupt":
            content = bytes([content[0] ^ 0xFF]) + content[1:]
        start = 0
        rng = self.headers.get("Range")
        if rng and not head:
            HUB.count("range_get")
        if rng and not (fault and fault["mode"] == "ignore_range"):
            m = re.fullmatch(r"bytes=(\d+)-", rng.strip())
            if not m or int(m.group(1)) >= len(content):
                return self.reply(416, b"", {"Content-Range": f"bytes */{len(content)}"}, head)
            start = int(m.group(1))
        body = content[start:]
        headers = {"ETag": '"%s"' % etag, "Accept-Ranges": "bytes"}
        headers.update(extra)
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(content) - 1}/{len(content)}"
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if head:
            return
        if fault and fault["mode"] == "cut":
            self.wfile.write(body[:fault["bytes"]])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    if args.exit_on_stdin_eof:
        def watch_stdin():
            sys.stdin.buffer.read()
            server.shutdown()
        threading.Thread(target=watch_stdin, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
