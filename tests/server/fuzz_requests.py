#!/usr/bin/env python3
"""Hostile-request fuzzer for a live `autoglm serve`.

Usage:
  python3 tests/server/fuzz_requests.py --url http://127.0.0.1:PORT --seconds 30 --seed 1 \\
      [--workers 8] [--canaries 2] [--slow 3] [--max-body-mib 8] [--model NAME] [--api-key K] \\
      [--server-pid PID] [--no-chat] [--allow-accept] [--save DIR]

For --seconds, --workers tasks send randomly generated bad requests (seeded: worker W draws from
random.Random("SEED-W")) while --canaries tasks keep sending well-formed streaming requests and --slow tasks
dribble requests a byte at a time. The bad requests cover: invalid JSON (truncated, random bytes, non-objects,
NaN, comments, trailing garbage), a wrong JSON type for every request field, bad inner structure (messages,
prompt token ids, stop, stream_options, logit_bias), huge and non-finite numbers, huge strings and arrays
within the body limit, nesting 100k deep, invalid UTF-8 and hostile Unicode, bodies over the limit
(expects 413), wrong methods and paths, missing and garbage headers, broken Content-Length and chunked framing,
bodies cut off mid-way (by FIN and by RST), streams abandoned mid-way, and pipelined requests.

What must hold:
  * every response is valid HTTP/1.1 (strict status line, header and chunked/length framing; no chunked
    response to an HTTP/1.0 request), and pipelined responses come back in order;
  * no 5xx (except 501/505 where a case names them: an unknown method or transfer coding, an HTTP version the
    server does not speak);
  * every error response (status >= 400 with a body) is application/json shaped
    {"error": {"message": str, "type": str, "param": str|null, "code": str|int|null}};
  * requests that break the API contract get a 4xx (a 2xx is reported as "accepted"; --allow-accept lists
    those as warnings instead of failing);
  * any 200 to a completion request is a valid completion (streams: the load test's checks);
  * every canary completes correctly (one id, one finish_reason, a usage chunk, [DONE]);
  * at the end GET /health answers 200 and, with --server-pid, the process is still alive.

Each violation prints the case, the reason and the start of the offending request; --save DIR writes the full
request bytes there for replaying (e.g. `nc HOST PORT < DIR/violation-1.bin`). Exit status 1 on any violation.
"""

import argparse
import asyncio
import json
import os
import random
import socket
import struct
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "load"))
from load_test import (ConnectionClosed, Malformed, ProtocolError, Reader, StreamCheck, StreamFailed,  # noqa: E402
                       close_writer, first_model, open_connection, parse_url, read_response_body,
                       read_response_head, simple_request)

from fuzz_cases import CASES, Case, Expect, base_body, dumps, head, post  # noqa: E402


class Ctx:
    def __init__(self, args, model):
        self.host, self.port = parse_url(args.url)
        self.hostport = f"{self.host}:{self.port}"
        self.model = model
        self.api_key = args.api_key
        self.max_body = int(args.max_body_mib * 1024 * 1024)
        self.allow_accept = args.allow_accept
        self.chat = not args.no_chat
        self.save = args.save
        self.violations = []
        self.warnings = []
        self.cases = {}
        self.canaries = 0
        self.canary_max_s = 0.0
        self.slow_done = 0


# ---------------------------------------------------------------------------------------------------------
# Checking responses


def error_body_problem(resp, body):
    ctype = (resp.header("content-type") or "").lower()
    if not ctype.startswith("application/json"):
        return f"error response with Content-Type {ctype!r}, expected application/json"
    try:
        obj = json.loads(body.decode("utf-8"))
    except ValueError:
        return f"error body is not UTF-8 JSON: {body[:200]!r}"
    err = obj.get("error") if isinstance(obj, dict) else None
    if not isinstance(err, dict):
        return f"error body without an 'error' object: {body[:200]!r}"
    if not isinstance(err.get("message"), str) or not err["message"] or not isinstance(err.get("type"), str):
        return f"error without a message and type string: {body[:200]!r}"
    for key in ("param", "code"):
        if key not in err:
            return f"error without '{key}' (null when it does not apply): {body[:200]!r}"
    if err["param"] is not None and not isinstance(err["param"], str):
        return f"error param neither string nor null: {body[:200]!r}"
    if err["code"] is not None and not isinstance(err["code"], (str, int)):
        return f"error code neither string, integer nor null: {body[:200]!r}"
    return None


def completion_problem(body, chat, req):
    """A non-streaming completion response."""
    try:
        obj = json.loads(body.decode("utf-8"))
    except ValueError:
        return f"completion body is not UTF-8 JSON: {body[:200]!r}"
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        return f"completion without an id: {body[:200]!r}"
    want = "chat.completion" if chat else "text_completion"
    if obj.get("object") != want:
        return f"object {obj.get('object')!r}, expected {want!r}"
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices:
        return f"completion without choices: {body[:200]!r}"
    for c in choices:
        if not isinstance(c, dict) or c.get("finish_reason") not in ("stop", "length"):
            return f"choice without a finish_reason of stop or length: {str(c)[:200]}"
        content = c.get("message", {}).get("content") if chat and isinstance(c.get("message"), dict) else c.get("text")
        if chat and not isinstance(c.get("message"), dict):
            return f"chat choice without a message: {str(c)[:200]}"
        if content is not None and not isinstance(content, str):
            return f"choice content is not a string: {str(c)[:200]}"
    usage = obj.get("usage")
    if not isinstance(usage, dict) or not all(isinstance(usage.get(k), int) for k in (
            "prompt_tokens", "completion_tokens", "total_tokens")):
        return f"completion without integer usage: {body[:200]!r}"
    mt = req.get("max_tokens") if isinstance(req, dict) else None
    # Usage counts every choice: n of them, or one per prompt of a batch.
    if isinstance(mt, int) and not isinstance(mt, bool) and usage["completion_tokens"] > mt * len(choices):
        return f"completion_tokens {usage['completion_tokens']} over max_tokens {mt} x {len(choices)} choices"
    return None


def stream_check_for(req, chat):
    if not isinstance(req, dict):
        return StreamCheck(chat, None, want_usage=None, light=True)
    mt = req.get("max_tokens", req.get("max_completion_tokens"))
    mt = mt if isinstance(mt, int) and not isinstance(mt, bool) else None
    so = req.get("stream_options")
    want_usage = None
    if "stream_options" not in req or so is None:
        want_usage = False
    elif isinstance(so, dict) and so.get("include_usage") in (True, False):
        want_usage = so["include_usage"]
    simple = req.get("n") in (None, 1) and req.get("best_of") in (None, 1) and not req.get("echo") and isinstance(
        req.get("prompt", ""), str)
    return StreamCheck(chat, mt, want_usage=want_usage, light=not simple)


async def check_one(reader, case, exp, problems):
    """Reads and checks one response; returns it (None if the case ends here)."""
    resp = await read_response_head(reader)
    status = resp.status
    if case.http10 and resp.header("transfer-encoding"):
        problems.append(("fatal", f"chunked response ({status}) to an HTTP/1.0 request"))
    if status >= 500 and not (exp.statuses and status in exp.statuses and status in (501, 505)):
        problems.append(("fatal", f"status {status}"))
    elif exp.statuses and status not in exp.statuses:
        kind = "accepted" if 200 <= status < 300 and exp.kind == "error" else "fatal"
        problems.append((kind, f"status {status}, expected one of {sorted(exp.statuses)}"))
    elif exp.kind == "error" and status < 400:
        problems.append(("accepted", f"status {status} for a request that should be rejected with a 4xx"))
    elif exp.kind == "ok" and status != 200:
        problems.append(("fatal", f"status {status} for a valid request"))

    path = getattr(exp, "path", None) or case.path
    req = getattr(exp, "body", None) if hasattr(exp, "body") else case.body
    chat = path == "/v1/chat/completions"
    ctype = (resp.header("content-type") or "").lower()
    streaming = status == 200 and ctype.startswith("text/event-stream")
    completion = status == 200 and path in ("/v1/completions", "/v1/chat/completions") and exp.method == "POST"
    if case.abandon:
        if not streaming:
            problems.append(("fatal", f"status {status} {ctype!r} to a valid streaming request"))
        if not reader.buf:
            await reader.fill()  # the first bytes of the stream, then go away
        return None
    if streaming:
        check = stream_check_for(req, chat)
        perf = time.perf_counter
        try:
            await read_response_body(reader, resp, exp.method, lambda d: check.feed(d, perf()))
            check.finish()
        except (Malformed, StreamFailed) as e:
            problems.append(("fatal", f"bad stream: {e}"))
            return None
        except ConnectionClosed as e:
            problems.append(("fatal", f"stream cut: {e}"))
            return None
        if isinstance(req, dict) and req.get("stream") is not True:
            problems.append(("fatal", "streamed a response that was not asked to stream"))
        return resp
    parts = []
    await read_response_body(reader, resp, exp.method, parts.append)
    body = b"".join(parts)
    if status >= 400 and exp.method != "HEAD":
        p = error_body_problem(resp, body)
        if p:
            problems.append(("fatal", p))
    elif completion:
        if isinstance(req, dict) and req.get("stream") is True:
            problems.append(("fatal", f"a non-stream response ({ctype!r}) to a streaming request"))
        else:
            p = completion_problem(body, chat, req)
            if p:
                problems.append(("fatal", p))
    return resp


class SocketStream:
    """Reads a raw socket for Reader. The cases send and receive on the bare socket, not through an asyncio
    transport, because a transport that fails to write (the server refused a body and stopped reading) drops
    what it had received, such as the server's 413."""

    def __init__(self, sock):
        self.sock = sock

    async def read(self, n):
        return await asyncio.get_running_loop().sock_recv(self.sock, n)


async def open_socket(ctx):
    loop = asyncio.get_running_loop()
    family, kind, proto, _, addr = (await loop.getaddrinfo(ctx.host, ctx.port, type=socket.SOCK_STREAM))[0]
    sock = socket.socket(family, kind, proto)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, addr)
    except BaseException:
        sock.close()
        raise
    return sock


async def send_data(sock, case):
    loop = asyncio.get_running_loop()
    for c in [case.data] if isinstance(case.data, bytes) else case.data:
        await loop.sock_sendall(sock, c)


def abort(sock, rst):
    if rst:  # a zero linger time makes close() send a reset
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    sock.close()


async def run_case(ctx, case):
    problems = []
    try:
        sock = await asyncio.wait_for(open_socket(ctx), 30)
    except (OSError, asyncio.TimeoutError) as e:
        return [("fatal", f"cannot connect: {e}")]
    reader = Reader(SocketStream(sock))
    sender = asyncio.create_task(send_data(sock, case))
    try:
        if case.cut:
            try:
                await asyncio.wait_for(sender, 30)
            except (OSError, asyncio.TimeoutError):
                pass
            return problems
        closes = False
        for i, exp in enumerate(case.expects):
            label = f"response {i + 1}/{len(case.expects)}: " if len(case.expects) > 1 else ""
            mine = []
            resp = None
            try:
                resp = await asyncio.wait_for(check_one(reader, case, exp, mine), case.timeout)
            except asyncio.TimeoutError:
                if not exp.may_hang:
                    mine.append(("fatal", f"no complete response within {case.timeout} s"))
            except ProtocolError as e:
                mine.append(("fatal", f"invalid HTTP: {e}"))
            except (ConnectionClosed, ConnectionError, OSError) as e:
                if not (exp.may_close or closes):
                    hint = ""
                    if exp.statuses and 413 in exp.statuses:
                        hint = (" - a server refusing a body it has not read must keep reading (or shut down its"
                                " write side and drain) before closing, or the reset destroys its 413")
                    mine.append(("fatal", f"connection closed without a response ({e}){hint}"))
            problems.extend((severity, label + message) for severity, message in mine)
            if resp is None:
                break
            # After a response the server said it closes after, the rest of a pipeline goes unanswered.
            closes = resp.closes() or reader.eof
            if closes:
                break
    finally:
        sender.cancel()
        try:
            await sender
        except BaseException:
            pass
        abort(sock, case.rst)
    return problems


# ---------------------------------------------------------------------------------------------------------
# Drivers


def record(ctx, case, problems, where):
    stats = ctx.cases.setdefault(case.name[:60], [0, 0])
    stats[0] += 1
    for severity, message in problems:
        stats[1] += 1
        entry = {"case": case.name, "where": where, "problem": message, "request": case.raw()}
        if severity == "accepted" and ctx.allow_accept:
            ctx.warnings.append(entry)
        else:
            ctx.violations.append(entry)
            if ctx.save:
                os.makedirs(ctx.save, exist_ok=True)
                with open(os.path.join(ctx.save, f"violation-{len(ctx.violations)}.bin"), "wb") as f:
                    f.write(entry["request"])


async def fuzz_worker(ctx, wid, seed, deadline):
    rng = random.Random(f"{seed}-{wid}")
    gens, weights = zip(*CASES)
    i = 0
    while time.monotonic() < deadline:
        gen = rng.choices(gens, weights)[0]
        case = gen(ctx, rng)
        record(ctx, case, await run_case(ctx, case), f"worker {wid} case {i}")
        i += 1


async def canary(ctx, cid, deadline):
    """Well-formed streaming requests, checked as strictly as the load test checks them."""
    conn = None
    n = 0
    while time.monotonic() < deadline:
        chat = n % 2 == 1 and ctx.chat
        max_tokens = 1 + (n * 7 + cid) % 16
        body = {"model": ctx.model, "max_tokens": max_tokens, "temperature": 0, "stream": True,
                "stream_options": {"include_usage": True}, "user": f"canary-{cid}-{n}"}
        prompt = f"Canary {cid} number {n} says"
        if chat:
            body["messages"] = [{"role": "user", "content": prompt}]
        else:
            body["prompt"] = prompt
        path = "/v1/chat/completions" if chat else "/v1/completions"
        case = Case(f"canary {'chat' if chat else 'completions'}", post(ctx, path, dumps(body)), [], body=body,
                    path=path)
        check = StreamCheck(chat, max_tokens)
        problems = []
        try:
            if conn is None:
                conn = await asyncio.wait_for(open_connection(ctx.host, ctx.port), 30)
            reader, writer = conn
            t0 = time.perf_counter()
            writer.write(case.raw())
            resp = await asyncio.wait_for(read_response_head(reader), 120)
            if resp.status != 200:
                parts = []
                await asyncio.wait_for(read_response_body(reader, resp, "POST", parts.append), 60)
                raise StreamFailed(f"status {resp.status}: {b''.join(parts)[:300]!r}")
            await asyncio.wait_for(read_response_body(reader, resp, "POST", lambda d: check.feed(d, 0.0)), 120)
            check.finish()
            if resp.closes() or reader.eof:
                close_writer(writer)
                conn = None
            elapsed = time.perf_counter() - t0
            ctx.canary_max_s = max(ctx.canary_max_s, elapsed)
            ctx.canaries += 1
        except Exception as e:  # every failure of a valid request is a violation
            problems.append(("fatal", f"canary failed: {type(e).__name__}: {e}"))
            if conn is not None:
                close_writer(conn[1])
                conn = None
            await asyncio.sleep(0.5)
        record(ctx, case, problems, f"canary {cid} request {n}")
        n += 1
    if conn is not None:
        close_writer(conn[1])


async def slow_sender(ctx, sid, deadline, seed):
    """Slowloris: a request dribbled out a few bytes at a time. The server may time the connection out (408 or
    close); if it answers the finished request, the answer must be valid."""
    rng = random.Random(f"{seed}-slow-{sid}")
    while time.monotonic() < deadline - 5:
        body_mode = rng.random() < 0.5
        if body_mode:
            body = base_body(ctx, rng, False)
            body["stream"] = False
            data = post(ctx, "/v1/completions", dumps(body))
            exp = Expect("any", may_close=True)
            case = Case("slow body", data, [exp], body=body, path="/v1/completions")
        else:
            data = head(ctx, "GET", "/health")
            exp = Expect("any", method="GET", may_close=True)
            case = Case("slow head", data, [exp], path="/health")
        problems = []
        try:
            reader, writer = await asyncio.wait_for(open_connection(ctx.host, ctx.port), 30)
        except (OSError, asyncio.TimeoutError) as e:
            record(ctx, case, [("fatal", f"cannot connect: {e}")], f"slow {sid}")
            await asyncio.sleep(1)
            continue
        try:
            step = rng.randint(1, 3)
            for i in range(0, len(data), step):
                if time.monotonic() > deadline:
                    break
                writer.write(data[i : i + step])
                await writer.drain()
                await asyncio.sleep(0.3)
            else:
                await asyncio.wait_for(check_one(reader, case, exp, problems), 60)
        except ProtocolError as e:
            problems.append(("fatal", f"invalid HTTP: {e}"))
        except (ConnectionError, ConnectionClosed, OSError):
            pass  # timed out by the server: allowed
        except asyncio.TimeoutError:
            problems.append(("fatal", "no response within 60 s to a completed slow request"))
        finally:
            close_writer(writer)
        record(ctx, case, problems, f"slow {sid}")
        ctx.slow_done += 1


def server_alive(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return not any(line.startswith("State:") and "Z" in line.split()[1] for line in f)
    except OSError:
        return False


async def main_async(args):
    host, port = parse_url(args.url)
    try:
        model = args.model or await first_model(host, port, args.api_key)
    except Exception as e:
        print(f"cannot reach the server at {args.url}: {e}")
        return 2
    ctx = Ctx(args, model)
    deadline = time.monotonic() + args.seconds
    tasks = [fuzz_worker(ctx, w, args.seed, deadline) for w in range(args.workers)]
    tasks += [canary(ctx, c, deadline) for c in range(args.canaries)]
    tasks += [slow_sender(ctx, s, deadline, args.seed) for s in range(args.slow)]
    await asyncio.gather(*tasks)

    # The server must have survived everything and still answer.
    end = []
    try:
        resp, body = await simple_request(host, port, "GET", "/health", api_key=args.api_key, timeout=30)
        if resp.status != 200:
            end.append(f"GET /health: status {resp.status} {body[:200]!r}")
    except Exception as e:
        end.append(f"GET /health failed: {type(e).__name__}: {e}")
    if args.server_pid and not server_alive(args.server_pid):
        end.append(f"server process {args.server_pid} is gone")
    last = Case("final canary", b"", [])
    before = len(ctx.violations)
    await canary(ctx, 999, time.monotonic() + 0.001)
    if len(ctx.violations) > before:
        end.append("the final canary failed")
    for e in end:
        ctx.violations.append({"case": "end", "where": "after the run", "problem": e, "request": last.raw()})

    total = sum(v[0] for v in ctx.cases.values())
    print(f"{total} requests ({ctx.canaries} canaries ok, max {ctx.canary_max_s:.2f} s; "
          f"{ctx.slow_done} slow senders) over {args.seconds} s, seed {args.seed}, model {model!r}")
    for name, (runs, bad) in sorted(ctx.cases.items(), key=lambda kv: -kv[1][1]):
        if bad:
            print(f"  {bad:5d} problems in {runs:5d} x {name}")
    for label, entries in (("WARNING (accepted)", ctx.warnings), ("VIOLATION", ctx.violations)):
        for e in entries[: args.show]:
            req = e["request"]
            shown = req[:300] + (b"... (%d bytes)" % len(req) if len(req) > 300 else b"")
            print(f"{label} [{e['case']}] ({e['where']}): {e['problem']}\n    request: {shown!r}")
        if len(entries) > args.show:
            print(f"  ... and {len(entries) - args.show} more")
    print("FAIL" if ctx.violations else "PASS", f"({len(ctx.violations)} violations, {len(ctx.warnings)} warnings)")
    return 1 if ctx.violations else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:8080")
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workers", type=int, default=8, help="concurrent hostile senders")
    p.add_argument("--canaries", type=int, default=2, help="concurrent well-formed streaming senders")
    p.add_argument("--slow", type=int, default=3, help="concurrent slowloris senders")
    p.add_argument("--max-body-mib", type=float, default=8, help="the server's request body limit")
    p.add_argument("--model", help="model name (default: the first one GET /v1/models lists)")
    p.add_argument("--api-key")
    p.add_argument("--server-pid", type=int, help="also check that this local process is alive at the end")
    p.add_argument("--no-chat", action="store_true",
                   help="the server has no chat template: well-formed requests use /v1/completions only")
    p.add_argument("--allow-accept", action="store_true",
                   help="report 2xx answers to invalid requests as warnings instead of failing")
    p.add_argument("--show", type=int, default=30, help="violations printed in full")
    p.add_argument("--save", help="directory to write each offending request to")
    args = p.parse_args()
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
