"""The requests of the hostile-request fuzzer (fuzz_requests.py): what each case sends and what the server
must answer. Every generator takes the run's context (model, address, limits) and a seeded random.Random and
returns a Case; CASES weighs them."""

import json


RAW = "\x00raw\x00"  # placeholder for number literals Python's json cannot write (1e999, 1 and 400 zeros)


class Expect:
    """What one response must look like.

    kind: "error" (a 4xx), "ok" (a 2xx) or "any" (either). statuses: if given, the only statuses allowed.
    may_close: the server may close the connection instead of answering. may_hang: it may wait for more
    bytes (the case then ends after a short wait)."""

    def __init__(self, kind, statuses=None, method="POST", may_close=False, may_hang=False):
        self.kind = kind
        self.statuses = set(statuses) if statuses else None
        self.method = method
        self.may_close = may_close
        self.may_hang = may_hang


class Case:
    def __init__(self, name, data, expects, *, body=None, path=None, http10=False, cut=False, rst=False,
                 abandon=False, timeout=60):
        self.name = name
        self.data = data  # bytes, or a list of byte strings written one after another
        self.expects = expects
        self.body = body  # the request's JSON object, when it has one (to check a 200 against)
        self.path = path
        self.http10 = http10
        self.cut = cut  # close right after sending, wanting no answer
        self.rst = rst  # close by reset rather than FIN
        self.abandon = abandon  # close once the response has started
        self.timeout = timeout

    def raw(self):
        return self.data if isinstance(self.data, bytes) else b"".join(self.data)


# ---------------------------------------------------------------------------------------------------------
# Request building


def dumps(body, rng=None):
    """JSON text; non-ASCII is sometimes escaped, sometimes raw UTF-8 (lone surrogates then become the
    invalid three-byte sequences a careless encoder writes)."""
    raws = []

    def swap(v):
        if isinstance(v, RawNumber):
            raws.append(v.text)
            return RAW
        if isinstance(v, dict):
            return {k: swap(x) for k, x in v.items()}
        if isinstance(v, list):
            return [swap(x) for x in v]
        return v

    escaped = rng is None or rng.random() < 0.5
    text = json.dumps(swap(body), ensure_ascii=escaped)
    for r in raws:
        text = text.replace(json.dumps(RAW, ensure_ascii=escaped), r, 1)
    return text.encode("utf-8", "surrogatepass")


class RawNumber:
    def __init__(self, text):
        self.text = text


def head(ctx, method, path, headers=(), version="1.1", host=True, auth=True):
    lines = [f"{method} {path} HTTP/{version}"]
    if host:
        lines.append(f"Host: {ctx.hostport}")
    if auth and ctx.api_key:
        lines.append(f"Authorization: Bearer {ctx.api_key}")
    lines.extend(headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")


def post(ctx, path, body, headers=(), version="1.1", ctype="application/json"):
    hs = [f"Content-Type: {ctype}"] if ctype else []
    hs += [f"Content-Length: {len(body)}", *headers]
    return head(ctx, "POST", path, hs, version) + body


def pick_chat(ctx, rng):
    """Chat or completions, evenly; always completions for a server without a chat template (--no-chat)."""
    return rng.random() < 0.5 and ctx.chat


def base_body(ctx, rng, chat):
    body = {"model": ctx.model, "max_tokens": rng.randint(1, 4), "temperature": 0}
    if chat:
        body["messages"] = [{"role": "user", "content": "fuzz"}]
    else:
        body["prompt"] = "fuzz"
    if rng.random() < 0.5:
        body["stream"] = True
        if rng.random() < 0.7:
            body["stream_options"] = {"include_usage": True}
    return body


def json_case(ctx, rng, name, kind, body, chat=None, statuses=None, timeout=60):
    """A POST of `body` (an object or raw bytes) to the chat or completions endpoint."""
    if chat is None:
        chat = "messages" in body if isinstance(body, dict) else pick_chat(ctx, rng)
    path = "/v1/chat/completions" if chat else "/v1/completions"
    data = body if isinstance(body, bytes) else dumps(body, rng)
    return Case(name, post(ctx, path, data), [Expect(kind, statuses)], body=body if isinstance(body, dict) else None,
                path=path, timeout=timeout)


# ---------------------------------------------------------------------------------------------------------
# Case generators. Each takes (ctx, rng) and returns a Case.

COMMON_FIELDS = {
    "model": ("str",), "max_tokens": ("int",), "temperature": ("int", "float"), "top_p": ("int", "float"),
    "n": ("int",), "stop": ("str", "list"), "seed": ("int",), "stream": ("bool",), "stream_options": ("obj",),
    "presence_penalty": ("int", "float"), "frequency_penalty": ("int", "float"), "user": ("str",),
    "logit_bias": ("obj",),
}
COMPLETION_FIELDS = dict(COMMON_FIELDS, prompt=("str", "list"), logprobs=("int",), echo=("bool",),
                         best_of=("int",), suffix=("str",))
CHAT_FIELDS = dict(COMMON_FIELDS, messages=("list",), logprobs=("bool",), top_logprobs=("int",),
                   max_completion_tokens=("int",), response_format=("obj",), tools=("list",),
                   tool_choice=("str", "obj"), parallel_tool_calls=("bool",))
REQUIRED = {"model", "prompt", "messages"}
# Fields every OpenAI-compatible server interprets, so a bad value must be refused. Others (tools, echo,
# logit_bias...) a server may not implement and ignore, so for them a 2xx is acceptable, though a 4xx must
# still be well-formed.
STRICT = {"model", "prompt", "messages", "max_tokens", "temperature", "top_p", "n", "stop", "seed", "logprobs",
          "top_logprobs", "stream", "stream_options", "presence_penalty", "frequency_penalty"}


def strictness(field, kind):
    return kind if field in STRICT else "any"

TYPE_SAMPLES = {
    "str": ["x", "", "16", "true"], "int": [7, 0, -1], "float": [0.5, -2.5], "bool": [True, False],
    "list": [[], [1], ["x"], [None]], "obj": [{}, {"a": 1}, {"include_usage": True}], "null": [None],
}


def case_wrong_type(ctx, rng):
    chat = pick_chat(ctx, rng)
    fields = CHAT_FIELDS if chat else COMPLETION_FIELDS
    field = rng.choice(sorted(fields))
    wrong = [t for t in TYPE_SAMPLES if t not in fields[field] and (t != "null" or field in REQUIRED)]
    t = rng.choice(wrong)
    body = base_body(ctx, rng, chat)
    body[field] = rng.choice(TYPE_SAMPLES[t])
    if rng.random() < 0.1:
        del body[field]  # a missing required field, or a missing optional one (then valid)
        return json_case(ctx, rng, f"missing {field}", "error" if field in REQUIRED else "any", body, chat)
    return json_case(ctx, rng, f"wrong type {field}={t}", strictness(field, "error"), body, chat)


def case_null_optional(ctx, rng):
    chat = pick_chat(ctx, rng)
    fields = CHAT_FIELDS if chat else COMPLETION_FIELDS
    field = rng.choice(sorted(set(fields) - REQUIRED))
    body = base_body(ctx, rng, chat)
    body[field] = None
    return json_case(ctx, rng, f"null {field}", "any", body, chat)


# (field, value, expectation, chat only / completions only / both)
INNER = [
    ("prompt", [1.5], "error", "c"), ("prompt", [True], "error", "c"), ("prompt", [None], "error", "c"),
    ("prompt", [{}], "error", "c"), ("prompt", [[1.5]], "error", "c"), ("prompt", [-1], "error", "c"),
    ("prompt", [10**12], "error", "c"), ("prompt", [2**64], "error", "c"), ("prompt", [2**31 - 1], "error", "c"),
    ("prompt", [], "any", "c"), ("prompt", "", "any", "c"), ("prompt", [0], "any", "c"),
    ("prompt", ["a", "b"], "any", "c"), ("prompt", [[1, 2], [3]], "any", "c"), ("prompt", [[]], "any", "c"),
    ("messages", [], "error", "m"), ("messages", [1], "error", "m"), ("messages", ["x"], "error", "m"),
    ("messages", [{}], "error", "m"), ("messages", [[]], "error", "m"),
    ("messages", [{"role": 1, "content": "x"}], "error", "m"),
    ("messages", [{"role": "user", "content": 1}], "error", "m"),
    ("messages", [{"role": "user", "content": {"a": 1}}], "error", "m"),
    ("messages", [{"role": "bogus", "content": "x"}], "error", "m"),
    ("messages", [{"content": "x"}], "error", "m"),
    ("messages", [{"role": "user", "content": [1]}], "error", "m"),
    ("messages", [{"role": "user"}], "any", "m"),
    ("messages", [{"role": "user", "content": None}], "any", "m"),
    ("messages", [{"role": "user", "content": ""}], "any", "m"),
    ("messages", [{"role": "user", "content": [{"type": "text", "text": "hi"}]}], "any", "m"),
    ("messages", [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}],
     "any", "m"),
    ("messages", [{"role": "user", "content": [{"type": "text"}]}], "any", "m"),
    ("messages", [{"role": "system", "content": "x"}], "any", "m"),
    ("messages", [{"role": "assistant", "content": "x"}], "any", "m"),
    ("messages", [{"role": "tool", "content": "x"}], "any", "m"),
    ("messages", [{"role": "user", "content": "x", "name": "bob", "extra": [1]}], "any", "m"),
    ("messages", [{"role": "user", "content": "x"}, {"role": "assistant", "content": None,
                                                     "tool_calls": [{"id": 1}]}], "any", "m"),
    ("stop", [1], "error", "b"), ("stop", [None], "error", "b"), ("stop", [[]], "error", "b"),
    ("stop", [{}], "error", "b"), ("stop", ["a", "b", "c", "d", "e"], "any", "b"), ("stop", [""], "any", "b"),
    ("stop", "", "any", "b"), ("stop", [], "any", "b"), ("stop", ["\ud800"], "any", "b"),
    ("stream_options", {"include_usage": "yes"}, "error", "b"), ("stream_options", {"include_usage": 1}, "error", "b"),
    ("stream_options", {"include_usage": None}, "any", "b"), ("stream_options", {"bogus": 1}, "any", "b"),
    ("logit_bias", {"1": "x"}, "error", "b"), ("logit_bias", {"1": [1]}, "error", "b"),
    ("logit_bias", {"1": RawNumber("1e999")}, "error", "b"), ("logit_bias", {"x": 1}, "any", "b"),
    ("logit_bias", {"-1": 1}, "any", "b"), ("logit_bias", {"99999999999": 1}, "any", "b"),
    ("logit_bias", {"1": 1000}, "any", "b"), ("logit_bias", {"1": -100}, "any", "b"),
    ("response_format", {"type": "bogus"}, "any", "m"), ("response_format", {"type": 1}, "error", "m"),
    ("tools", [1], "error", "m"), ("tools", [{"type": "function"}], "any", "m"),
    ("tool_choice", "bogus", "any", "m"),
    # A server with one model may ignore the name; one that checks it answers 404 model_not_found.
    ("model", "no-such-model", "any", "b"), ("model", "", "any", "b"), ("model", "x" * 100000, "any", "b"),
    ("model", "\ud800", "any", "b"),
    ("user", "u" * 100000, "any", "b"), ("suffix", "s", "any", "c"), ("echo", True, "any", "c"),
    ("best_of", 2, "any", "c"), ("n", 2, "any", "b"), ("bogus_field", 1, "any", "b"),
]


def case_inner(ctx, rng):
    field, value, kind, where = rng.choice(INNER)
    chat = {"c": False, "m": True}.get(where, pick_chat(ctx, rng))
    body = base_body(ctx, rng, chat)
    body[field] = value
    shown = json.dumps(value, default=lambda o: o.text)[:40]
    return json_case(ctx, rng, f"{field}={shown}", strictness(field, kind), body, chat)


INT_FIELDS = ["max_tokens", "n", "seed", "top_logprobs", "logprobs", "max_completion_tokens", "best_of"]
FLOAT_FIELDS = ["temperature", "top_p", "presence_penalty", "frequency_penalty"]
# value -> expectation, per field group. Out of range but meaningful values are "any"; values no sampler can
# use (negative counts, infinities, floats where integers belong, counts past 2^63) are "error".
NUMBERS = {
    "max_tokens": [(-1, "error"), (0, "any"), (2**31, "any"), (2**63 - 1, "any"), (2**63, "any"), (2**64, "error"),
                   (-2**63 - 1, "error"), (1e308, "error"), (RawNumber("1e999"), "error"), (1.5, "error"),
                   (RawNumber("1" + "0" * 400), "error")],
    "max_completion_tokens": [(-1, "error"), (2**64, "error"), (1e308, "error"), (0, "any")],
    "n": [(0, "error"), (-1, "error"), (2**64, "error"), (1e308, "error"), (1000000, "error"), (2**31, "error")],
    "seed": [(-1, "any"), (2**63 - 1, "any"), (-2**63, "any"), (2**64, "any"), (2**64 - 1, "any"),
             (1e308, "error"), (RawNumber("1e999"), "error"), (0.5, "error")],
    "top_logprobs": [(-1, "error"), (2**64, "error"), (1e308, "error"), (1000, "any"), (0, "any")],
    "logprobs": [(-1, "error"), (2**64, "error"), (1e308, "error"), (100, "any"), (0, "any")],
    "best_of": [(0, "error"), (-1, "error"), (2**64, "error"), (1e308, "error")],
    "temperature": [(-1, "error"), (-1e-300, "error"), (1e308, "any"), (-1e308, "error"), (RawNumber("1e999"), "error"),
                    (RawNumber("-1e999"), "error"), (0, "any"), (5e-324, "any"), (2, "any"), (100, "any")],
    "top_p": [(-0.5, "error"), (1.5, "error"), (1e308, "error"), (RawNumber("1e999"), "error"), (0, "any"),
              (5e-324, "any"), (1, "any")],
    "presence_penalty": [(1e308, "error"), (-1e308, "error"), (RawNumber("1e999"), "error"), (3, "any"),
                         (-2, "any")],
    "frequency_penalty": [(1e308, "error"), (-1e308, "error"), (RawNumber("-1e999"), "error"), (3, "any"),
                          (2, "any")],
}


def case_number(ctx, rng):
    field = rng.choice(sorted(NUMBERS))
    value, kind = rng.choice(NUMBERS[field])
    chat = True if field in ("top_logprobs", "max_completion_tokens") else (
        False if field in ("logprobs", "best_of") else pick_chat(ctx, rng))
    body = base_body(ctx, rng, chat)
    body[field] = value
    if field == "top_logprobs":
        body["logprobs"] = True
    shown = value.text[:20] if isinstance(value, RawNumber) else value
    return json_case(ctx, rng, f"number {field}={shown}", strictness(field, kind), body, chat)


def case_invalid_json(ctx, rng):
    chat = pick_chat(ctx, rng)
    good = dumps(base_body(ctx, rng, chat))
    m = ctx.model.encode()
    variants = [
        ("truncated", lambda: good[: rng.randint(1, len(good) - 1)]),
        ("random bytes", lambda: rng.randbytes(rng.randint(1, 2000))),
        ("empty", lambda: b""),
        ("not an object", lambda: rng.choice([b"null", b"[]", b"1", b'"s"', b"true", b"[{}]", b"-0"])),
        ("trailing garbage", lambda: good + b"xyz"),
        ("two objects", lambda: good + good),
        ("NaN", lambda: b'{"model":"' + m + b'","prompt":"x","temperature":NaN}'),
        ("Infinity", lambda: b'{"model":"' + m + b'","prompt":"x","temperature":-Infinity}'),
        ("comment", lambda: b'{"model":"' + m + b'",/* c */"prompt":"x"}'),
        ("single quotes", lambda: b"{'model':'" + m + b"','prompt':'x'}"),
        ("leading zero", lambda: b'{"model":"' + m + b'","prompt":"x","max_tokens":01}'),
        ("bad number", lambda: b'{"model":"' + m + b'","prompt":"x","max_tokens":' + rng.choice(
            [b"1.", b".5", b"-", b"1e", b"+1", b"0x10", b"1_0"]) + b"}"),
        ("raw control char", lambda: b'{"model":"' + m + b'","prompt":"a\x01\nb"}'),
        ("bad escape", lambda: b'{"model":"' + m + b'","prompt":"\\x41 \\u12"}'),
        ("unterminated string", lambda: b'{"model":"' + m + b'","prompt":"abc'),
        ("trailing comma", lambda: b'{"model":"' + m + b'","prompt":"x",}'),
        ("missing colon", lambda: b'{"model" "' + m + b'"}'),
        ("utf-16", lambda: good.decode().encode("utf-16")),
        ("bytes flipped", lambda: bytes(b ^ (1 << rng.randint(0, 7)) if rng.random() < 0.05 else b for b in good)),
    ]
    name, make = rng.choice(variants)
    data = make()
    kind = "any" if name == "bytes flipped" else "error"  # flips may well leave a valid request
    return json_case(ctx, rng, f"invalid json: {name}", kind, data, chat)


def case_lenient_json(ctx, rng):
    """Valid JSON in unusual shapes: all must be accepted or rejected cleanly."""
    chat = pick_chat(ctx, rng)
    body = base_body(ctx, rng, chat)
    text = dumps(body)
    variants = [
        ("whitespace", b" \t\r\n" + text.replace(b",", b" ,\n\t ") + b"\n\n"),
        ("duplicate key", text[:-1] + b',"max_tokens":"x","max_tokens":2}'),
        ("BOM", b"\xef\xbb\xbf" + text),
        ("huge number in unknown field", text[:-1] + b',"x":1' + b"0" * 5000 + b"}"),
        ("deep object in unknown field", text[:-1] + b',"x":' + b'{"a":' * 100000 + b"1" + b"}" * 100000 + b"}"),
        ("deep array in unknown field", text[:-1] + b',"x":' + b"[" * 100000 + b"]" * 100000 + b"}"),
        ("escaped keys", text.replace(b'"model"', b'"\\u006dodel"')),
    ]
    name, data = rng.choice(variants)
    return json_case(ctx, rng, f"json: {name}", "any", data, chat)


def case_nesting(ctx, rng):
    depth = rng.choice([1000, 100000, 1000000])
    m = ctx.model.encode()
    variants = [
        ("open arrays", b"[" * depth),
        ("closed arrays", b"[" * depth + b"]" * depth),
        ("open objects", b'{"a":' * depth),
        ("prompt", b'{"model":"' + m + b'","prompt":' + b"[" * depth + b"]" * depth + b"}"),
        ("messages", b'{"model":"' + m + b'","messages":' + b"[" * depth + b"]" * depth + b"}"),
        ("stop", b'{"model":"' + m + b'","prompt":"x","stop":' + b"[" * depth + b"]" * depth + b"}"),
        ("content", b'{"model":"' + m + b'","messages":[{"role":"user","content":' + b'{"a":' * depth + b"1" +
         b"}" * depth + b"}]}"),
    ]
    name, data = rng.choice(variants)
    if len(data) > ctx.max_body:
        data = data[: ctx.max_body]
    return json_case(ctx, rng, f"nesting {depth} {name}", "error", data, chat=name in ("messages", "content"))


HOSTILE_TEXT = [
    "\u0000abc\u0000", "\U0001F600" * 500, "\u202e\u0645\u0631\u062d\u0628\u0627", "\u2028\u2029", "e\u0301" * 1000,
    "\ufeff\ufffe\uffff", "\ud800", "\udfff\ud800", "a\ud83d", "<|endoftext|><|im_start|>system",
    "\x7f\x1b[31m", "%s%n%x" * 100, "\\" * 1000 + '"',
]
INVALID_UTF8 = [b"\xff", b"\xfe\xff", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                b"\xc3", b"\x80\x80", b"\xf8\x88\x80\x80\x80", b"a\xe2\x82"]


def case_unicode(ctx, rng):
    chat = pick_chat(ctx, rng)
    body = base_body(ctx, rng, chat)
    where = "messages" if chat else "prompt"
    if rng.random() < 0.5:
        text = rng.choice(HOSTILE_TEXT)
        if chat:
            body["messages"][0]["content"] = text
        else:
            body["prompt"] = text
        return json_case(ctx, rng, f"unicode {where} {text[:12]!r}", "any", body, chat)
    bad = rng.choice(INVALID_UTF8)
    field = rng.choice([where, "model", "stop", "user"])
    data = dumps(dict(body, **({"stop": "MARK"} if field == "stop" else {}), **(
        {"user": "MARK"} if field == "user" else {})))
    if field == "model":
        data = data.replace(json.dumps(ctx.model).encode(), b'"' + ctx.model.encode() + bad + b'"', 1)
    elif field in ("stop", "user"):
        data = data.replace(b'"MARK"', b'"x' + bad + b'"', 1)
    else:
        data = data.replace(b'"fuzz"', b'"fu' + bad + b'zz"', 1)
    return json_case(ctx, rng, f"invalid utf-8 {field} {bad!r}", "any", data, chat)


def case_huge(ctx, rng):
    """Large but within the body limit: must be answered (400 context length, or a completion)."""
    chat = pick_chat(ctx, rng)
    body = base_body(ctx, rng, chat)
    body["max_tokens"] = 1
    budget = min(ctx.max_body * 3 // 4, 6 * 1024 * 1024)
    variant = rng.choice(["prompt", "token ids", "messages", "stop", "logit_bias", "user", "unknown array"])
    if variant == "prompt":
        text = "lorem ipsum " * (budget // 12)
        if chat:
            body["messages"][0]["content"] = text
        else:
            body["prompt"] = text
    elif variant == "token ids":
        chat = False
        body = base_body(ctx, rng, False)
        body["prompt"] = [rng.randrange(1, 100)] * (budget // 4)
    elif variant == "messages":
        chat = True
        body = base_body(ctx, rng, True)
        body["messages"] = [{"role": "user", "content": "hi"}] * (budget // 34)
    elif variant == "stop":
        body["stop"] = ["x" * 100] * (budget // 104)
    elif variant == "logit_bias":
        body["logit_bias"] = {str(i): 1 for i in range(budget // 14)}
    elif variant == "user":
        body["user"] = "u" * budget
    else:
        body["x"] = [1] * (budget // 2)
    return json_case(ctx, rng, f"huge {variant}", "any", body, chat, timeout=120)


def case_oversized(ctx, rng):
    over = ctx.max_body + rng.choice([1, 1024 * 1024])
    chat = pick_chat(ctx, rng)
    path = "/v1/chat/completions" if chat else "/v1/completions"
    variant = rng.choice(["sent", "declared only", "declared 2^63", "declared 20 digits", "chunked"])
    if variant == "sent":
        prefix = b'{"model":"' + ctx.model.encode() + b'","prompt":"'
        body = prefix + b"a" * (over - len(prefix) - 2) + b'"}'
        parts = [head(ctx, "POST", path, ["Content-Type: application/json", f"Content-Length: {len(body)}"])]
        parts += [body[i : i + 256 * 1024] for i in range(0, len(body), 256 * 1024)]
        return Case("oversized body", parts, [Expect("error", {413})], timeout=60)
    if variant == "declared only":
        return Case("oversized Content-Length, no body", head(ctx, "POST", path, [
            "Content-Type: application/json", f"Content-Length: {over}"]), [Expect("error", {413})])
    if variant == "declared 2^63":
        return Case("Content-Length 2^63", head(ctx, "POST", path, [
            "Content-Type: application/json", f"Content-Length: {2**63}"]), [Expect("error", {400, 413})])
    if variant == "declared 20 digits":
        return Case("Content-Length 20 digits", head(ctx, "POST", path, [
            "Content-Type: application/json", "Content-Length: 99999999999999999999"]), [Expect("error", {400, 413})])
    piece = b"a" * (512 * 1024)
    parts = [head(ctx, "POST", path, ["Content-Type: application/json", "Transfer-Encoding: chunked"])]
    parts += [b"%x\r\n%s\r\n" % (len(piece), piece)] * (over // len(piece) + 1) + [b"0\r\n\r\n"]
    return Case("oversized chunked body", parts, [Expect("error", {413, 400, 411, 501})])


def case_method_path(ctx, rng):
    body = dumps(base_body(ctx, rng, False))
    variant = rng.randrange(6)
    if variant == 0:
        method = rng.choice(["GET", "PUT", "DELETE", "PATCH"])
        path = rng.choice(["/v1/completions", "/v1/chat/completions"])
        return Case(f"{method} {path}", head(ctx, method, path, [f"Content-Length: {len(body)}"]) + body,
                    [Expect("error", {404, 405})])
    if variant == 1:
        method = rng.choice(["POST", "PUT", "DELETE"])
        path = rng.choice(["/health", "/v1/models", "/metrics"])
        return Case(f"{method} {path}", head(ctx, method, path, ["Content-Length: 0"]), [Expect("error", {404, 405})])
    if variant == 2:
        method = rng.choice(["FOO", "post", "BREW", "G\x00ET", "TRACE", "CONNECT"])
        return Case(f"method {method!r}", head(ctx, method, "/v1/completions", [f"Content-Length: {len(body)}"]) +
                    body, [Expect("error", {400, 404, 405, 501})])
    if variant == 3:
        path = rng.choice(["/v1/completionsX", "/V1/COMPLETIONS", "/../../etc/passwd",
                           "/v1/%2e%2e/health", "/%00", "/v1/completions%00", "/v2/completions",
                           "/v1/models/../../etc/passwd", "/\xff\xfe", "/v1/models/%ff"])
        return Case(f"path {path!r}", post(ctx, path, body), [Expect("error", {400, 404, 405})])
    if variant == 4:
        path = rng.choice(["/", "/v1", "/v1/", "/v1/models?x=1&y", "/health?", "/v1/models#frag",
                           f"http://{ctx.hostport}/health", "*", "/v1/models/" + ctx.model])
        method = "OPTIONS" if path == "*" else rng.choice(["GET", "HEAD", "OPTIONS"])
        return Case(f"{method} {path}", head(ctx, method, path), [Expect("any", method=method)])
    path = "/" + "a" * rng.choice([8000, 100000])
    return Case(f"path of {len(path)} bytes", head(ctx, "GET", path), [Expect("error", {400, 404, 414, 431})])


def case_headers(ctx, rng):
    body = dumps(base_body(ctx, rng, False))
    path = "/v1/completions"
    cl = f"Content-Length: {len(body)}"
    chunked = "Transfer-Encoding: chunked"

    def req(*headers, line=f"POST {path} HTTP/1.1", payload=body, host=True, ctype=True, auth=True, end=b"\r\n"):
        lines = [line] + ([f"Host: {ctx.hostport}"] if host else []) + (
            ["Content-Type: application/json"] if ctype else []) + (
            [f"Authorization: Bearer {ctx.api_key}"] if auth and ctx.api_key else []) + list(headers)
        return end.join(x if isinstance(x, bytes) else x.encode("latin-1") for x in lines) + end * 2 + payload

    def chunks(data, size):
        return b"".join(b"%x\r\n%s\r\n" % (len(data[i : i + size]), data[i : i + size])
                        for i in range(0, len(data), size)) + b"0\r\n\r\n"

    bad = [400]
    # (name, request maker, expected response); makers run only for the variant drawn.
    variants = [
        ("no Host", lambda: req(cl, host=False), Expect("any")),
        ("no Content-Length", lambda: req(), Expect("error", {400, 411}, may_close=True)),
        ("header without colon", lambda: req("Garbage", cl), Expect("error", bad)),
        ("space in header name", lambda: req(f"Content Length: {len(body)}", cl), Expect("error", bad)),
        ("space before colon", lambda: req(f"Content-Length : {len(body)}"), Expect("error", bad)),
        ("NUL in header", lambda: req("X-A: a\x00b", cl), Expect("error", bad)),
        ("obs-fold", lambda: req("X-A: a", " folded", cl), Expect("any")),
        ("huge header", lambda: req("X-A: " + "a" * 200000, cl), Expect("error", {400, 431}, may_close=True)),
        ("many headers", lambda: req(*[f"X-{i}: v" for i in range(30000)], cl),
         Expect("error", {400, 431}, may_close=True)),
        ("some headers", lambda: req(*[f"X-{i}: v" for i in range(300)], cl), Expect("any")),
        ("negative Content-Length", lambda: req("Content-Length: -1"), Expect("error", bad)),
        ("junk Content-Length", lambda: req("Content-Length: 12abc"), Expect("error", bad)),
        ("hex Content-Length", lambda: req("Content-Length: 0x10"), Expect("error", bad)),
        ("two Content-Lengths", lambda: req(cl, f"Content-Length: {len(body) + 1}"), Expect("error", bad)),
        ("list Content-Length", lambda: req(f"Content-Length: {len(body)}, {len(body) + 1}"), Expect("error", bad)),
        ("short Content-Length", lambda: req(f"Content-Length: {len(body) // 2}"), Expect("error")),
        ("Content-Length and chunked", lambda: req("Content-Length: 5", chunked, payload=chunks(body, len(body))),
         Expect("any", may_close=True)),
        ("unknown transfer coding", lambda: req("Transfer-Encoding: gzip"),
         Expect("error", {400, 411, 501}, may_close=True)),
        ("chunked", lambda: req(chunked, payload=chunks(body, 7)), Expect("any", {200, 400, 411, 501})),
        ("bad chunk size", lambda: req(chunked, payload=b"zz\r\n" + body + b"\r\n0\r\n\r\n"),
         Expect("error", {400, 411, 501}, may_close=True)),
        ("chunk size overflow", lambda: req(chunked, payload=b"ffffffffffffffffff\r\n" + body),
         Expect("error", {400, 411, 413, 501}, may_close=True)),
        ("Expect: 100-continue", lambda: req("Expect: 100-continue", cl), Expect("any")),
        ("Expect: bogus", lambda: req("Expect: 200-ok", cl), Expect("any", {200, 400, 417})),
        ("text/plain", lambda: req("Content-Type: text/plain", cl, ctype=False), Expect("any")),
        ("garbage Authorization", lambda: req(b"Authorization: Bearer \xff\xfe" + b"A" * 5000, cl, auth=False),
         Expect("any")),
        ("HTTP/9.9", lambda: req(cl, line=f"POST {path} HTTP/9.9"), Expect("error", {400, 505}, may_close=True)),
        ("HTTP/1.1x", lambda: req(cl, line=f"POST {path} HTTP/1.1x"), Expect("error", {400, 505}, may_close=True)),
        ("HTTP/2 preface", lambda: b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00" * 30,
         Expect("error", {400, 505}, may_close=True)),
        ("no version", lambda: req(line="GET /health", payload=b""), Expect("error", {400, 505}, may_close=True)),
        ("lowercase version", lambda: req(line="GET /health http/1.1", payload=b""),
         Expect("error", {400, 505}, may_close=True)),
        ("bare LF", lambda: req(line="GET /health HTTP/1.1", payload=b"", ctype=False, end=b"\n"),
         Expect("any", may_close=True, may_hang=True)),
        ("random request line", lambda: rng.randbytes(rng.randint(1, 300)).replace(b"\r\n\r\n", b"") + b"\r\n\r\n",
         Expect("error", {400, 404, 405, 414, 431, 501, 505}, may_close=True, may_hang=True)),
        ("leading CRLFs", lambda: b"\r\n\r\n" + head(ctx, "GET", "/health"), Expect("any", may_close=True)),
    ]
    name, make, expect = rng.choice(variants)
    return Case(f"header: {name}", make(), [expect], body=json.loads(body), path=path,
                timeout=5 if expect.may_hang else 60)


def case_http10(ctx, rng):
    chat = pick_chat(ctx, rng)
    body = base_body(ctx, rng, chat)
    body["stream"] = rng.random() < 0.7
    if not body["stream"]:
        body.pop("stream_options", None)  # only allowed with stream
    path = "/v1/chat/completions" if chat else "/v1/completions"
    return Case("HTTP/1.0 completion", post(ctx, path, dumps(body), version="1.0"), [Expect("any", {200, 505})],
                body=body, path=path, http10=True)


def case_cut(ctx, rng):
    """Requests that end early: the server must drop them without harm (canaries show it)."""
    body = base_body(ctx, rng, pick_chat(ctx, rng))
    path = "/v1/chat/completions" if "messages" in body else "/v1/completions"
    full = post(ctx, path, dumps(body))
    cut_at = rng.randint(1, len(full) - 1)
    rst = rng.random() < 0.5
    return Case(f"cut at {cut_at}/{len(full)}{' RST' if rst else ''}", full[:cut_at], [], cut=True, rst=rst)


def case_abandon(ctx, rng):
    """A streaming request whose client goes away once tokens flow: the server must cancel it."""
    chat = pick_chat(ctx, rng)
    body = base_body(ctx, rng, chat)
    body.update(stream=True, max_tokens=64)
    path = "/v1/chat/completions" if chat else "/v1/completions"
    rst = rng.random() < 0.5
    return Case(f"abandon stream{' RST' if rst else ''}", post(ctx, path, dumps(body)), [Expect("ok", {200})],
                body=body, path=path, abandon=True, rst=rst)


def case_pipelined(ctx, rng):
    parts, expects, names = [], [], []
    for _ in range(rng.randint(2, 6)):
        kind = rng.choice(["health", "models", "complete", "stream", "bad json", "bad type", "head"])
        names.append(kind)
        if kind == "health":
            parts.append(head(ctx, "GET", "/health"))
            expects.append(Expect("ok", {200}, method="GET"))
        elif kind == "head":
            parts.append(head(ctx, "HEAD", "/health"))
            expects.append(Expect("any", {200, 405, 501}, method="HEAD"))
        elif kind == "models":
            parts.append(head(ctx, "GET", "/v1/models"))
            expects.append(Expect("ok", {200}, method="GET"))
        elif kind in ("complete", "stream"):
            body = base_body(ctx, rng, pick_chat(ctx, rng))
            body["stream"] = kind == "stream"
            body.pop("stream_options", None)
            path = "/v1/chat/completions" if "messages" in body else "/v1/completions"
            parts.append(post(ctx, path, dumps(body)))
            e = Expect("ok", {200})
            e.body, e.path = body, path
            expects.append(e)
        elif kind == "bad json":
            parts.append(post(ctx, "/v1/completions", b'{"model": '))
            expects.append(Expect("error", {400}))
        else:
            body = base_body(ctx, rng, False)
            body["max_tokens"] = "x"
            parts.append(post(ctx, "/v1/completions", dumps(body)))
            expects.append(Expect("error", {400}))
    return Case("pipelined " + ",".join(names), b"".join(parts), expects)


CASES = [
    (case_wrong_type, 25), (case_null_optional, 4), (case_inner, 14), (case_number, 12), (case_invalid_json, 14),
    (case_lenient_json, 4), (case_nesting, 4), (case_unicode, 8), (case_huge, 2), (case_oversized, 2),
    (case_method_path, 8), (case_headers, 14), (case_http10, 3), (case_cut, 5), (case_abandon, 3),
    (case_pipelined, 6),
]
