#!/usr/bin/env python3
"""Load test for the OpenAI-compatible streaming endpoints of `autoglm serve`.

Usage:
  python3 bench/load/load_test.py --url http://127.0.0.1:8080 --concurrency 500 --requests 5000 \\
      --max-tokens 16 [--endpoint completions|chat] [--model NAME] [--api-key K] [--server-pid PID] \\
      [--metrics] [--timeout 300] [--strict-chunks] [--json out.json]

Each of --concurrency workers sends streaming requests one after another over its own keep-alive HTTP/1.1
connection (reconnecting after an error or a `Connection: close`) until --requests have been sent. Request N
asks for --max-tokens tokens at temperature 0 for the distinct prompt "Once upon a time number N", with
stream_options.include_usage, as user "load-N". The model is the first one GET /v1/models lists unless
--model names one.

Every response is checked as it streams in:
  * status 200 with Content-Type text/event-stream; chunked or Content-Length framing decoded strictly;
  * every `data:` event is a JSON object with the same "id", "created" and "model" throughout the response,
    "object" "text_completion" (chat: "chat.completion.chunk"), and one choice with index 0 and a
    "finish_reason" key (chat: the first choice chunk carries delta.role "assistant");
  * exactly one choice chunk has a non-null finish_reason ("stop" or "length"), and it is the last choice chunk;
  * a final usage chunk (empty "choices") follows it with 1 <= completion_tokens <= max_tokens,
    total_tokens = prompt_tokens + completion_tokens, completion_tokens == max_tokens when finish_reason is
    "length", and no more content chunks than completion tokens (--strict-chunks: exactly as many);
  * the stream ends with `data: [DONE]` and nothing after it;
  * no two responses share an id.

A request is counted as lost (connection error, timeout, stream cut before [DONE]), failed (a non-200 status
or an error event), duplicated (an id seen before) or malformed (any other check). The exit status is 0 only
when all four counts are zero.

Timings are taken on the client: TTFT from the request being written to the first chunk with content,
inter-token latency (ITL) between consecutive content chunks, end-to-end from the request being written to
[DONE]. Chunks that arrive in one socket read share a timestamp.

--server-pid PID samples the server's VmRSS from /proc/PID/status every second (the server must run on this
machine) and reports the first, maximum and last samples and the growth over the second half of the run, where
a leak shows once allocations from warm-up have settled.

--metrics reads GET /metrics before and after the run and prints the server's own mean TTFT and ITL
(autoglm:time_to_first_token_seconds, autoglm:inter_token_latency_seconds) over the run next to the client's,
so the share of the HTTP layer and the network is visible.

Only the standard library is used: one asyncio loop, sockets through asyncio.open_connection, chunked
decoding and SSE parsing on whole buffers (bytes.find / bytes.split), never byte by byte.
"""

import argparse
import asyncio
import json
import re
import sys
import time
import urllib.parse

HEAD_LIMIT = 64 * 1024
READ_SIZE = 256 * 1024
FINISH_REASONS = ("stop", "length")

_STATUS_RE = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?: [\t\x20-\x7e\x80-\xff]*)?")
_HEADER_NAME_RE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEX_RE = re.compile(rb"[0-9A-Fa-f]{1,16}")


class ProtocolError(Exception):
    """The peer broke HTTP/1.1 framing."""


class ConnectionClosed(Exception):
    """The connection ended where a response (or the rest of one) was due."""


class Malformed(Exception):
    """A response that is well-framed HTTP but breaks the API's contract."""


class StreamFailed(Exception):
    """The server answered with an error (a non-200 status or an error event)."""


class Duplicate(Exception):
    """A response reused the id of another."""


def parse_url(url):
    u = urllib.parse.urlsplit(url)
    if u.scheme != "http":
        raise SystemExit(f"only http:// URLs are supported, not {url!r}")
    return u.hostname or "127.0.0.1", u.port or 80


class Reader:
    """A receive buffer over an asyncio stream. Responses are cut out of `buf` so that bytes belonging to the
    next (pipelined) response stay in place for the next read_response."""

    __slots__ = ("stream", "buf", "eof")

    def __init__(self, stream):
        self.stream = stream
        self.buf = bytearray()
        self.eof = False

    async def fill(self):
        if self.eof:
            return False
        data = await self.stream.read(READ_SIZE)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True


class Response:
    __slots__ = ("version", "status", "reason", "headers", "raw_head")

    def header(self, name):
        values = self.headers.get(name)
        return ", ".join(values) if values else None

    def closes(self):
        """Whether the server ends the connection after this response."""
        tokens = [t.strip().lower() for t in (self.header("connection") or "").split(",")]
        if self.version == "1.0":
            return "keep-alive" not in tokens
        return "close" in tokens


def parse_head(raw):
    lines = raw[:-4].split(b"\r\n")
    m = _STATUS_RE.fullmatch(lines[0])
    if not m:
        raise ProtocolError(f"bad status line {lines[0][:100]!r}")
    r = Response()
    r.version = "1." + m.group(1).decode()
    r.status = int(m.group(2))
    r.reason = lines[0][13:].decode("latin-1")
    r.raw_head = raw
    r.headers = {}
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):
            raise ProtocolError(f"obsolete line folding in response header {line[:100]!r}")
        name, sep, value = line.partition(b":")
        if not sep or not _HEADER_NAME_RE.fullmatch(name):
            raise ProtocolError(f"bad response header line {line[:100]!r}")
        if b"\n" in value or b"\r" in value or b"\0" in value:
            raise ProtocolError(f"control character in response header {line[:100]!r}")
        r.headers.setdefault(name.decode().lower(), []).append(value.strip(b" \t").decode("latin-1"))
    return r


async def read_response_head(reader):
    """The next final response's head; informational (1xx) responses are skipped."""
    while True:
        start = 0
        while True:
            i = reader.buf.find(b"\r\n\r\n", max(0, start - 3))
            if i >= 0:
                break
            if len(reader.buf) > HEAD_LIMIT:
                raise ProtocolError("response head over 64 KiB")
            start = len(reader.buf)
            if not await reader.fill():
                if reader.buf:
                    raise ProtocolError(f"connection closed inside the response head: {bytes(reader.buf[:200])!r}")
                raise ConnectionClosed("connection closed before the response")
        raw = bytes(reader.buf[: i + 4])
        del reader.buf[: i + 4]
        resp = parse_head(raw)
        if resp.status >= 200:
            return resp
        if resp.status == 101:
            raise ProtocolError("unrequested protocol switch (101)")


def body_framing(resp, method):
    """('none'|'chunked'|'length'|'close', content length)."""
    if method == "HEAD" or resp.status in (204, 304):
        return "none", 0
    te = resp.header("transfer-encoding")
    cl = resp.headers.get("content-length")
    if te is not None:
        if cl is not None:
            raise ProtocolError("response has both Transfer-Encoding and Content-Length")
        if te.strip().lower() != "chunked":
            raise ProtocolError(f"unexpected response Transfer-Encoding {te!r}")
        return "chunked", 0
    if cl is not None:
        values = {v.strip() for v in ",".join(cl).split(",")}
        if len(values) != 1 or not next(iter(values)).isdigit():
            raise ProtocolError(f"bad response Content-Length {cl!r}")
        return "length", int(next(iter(values)))
    return "close", 0  # the body runs to the end of the connection


async def read_response_body(reader, resp, method, on_data):
    """Feeds the body to on_data(bytes) once per socket read, decoding chunked encoding; leaves whatever
    follows the body in reader.buf."""
    kind, length = body_framing(resp, method)
    buf = reader.buf
    if kind == "none":
        return
    if kind == "length":
        while True:
            if len(buf) >= length:
                if length:
                    on_data(bytes(buf[:length]))
                del buf[:length]
                return
            if buf:
                on_data(bytes(buf))
                length -= len(buf)
                buf.clear()
            if not await reader.fill():
                raise ConnectionClosed(f"connection closed with {length} body bytes still due")
    if kind == "close":
        while True:
            if buf:
                on_data(bytes(buf))
                buf.clear()
            if not await reader.fill():
                return
    # Chunked: decode every complete piece in the buffer, then read more.
    state = 0  # 0 size line, 1 data, 2 CRLF after data, 3 trailer lines
    remaining = 0
    while True:
        pos = 0
        pieces = []
        end = len(buf)
        while True:
            if state == 1:
                take = min(remaining, end - pos)
                if take == 0:
                    break
                pieces.append(buf[pos : pos + take])
                pos += take
                remaining -= take
                if remaining == 0:
                    state = 2
            elif state == 0:
                i = buf.find(b"\r\n", pos)
                if i < 0:
                    if end - pos > 1024:
                        raise ProtocolError("chunk size line over 1 KiB")
                    break
                size = buf[pos:i].split(b";", 1)[0].rstrip(b" \t")
                if not _HEX_RE.fullmatch(size):
                    raise ProtocolError(f"bad chunk size line {bytes(buf[pos:i][:100])!r}")
                pos = i + 2
                remaining = int(size, 16)
                state = 1 if remaining else 3
            elif state == 2:
                if end - pos < 2:
                    break
                if buf[pos : pos + 2] != b"\r\n":
                    raise ProtocolError(f"chunk data not followed by CRLF: {bytes(buf[pos:pos + 20])!r}")
                pos += 2
                state = 0
            else:
                i = buf.find(b"\r\n", pos)
                if i < 0:
                    if end - pos > HEAD_LIMIT:
                        raise ProtocolError("trailer section over 64 KiB")
                    break
                line_empty = i == pos
                pos = i + 2
                if line_empty:
                    state = 4
                    break
        if pieces:
            on_data(b"".join(pieces))
        del buf[:pos]
        if state == 4:
            return
        if not await reader.fill():
            raise ConnectionClosed("connection closed inside a chunked body")


class SSEParser:
    """Splits a text/event-stream body into the data of its events. Comments (keep-alives) and the fields
    event/id/retry are accepted and ignored."""

    __slots__ = ("partial", "data_lines")

    def __init__(self):
        self.partial = b""
        self.data_lines = []

    def feed(self, data):
        if self.partial:
            data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        events = []
        for line in lines:
            if line[-1:] == b"\r":
                line = line[:-1]
            if not line:
                if self.data_lines:
                    events.append(self.data_lines[0] if len(self.data_lines) == 1 else b"\n".join(self.data_lines))
                    self.data_lines = []
            elif line[:5] == b"data:":
                self.data_lines.append(line[6:] if line[5:6] == b" " else line[5:])
            elif line[:1] != b":" and line.partition(b":")[0] not in (b"event", b"id", b"retry"):
                raise Malformed(f"unexpected SSE line {line[:100]!r}")
        return events

    def at_boundary(self):
        return not self.partial and not self.data_lines


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


class StreamCheck:
    """Checks one streaming response event by event and keeps its timings."""

    __slots__ = ("chat", "max_tokens", "strict_chunks", "want_usage", "light", "sse", "id", "created", "model",
                 "finish_reason", "usage", "done", "n_choice_chunks", "content_times", "text", "events")

    def __init__(self, chat, max_tokens=None, strict_chunks=False, want_usage=True, light=False):
        """max_tokens None: not known (no bounds checked). want_usage True: a usage chunk is required, False: it
        must be absent, None: either. light: only JSON events with one id ending in [DONE] (for requests with
        several choices, whose chunks interleave)."""
        self.chat = chat
        self.max_tokens = max_tokens
        self.strict_chunks = strict_chunks
        self.want_usage = want_usage
        self.light = light
        self.sse = SSEParser()
        self.id = None
        self.created = None
        self.model = None
        self.finish_reason = None
        self.usage = None
        self.done = False
        self.n_choice_chunks = 0
        self.content_times = []
        self.text = []
        self.events = 0

    def feed(self, data, t):
        for event in self.sse.feed(data):
            self.on_event(event, t)

    def on_event(self, data, t):
        self.events += 1
        if self.done:
            raise Malformed(f"event after [DONE]: {data[:200]!r}")
        if data == b"[DONE]":
            self.done = True
            return
        try:
            chunk = json.loads(data.decode("utf-8"))  # strict: no encoded surrogates either
        except ValueError as e:  # includes invalid UTF-8
            raise Malformed(f"event is not JSON ({e}): {data[:200]!r}") from None
        if not isinstance(chunk, dict):
            raise Malformed(f"event is not a JSON object: {data[:200]!r}")
        if "error" in chunk:
            raise StreamFailed(f"error event: {data[:300]!r}")
        cid = chunk.get("id")
        if not isinstance(cid, str) or not cid:
            raise Malformed(f"chunk without a string id: {data[:200]!r}")
        created, model = chunk.get("created"), chunk.get("model")
        if not _is_int(created) or not isinstance(model, str) or not model:
            raise Malformed(f"chunk without integer created and string model: {data[:200]!r}")
        if self.id is None:
            self.id, self.created, self.model = cid, created, model
        elif (cid, created, model) != (self.id, self.created, self.model):
            raise Malformed(f"id/created/model changed within one response: {(self.id, self.created, self.model)}"
                            f" then {(cid, created, model)}")
        if self.light:
            return
        expected_object = "chat.completion.chunk" if self.chat else "text_completion"
        if chunk.get("object") != expected_object:
            raise Malformed(f"object {chunk.get('object')!r}, expected {expected_object!r}")
        choices = chunk.get("choices")
        usage = chunk.get("usage")
        if not isinstance(choices, list) or (usage is not None and not isinstance(usage, dict)):
            raise Malformed(f"choices not a list or usage neither null nor an object: {data[:200]!r}")
        if self.usage is not None:
            raise Malformed(f"chunk after the usage chunk: {data[:200]!r}")
        if not choices:
            if usage is None:
                raise Malformed(f"chunk with no choices and no usage: {data[:200]!r}")
            if self.finish_reason is None:
                raise Malformed("usage chunk before the chunk with finish_reason")
            self.usage = usage
            return
        if usage is not None:
            raise Malformed(f"usage on a choice chunk (it belongs in a final chunk with no choices): {data[:200]!r}")
        if self.finish_reason is not None:
            raise Malformed(f"choice chunk after finish_reason {self.finish_reason!r}: {data[:200]!r}")
        if len(choices) != 1 or not isinstance(choices[0], dict):
            raise Malformed(f"expected exactly one choice object: {data[:200]!r}")
        choice = choices[0]
        if not _is_int(choice.get("index")) or choice["index"] != 0 or "finish_reason" not in choice:
            raise Malformed(f"choice without index 0 or without a finish_reason key: {data[:200]!r}")
        finish = choice["finish_reason"]
        if finish is not None and finish not in FINISH_REASONS:
            raise Malformed(f"finish_reason {finish!r} is not one of {FINISH_REASONS}")
        if self.chat:
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                raise Malformed(f"chat chunk without a delta object: {data[:200]!r}")
            role = delta.get("role")
            if self.n_choice_chunks == 0 and role != "assistant":
                raise Malformed(f"first chat chunk without delta.role 'assistant': {data[:200]!r}")
            if role is not None and role != "assistant":
                raise Malformed(f"delta.role {role!r}")
            content = delta.get("content")
        else:
            content = choice.get("text")
            if content is None:
                raise Malformed(f"completion chunk without text: {data[:200]!r}")
        if content is not None and not isinstance(content, str):
            raise Malformed(f"content is not a string: {data[:200]!r}")
        self.n_choice_chunks += 1
        if content:
            self.content_times.append(t)
            self.text.append(content)
        if finish is not None:
            self.finish_reason = finish

    def finish(self):
        """Checks the whole stream once the body has ended; returns completion_tokens (None when unknown)."""
        if not self.sse.at_boundary():
            raise Malformed("body ended inside an SSE event")
        if not self.done:
            raise ConnectionClosed("stream ended without data: [DONE]")
        if self.light:
            return None
        if self.finish_reason is None:
            raise Malformed("no chunk carried a finish_reason")
        if self.usage is None:
            if self.want_usage:
                raise Malformed("no usage chunk (stream_options.include_usage was set)")
            return None
        if self.want_usage is False:
            raise Malformed("usage chunk although stream_options.include_usage was not set")
        u = self.usage
        pt, ct, tt = u.get("prompt_tokens"), u.get("completion_tokens"), u.get("total_tokens")
        if not (_is_int(pt) and _is_int(ct) and _is_int(tt)) or pt < 1 or tt != pt + ct:
            raise Malformed(f"bad usage {u}")
        least = 0 if self.max_tokens == 0 else 1
        if ct < least or (self.max_tokens is not None and ct > self.max_tokens):
            raise Malformed(f"completion_tokens {ct} outside [{least}, max_tokens={self.max_tokens}]")
        if self.finish_reason == "length" and self.max_tokens is not None and ct != self.max_tokens:
            raise Malformed(f"finish_reason 'length' after {ct} of max_tokens={self.max_tokens} tokens")
        n = len(self.content_times)
        if n > ct or (self.strict_chunks and n != ct):
            raise Malformed(f"{n} content chunks for completion_tokens {ct}")
        return ct


async def open_connection(host, port):
    stream, writer = await asyncio.open_connection(host, port, limit=READ_SIZE)
    return Reader(stream), writer


def close_writer(writer):
    try:
        writer.close()
    except Exception:
        pass


def request_bytes(method, path, host, port, body=b"", api_key=None, extra_headers=()):
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}"]
    if api_key:
        lines.append(f"Authorization: Bearer {api_key}")
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(body)}")
    lines.extend(extra_headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def simple_request(host, port, method, path, body=b"", api_key=None, timeout=30):
    """One request on a fresh connection: (Response, body bytes)."""

    async def go():
        reader, writer = await open_connection(host, port)
        try:
            writer.write(request_bytes(method, path, host, port, body, api_key, ("Connection: close",)))
            resp = await read_response_head(reader)
            parts = []
            await read_response_body(reader, resp, method, parts.append)
            return resp, b"".join(parts)
        finally:
            close_writer(writer)

    return await asyncio.wait_for(go(), timeout)


async def first_model(host, port, api_key):
    resp, body = await simple_request(host, port, "GET", "/v1/models", api_key=api_key)
    if resp.status != 200:
        raise SystemExit(f"GET /v1/models: status {resp.status}: {body[:300]!r}")
    data = json.loads(body).get("data") or []
    if not data or not isinstance(data[0].get("id"), str):
        raise SystemExit(f"GET /v1/models lists no model: {body[:300]!r}")
    return data[0]["id"]


def completion_body(chat, model, prompt, max_tokens, user):
    body = {"model": model, "max_tokens": max_tokens, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}, "user": user}
    if chat:
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    return json.dumps(body).encode()


async def stream_request(reader, writer, host, port, path, body, check, api_key=None):
    """Sends one streaming request on an open connection and feeds the response to `check`.
    Returns (t_sent, t_end, keep_alive)."""
    t_sent = time.perf_counter()
    writer.write(request_bytes("POST", path, host, port, body, api_key, ("Accept: text/event-stream",)))
    resp = await read_response_head(reader)
    if resp.status != 200:
        parts = []
        await read_response_body(reader, resp, "POST", parts.append)
        raise StreamFailed(f"status {resp.status}: {b''.join(parts)[:300]!r}")
    ctype = (resp.header("content-type") or "").lower()
    if not ctype.startswith("text/event-stream"):
        raise Malformed(f"Content-Type {ctype!r} for a streaming response")
    perf_counter = time.perf_counter
    await read_response_body(reader, resp, "POST", lambda data: check.feed(data, perf_counter()))
    t_end = perf_counter()
    return t_sent, t_end, not resp.closes() and not reader.eof


class Stats:
    def __init__(self):
        self.next = 0
        self.done = 0
        self.ok = 0
        self.lost = 0
        self.failed = 0
        self.dup = 0
        self.malformed = 0
        self.ids = set()
        self.ttft = []
        self.itl = []
        self.e2e = []
        self.output_tokens = 0
        self.chunk_mismatch = 0
        self.errors = []

    def note(self, kind, n, message):
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.errors) < 20:
            self.errors.append(f"request {n}: {kind}: {message}")


async def worker(cfg, st):
    chat = cfg.endpoint == "chat"
    path = "/v1/chat/completions" if chat else "/v1/completions"
    conn = None
    while st.next < cfg.requests:
        n = st.next
        st.next += 1
        body = completion_body(chat, cfg.model, f"Once upon a time number {n}", cfg.max_tokens, f"load-{n}")
        check = StreamCheck(chat, cfg.max_tokens, cfg.strict_chunks)
        reused = conn is not None
        try:
            if conn is None:
                conn = await asyncio.wait_for(open_connection(cfg.host, cfg.port), cfg.timeout)
            t_sent, t_end, keep = await asyncio.wait_for(
                stream_request(*conn, cfg.host, cfg.port, path, body, check, cfg.api_key), cfg.timeout)
            tokens = check.finish()
            if check.id in st.ids:
                raise Duplicate(f"id {check.id!r} seen in an earlier response")
        except Duplicate as e:
            st.note("dup", n, str(e))
        except (ConnectionClosed, ConnectionError, OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
            what = "timed out" if isinstance(e, asyncio.TimeoutError) else f"{type(e).__name__}: {e}"
            st.note("lost", n, what + (" (on a reused connection)" if reused else ""))
            keep = False
        except (ProtocolError, Malformed) as e:
            st.note("malformed", n, f"{type(e).__name__}: {e}")
            keep = False
        except StreamFailed as e:
            st.note("failed", n, str(e))
            keep = False
        except Exception as e:  # anything unforeseen in a response is its fault, not the run's
            st.note("malformed", n, f"{type(e).__name__}: {e}")
            keep = False
        else:
            st.ok += 1
            st.output_tokens += tokens
            times = check.content_times
            st.ttft.append(times[0] - t_sent)
            st.itl.extend(b - a for a, b in zip(times, times[1:]))
            st.e2e.append(t_end - t_sent)
            if len(times) != tokens:
                st.chunk_mismatch += 1
        finally:
            st.done += 1
            if check.id is not None:
                st.ids.add(check.id)
        if not keep and conn is not None:
            close_writer(conn[1])
            conn = None
    if conn is not None:
        close_writer(conn[1])


def read_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


async def sample_rss(pid, samples, stop):
    while not stop.is_set():
        rss = read_rss_kib(pid)
        if rss is None:
            samples.append(None)  # the process is gone
            return
        samples.append(rss)
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except asyncio.TimeoutError:
            pass


async def progress(st, cfg, t0, stop):
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), 5.0)
        except asyncio.TimeoutError:
            pass
        elapsed = time.perf_counter() - t0
        print(f"[{elapsed:6.1f}s] {st.done}/{cfg.requests} done, {st.ok} ok, {st.lost} lost, {st.failed} failed, "
              f"{st.dup} dup, {st.malformed} malformed", file=sys.stderr, flush=True)


def parse_metrics(text):
    """{sample name: value summed over its label sets} from the Prometheus text format."""
    totals = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        le = None
        if "{" in line:
            name, fields = line[: line.index("{")], line[line.rindex("}") + 1 :].split()
            labels = line[line.index("{") : line.rindex("}")]
            if 'le="' in labels:
                le = labels.split('le="', 1)[1].split('"', 1)[0]
        else:
            name, *fields = line.split()
        try:
            value = float(fields[0])
        except (ValueError, IndexError):
            continue
        totals[name] = totals.get(name, 0.0) + value
        if le is not None:  # histogram buckets, kept apart for quantiles
            totals[f"{name}|{le}"] = totals.get(f"{name}|{le}", 0.0) + value
    return totals


def histogram_quantile(before, after, name, q):
    """Upper bound of the bucket holding quantile q of a histogram's observations between two scrapes."""
    bounds = []
    for key, value in after.items():
        if key.startswith(name + "_bucket|"):
            le = key.split("|", 1)[1]
            bounds.append((float("inf") if le == "+Inf" else float(le), value - (before or {}).get(key, 0.0)))
    bounds.sort()
    if not bounds or bounds[-1][1] <= 0:
        return None
    target = q * bounds[-1][1]
    for bound, cumulative in bounds:
        if cumulative >= target:
            return bound
    return None


async def fetch_metrics(cfg):
    try:
        resp, body = await simple_request(cfg.host, cfg.port, "GET", "/metrics", api_key=cfg.api_key)
    except Exception as e:
        print(f"GET /metrics failed: {e}", file=sys.stderr)
        return None
    if resp.status != 200:
        print(f"GET /metrics: status {resp.status}", file=sys.stderr)
        return None
    return parse_metrics(body.decode("utf-8", "replace"))


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = (len(sorted_values) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def mean(values):
    return sum(values) / len(values) if values else None


def summarize(cfg, st, wall, rss, metrics_before, metrics_after):
    ttft, itl, e2e = sorted(st.ttft), sorted(st.itl), sorted(st.e2e)
    s = {
        "config": {"url": cfg.url, "endpoint": cfg.endpoint, "model": cfg.model, "concurrency": cfg.concurrency,
                   "requests": cfg.requests, "max_tokens": cfg.max_tokens},
        "requests": st.done, "ok": st.ok, "lost": st.lost, "failed": st.failed, "dup": st.dup,
        "malformed": st.malformed, "wall_s": wall,
        "req_per_s": st.ok / wall if wall else 0.0,
        "output_tokens": st.output_tokens,
        "output_tok_per_s": st.output_tokens / wall if wall else 0.0,
        "responses_with_chunks_ne_tokens": st.chunk_mismatch,
        "ttft_s": {"mean": mean(ttft), "p50": percentile(ttft, 50), "p90": percentile(ttft, 90),
                   "p99": percentile(ttft, 99)},
        "itl_s": {"mean": mean(itl), "p50": percentile(itl, 50), "p90": percentile(itl, 90),
                  "p99": percentile(itl, 99)},
        "e2e_s": {"mean": mean(e2e), "p50": percentile(e2e, 50), "p99": percentile(e2e, 99)},
        "errors": st.errors,
    }
    if cfg.server_pid:
        values = [v for v in rss if v is not None]
        half = values[len(values) // 2:] if values else []
        s["rss_kib"] = {"samples": len(values), "first": values[0] if values else None,
                        "max": max(values) if values else None, "last": values[-1] if values else None,
                        "second_half_growth": (half[-1] - half[0]) if len(half) > 1 else None,
                        "server_exited": bool(rss) and rss[-1] is None}
    if metrics_after is not None:
        server = {}
        for key, metric in (("ttft", "autoglm:time_to_first_token_seconds"),
                            ("itl", "autoglm:inter_token_latency_seconds")):
            before = metrics_before or {}
            total = metrics_after.get(metric + "_sum", 0.0) - before.get(metric + "_sum", 0.0)
            count = metrics_after.get(metric + "_count", 0.0) - before.get(metric + "_count", 0.0)
            server[key] = {"sum_s": total, "count": count, "mean_s": total / count if count else None}
        before = metrics_before or {}
        steps = metrics_after.get("autoglm:engine_steps_total", 0.0) - before.get("autoglm:engine_steps_total", 0.0)
        step_s = (metrics_after.get("autoglm:engine_step_seconds_total", 0.0) -
                  before.get("autoglm:engine_step_seconds_total", 0.0))
        server["engine_step_mean_s"] = step_s / steps if steps else None
        delay = "autoglm:http_stream_delay_seconds"
        server["stream_delay_s"] = {
            "p50_le": histogram_quantile(metrics_before, metrics_after, delay, 0.50),
            "p99_le": histogram_quantile(metrics_before, metrics_after, delay, 0.99),
            "mean": ((metrics_after.get(delay + "_sum", 0.0) - before.get(delay + "_sum", 0.0)) /
                     max(1.0, metrics_after.get(delay + "_count", 0.0) - before.get(delay + "_count", 0.0)))}
        s["server_metrics"] = server
    return s


def ms(v):
    return "-" if v is None else f"{v * 1000:.1f}"


def print_summary(s):
    rows = [
        ("requests", f"{s['requests']}"),
        ("ok", f"{s['ok']}"),
        ("lost / failed / dup / malformed", f"{s['lost']} / {s['failed']} / {s['dup']} / {s['malformed']}"),
        ("wall", f"{s['wall_s']:.2f} s"),
        ("req/s", f"{s['req_per_s']:.1f}"),
        ("output tok/s", f"{s['output_tok_per_s']:.1f} ({s['output_tokens']} tokens)"),
        ("TTFT p50/p90/p99 ms", f"{ms(s['ttft_s']['p50'])} / {ms(s['ttft_s']['p90'])} / {ms(s['ttft_s']['p99'])}"),
        ("ITL p50/p90/p99 ms", f"{ms(s['itl_s']['p50'])} / {ms(s['itl_s']['p90'])} / {ms(s['itl_s']['p99'])}"),
        ("e2e p50/p99 ms", f"{ms(s['e2e_s']['p50'])} / {ms(s['e2e_s']['p99'])}"),
        ("responses: content chunks != tokens", f"{s['responses_with_chunks_ne_tokens']}"),
    ]
    if "rss_kib" in s:
        r = s["rss_kib"]
        mib = lambda v: "-" if v is None else f"{v / 1024:.1f}"
        rows.append(("RSS first/max/last MiB", f"{mib(r['first'])} / {mib(r['max'])} / {mib(r['last'])}"))
        rows.append(("RSS growth, 2nd half MiB", mib(r["second_half_growth"])))
        if r["server_exited"]:
            rows.append(("server", "EXITED during the run"))
    if "server_metrics" in s:
        for key, label in (("ttft", "TTFT"), ("itl", "ITL")):
            srv = s["server_metrics"][key]
            client = s[key + "_s"]["mean"]
            share = "-" if srv["mean_s"] is None or client is None else ms(client - srv["mean_s"])
            rows.append((f"{label} mean ms server / client",
                         f"{ms(srv['mean_s'])} / {ms(client)} (HTTP + network {share}; {srv['count']:.0f} samples)"))
        srv = s["server_metrics"]
        rows.append(("engine step mean ms", ms(srv["engine_step_mean_s"])))
        d = srv["stream_delay_s"]
        rows.append(("HTTP layer (engine event -> socket) ms",
                     f"mean {d['mean'] * 1000:.3f}, p50 <= {ms(d['p50_le'])}, p99 <= {ms(d['p99_le'])}"))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    for e in s["errors"]:
        print(f"  ! {e}")


async def run(cfg):
    if not cfg.model:
        cfg.model = await first_model(cfg.host, cfg.port, cfg.api_key)
    if cfg.warmup:
        # Same load, not measured: the server's pools and caches reach their working size first, so the RSS
        # samples of the measured run show growth that would go on (a leak), not warm-up.
        warm_cfg = argparse.Namespace(**vars(cfg))
        warm_cfg.requests = cfg.warmup
        warm = Stats()
        await asyncio.gather(*(worker(warm_cfg, warm) for _ in range(cfg.concurrency)))
        print(f"warm-up: {warm.ok} ok of {cfg.warmup}")
    metrics_before = await fetch_metrics(cfg) if cfg.metrics else None
    st = Stats()
    stop = asyncio.Event()
    rss = []
    side = []
    if cfg.server_pid:
        side.append(asyncio.create_task(sample_rss(cfg.server_pid, rss, stop)))
    t0 = time.perf_counter()
    side.append(asyncio.create_task(progress(st, cfg, t0, stop)))
    await asyncio.gather(*(worker(cfg, st) for _ in range(cfg.concurrency)))
    wall = time.perf_counter() - t0
    stop.set()
    await asyncio.gather(*side)
    if cfg.server_pid:
        rss.append(read_rss_kib(cfg.server_pid))
    metrics_after = await fetch_metrics(cfg) if cfg.metrics else None
    return summarize(cfg, st, wall, rss, metrics_before, metrics_after)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:8080")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--max-tokens", type=int, default=16)
    p.add_argument("--endpoint", choices=("completions", "chat"), default="completions")
    p.add_argument("--model", help="model name to send (default: the first one GET /v1/models lists)")
    p.add_argument("--api-key")
    p.add_argument("--server-pid", type=int, help="sample this local process's RSS every second")
    p.add_argument("--metrics", action="store_true", help="compare with the server's own TTFT/ITL histograms")
    p.add_argument("--timeout", type=float, default=300, help="seconds allowed per request")
    p.add_argument("--strict-chunks", action="store_true",
                   help="require one content chunk per completion token")
    p.add_argument("--json", help="write the summary here")
    p.add_argument("--warmup", type=int, default=0, help="requests sent first, outside the measurement")
    p.add_argument("--max-rss-growth-mib", type=float,
                   help="fail when the server's RSS grows more than this over the measured run")
    cfg = p.parse_args()
    cfg.host, cfg.port = parse_url(cfg.url)
    s = asyncio.run(run(cfg))
    print_summary(s)
    if cfg.json:
        with open(cfg.json, "w") as f:
            json.dump(s, f, indent=2)
    bad = s["lost"] + s["failed"] + s["dup"] + s["malformed"]
    if s.get("rss_kib", {}).get("server_exited"):
        bad += 1
    if cfg.max_rss_growth_mib is not None and "rss_kib" in s:
        r = s["rss_kib"]
        growth_mib = ((r["last"] or 0) - (r["first"] or 0)) / 1024.0
        if growth_mib > cfg.max_rss_growth_mib:
            print(f"  ! server RSS grew {growth_mib:.1f} MiB over the run (limit {cfg.max_rss_growth_mib})")
            bad += 1
    sys.exit(1 if bad or s["ok"] != cfg.requests else 0)


if __name__ == "__main__":
    main()
