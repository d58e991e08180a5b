"""Contract tests: the official `openai` Python SDK against a live `autoglm serve` on loopback.

Models: stories260K (a real pretrained GGUF with its tokenizer; reference text from llama2.c) and the tiny
HF fixture tests/data/fixtures/llama (no tokenizer; reference greedy ids and logits from HF transformers).

    AUTOGLM_BINARY=build/tools/autoglm python3 tests/server/test_openai_contract.py
"""
import http.client
import json
import math
import os
import socket
import sys
import threading
import time
import unittest
import urllib.request

import openai

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server_harness import ServerProcess  # noqa: E402

SOURCE = os.environ.get("AUTOGLM_SOURCE_DIR",
                        os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BINARY = os.environ.get("AUTOGLM_BINARY", os.path.join(SOURCE, "build", "tools", "autoglm"))
SHARED = os.environ.get("AUTOGLM_SHARED_DATA", os.path.join(SOURCE, "..", "shared", "data"))
STORIES = os.path.join(SHARED, "models", "stories260K", "stories260K.gguf")
STORIES_TEXT = os.path.join(SHARED, "models", "stories260K", "expected_greedy_t0_n200.txt")
CHAT_TEMPLATE = os.path.join(SHARED, "chat_templates", "llama-3.2.jinja")
FIXTURE = os.path.join(SOURCE, "tests", "data", "fixtures", "llama")
KEY = "sk-test-key"


def raw_request(url, method, path, body=b"", headers=None, timeout=10):
    host, port = url.replace("http://", "").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, dict(r.getheaders()), data


class StoriesServer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess(BINARY, [
            "-m", STORIES, "--served-model-name", "stories", "--chat-template", CHAT_TEMPLATE,
            "--api-key", KEY, "-t", "1", "--max-context", "256", "--max-num-seqs", "32"]).start()
        cls.client = openai.OpenAI(base_url=cls.server.url + "/v1", api_key=KEY, max_retries=0, timeout=60)
        cls.reference = open(STORIES_TEXT, encoding="utf-8").read()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def metrics(self):
        with urllib.request.urlopen(self.server.url + "/metrics", timeout=10) as r:
            return r.read().decode()

    # --- completions ------------------------------------------------------------------------------

    def test_models(self):
        models = self.client.models.list()
        self.assertEqual([m.id for m in models.data], ["stories"])
        self.assertEqual(self.client.models.retrieve("stories").id, "stories")
        with self.assertRaises(openai.NotFoundError):
            self.client.models.retrieve("other")

    def test_greedy_completion_matches_llama2c(self):
        # An empty prompt is BOS alone: the greedy text is the reference's prefix.
        r = self.client.completions.create(model="stories", prompt="", max_tokens=60, temperature=0)
        self.assertEqual(r.object, "text_completion")
        self.assertEqual(len(r.choices), 1)
        self.assertEqual(r.choices[0].finish_reason, "length")
        self.assertEqual(r.usage.completion_tokens, 60)
        self.assertEqual(r.usage.prompt_tokens, 1)
        text = r.choices[0].text.lstrip(" ")
        self.assertGreater(len(text), 100)
        self.assertTrue(self.reference.startswith(text), text)

    def test_streaming_completion_equals_non_streaming(self):
        kwargs = dict(model="stories", prompt="Once upon a time", max_tokens=40, temperature=0)
        whole = self.client.completions.create(**kwargs)
        stream = self.client.completions.create(stream=True, stream_options={"include_usage": True}, **kwargs)
        text, finishes, ids, usage = "", [], set(), None
        for chunk in stream:
            ids.add(chunk.id)
            if chunk.usage is not None:
                usage = chunk.usage
                self.assertEqual(chunk.choices, [])
                continue
            for c in chunk.choices:
                text += c.text
                if c.finish_reason is not None:
                    finishes.append(c.finish_reason)
        self.assertEqual(len(ids), 1)
        self.assertEqual(text, whole.choices[0].text)
        self.assertEqual(finishes, [whole.choices[0].finish_reason])
        self.assertIsNotNone(usage)
        self.assertEqual(usage.completion_tokens, whole.usage.completion_tokens)
        self.assertEqual(usage.prompt_tokens, whole.usage.prompt_tokens)

    def test_stop_sequences(self):
        base = self.client.completions.create(model="stories", prompt="", max_tokens=60, temperature=0)
        text = base.choices[0].text
        stop = "Lily"
        cut = text.index(stop)
        r = self.client.completions.create(model="stories", prompt="", max_tokens=60, temperature=0,
                                           stop=[stop, "zzzz"])
        self.assertEqual(r.choices[0].text, text[:cut])
        self.assertEqual(r.choices[0].finish_reason, "stop")
        streamed = "".join(c.choices[0].text for c in self.client.completions.create(
            model="stories", prompt="", max_tokens=60, temperature=0, stop=stop, stream=True) if c.choices)
        self.assertEqual(streamed, text[:cut])

    def test_n_choices_and_seed_reproducibility(self):
        kwargs = dict(model="stories", prompt="The dog", max_tokens=24, temperature=1.0, n=3, seed=42)
        a = self.client.completions.create(**kwargs)
        b = self.client.completions.create(**kwargs)
        self.assertEqual(sorted(c.index for c in a.choices), [0, 1, 2])
        texts_a = [c.text for c in sorted(a.choices, key=lambda c: c.index)]
        texts_b = [c.text for c in sorted(b.choices, key=lambda c: c.index)]
        self.assertEqual(texts_a, texts_b)
        self.assertGreater(len(set(texts_a)), 1)  # n samples, not n copies
        c = self.client.completions.create(**dict(kwargs, seed=43))
        self.assertNotEqual([x.text for x in sorted(c.choices, key=lambda x: x.index)], texts_a)
        self.assertEqual(a.usage.prompt_tokens, b.usage.prompt_tokens)

    def test_multiple_prompts(self):
        r = self.client.completions.create(model="stories", prompt=["Once", "The cat"], max_tokens=5,
                                           temperature=0, n=2)
        self.assertEqual(sorted(c.index for c in r.choices), [0, 1, 2, 3])
        by_index = {c.index: c.text for c in r.choices}
        self.assertEqual(by_index[0], by_index[1])  # greedy: both choices of a prompt agree
        one = self.client.completions.create(model="stories", prompt="The cat", max_tokens=5, temperature=0)
        self.assertEqual(by_index[2], one.choices[0].text)

    def test_completion_logprobs(self):
        r = self.client.completions.create(model="stories", prompt="Once upon", max_tokens=8, temperature=0,
                                           logprobs=3)
        lp = r.choices[0].logprobs
        self.assertEqual(len(lp.tokens), 8)
        self.assertEqual(len(lp.token_logprobs), 8)
        self.assertEqual("".join(lp.tokens), r.choices[0].text)
        for token, logprob, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
            self.assertLessEqual(logprob, 0.0)
            self.assertIn(token, top)
            # Greedy: the chosen token is the most likely.
            self.assertAlmostEqual(logprob, max(top.values()), places=5)
            self.assertGreaterEqual(len(top), 3)
        self.assertEqual(lp.text_offset[0], 0)

    def test_echo(self):
        r = self.client.completions.create(model="stories", prompt="Once upon a time", max_tokens=5,
                                           temperature=0, echo=True)
        self.assertTrue(r.choices[0].text.startswith("Once upon a time"))

    def test_prefix_cache_reports_cached_tokens(self):
        prompt = " ".join(["Once upon a time there was a girl who liked to play in the park."] * 4)
        first = self.client.completions.create(model="stories", prompt=prompt, max_tokens=2, temperature=0)
        second = self.client.completions.create(model="stories", prompt=prompt, max_tokens=2, temperature=0)
        self.assertGreaterEqual(first.usage.prompt_tokens, 32)
        self.assertGreater(second.usage.prompt_tokens_details.cached_tokens, 0)
        self.assertLess(second.usage.prompt_tokens_details.cached_tokens, second.usage.prompt_tokens)
        self.assertEqual(first.choices[0].text, second.choices[0].text)

    # --- chat ---------------------------------------------------------------------------------------

    def test_chat_streaming_equals_non_streaming(self):
        messages = [{"role": "system", "content": "You tell stories."},
                    {"role": "user", "content": "Tell me about Lily."}]
        whole = self.client.chat.completions.create(model="stories", messages=messages, max_tokens=30,
                                                    temperature=0)
        self.assertEqual(whole.object, "chat.completion")
        self.assertEqual(whole.choices[0].message.role, "assistant")
        self.assertGreater(len(whole.choices[0].message.content), 0)
        tok = json.loads(raw_request(self.server.url, "POST", "/tokenize",
                                     json.dumps({"messages": messages}).encode(),
                                     {"Authorization": "Bearer " + KEY})[2])
        self.assertEqual(whole.usage.prompt_tokens, tok["count"])
        stream = self.client.chat.completions.create(model="stories", messages=messages, max_tokens=30,
                                                     temperature=0, stream=True,
                                                     stream_options={"include_usage": True})
        content, roles, finishes, usage = "", [], [], None
        for chunk in stream:
            self.assertEqual(chunk.object, "chat.completion.chunk")
            if chunk.usage is not None:
                usage = chunk.usage
            for c in chunk.choices:
                if c.delta.role:
                    roles.append(c.delta.role)
                content += c.delta.content or ""
                if c.finish_reason:
                    finishes.append(c.finish_reason)
        self.assertEqual(roles, ["assistant"])
        self.assertEqual(content, whole.choices[0].message.content)
        self.assertEqual(finishes, [whole.choices[0].finish_reason])
        self.assertEqual(usage.total_tokens, whole.usage.total_tokens)

    def test_chat_logprobs_and_content_parts(self):
        r = self.client.chat.completions.create(
            model="stories", max_tokens=6, temperature=0, logprobs=True, top_logprobs=2,
            messages=[{"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]}])
        content = r.choices[0].logprobs.content
        self.assertEqual(len(content), r.usage.completion_tokens)
        for entry in content:
            self.assertEqual(len(entry.top_logprobs), 2)
            self.assertAlmostEqual(entry.logprob, entry.top_logprobs[0].logprob, places=5)
            self.assertEqual(bytes(entry.bytes).decode("utf-8", "replace"), entry.token)

    # --- errors and auth ----------------------------------------------------------------------------

    def test_errors(self):
        with self.assertRaises(openai.BadRequestError) as e:
            self.client.completions.create(model="stories", prompt="x", temperature=3)
        self.assertEqual(e.exception.body["param"], "temperature")
        self.assertEqual(e.exception.body["type"], "invalid_request_error")
        with self.assertRaises(openai.BadRequestError):
            self.client.completions.create(model="stories", prompt="x", extra_body={"frobnicate": 1})
        with self.assertRaises(openai.BadRequestError) as e:
            self.client.completions.create(model="stories", prompt="word " * 400, max_tokens=4)
        self.assertIn("context", e.exception.body["message"])
        with self.assertRaises(openai.BadRequestError):
            self.client.completions.create(model="stories", prompt=[100000], max_tokens=4)
        with self.assertRaises(openai.NotFoundError) as e:
            self.client.completions.create(model="gpt-4", prompt="x")
        self.assertEqual(e.exception.body["code"], "model_not_found")
        status, _, body = raw_request(self.server.url, "POST", "/v1/completions", b"{not json",
                                      {"Authorization": "Bearer " + KEY, "Content-Type": "application/json"})
        self.assertEqual(status, 400)
        self.assertIn("error", json.loads(body))
        status, _, body = raw_request(self.server.url, "GET", "/v1/nothing-here")
        self.assertEqual(status, 404)
        self.assertEqual(json.loads(body)["error"]["type"], "not_found_error")
        status, _, _ = raw_request(self.server.url, "GET", "/v1/completions", headers={"Authorization": "Bearer " + KEY})
        self.assertEqual(status, 405)
        status, _, body = raw_request(self.server.url, "POST", "/v1/completions", b"x" * (9 << 20),
                                      {"Authorization": "Bearer " + KEY})
        self.assertEqual(status, 413)
        self.assertIn("error", json.loads(body))

    def test_auth(self):
        anonymous = openai.OpenAI(base_url=self.server.url + "/v1", api_key="wrong", max_retries=0)
        with self.assertRaises(openai.AuthenticationError) as e:
            anonymous.completions.create(model="stories", prompt="x", max_tokens=1)
        self.assertEqual(e.exception.status_code, 401)
        status, headers, _ = raw_request(self.server.url, "GET", "/v1/models")
        self.assertEqual(status, 401)
        # Health, readiness and metrics stay open to probes and scrapers.
        for path in ("/health", "/ready", "/metrics"):
            self.assertEqual(raw_request(self.server.url, "GET", path)[0], 200, path)

    def test_tokenize_detokenize(self):
        auth = {"Authorization": "Bearer " + KEY}
        _, _, body = raw_request(self.server.url, "POST", "/tokenize", json.dumps({"prompt": "Once upon a time"}).encode(), auth)
        ids = json.loads(body)["tokens"]
        self.assertEqual(ids[0], 1)  # BOS
        _, _, body = raw_request(self.server.url, "POST", "/detokenize", json.dumps({"tokens": ids[1:]}).encode(), auth)
        self.assertEqual(json.loads(body)["prompt"], "Once upon a time")
        status, _, _ = raw_request(self.server.url, "POST", "/detokenize", b'{"tokens":[-1]}', auth)
        self.assertEqual(status, 400)

    def test_disconnect_cancels_and_frees(self):
        before = self.metrics()
        # Eight long choices: far more work than the time it takes to close the connection.
        body = json.dumps({"model": "stories", "prompt": "Once", "max_tokens": 240, "temperature": 0, "n": 8,
                           "stream": True, "ignore_eos": True}).encode()
        s = socket.create_connection(("127.0.0.1", self.server.port))
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Authorization: Bearer " + KEY.encode() + b"\r\nContent-Length: " +
                  str(len(body)).encode() + b"\r\n\r\n" + body)
        received = b""
        while b"data: " not in received:
            chunk = s.recv(4096)
            self.assertTrue(chunk, "the server closed the stream")
            received += chunk
        s.close()
        deadline = time.monotonic() + 10
        aborted = lambda text: sum(float(line.split()[-1]) for line in text.splitlines()
                                   if line.startswith("autoglm:request_success_total") and 'finished_reason="abort"' in line)
        while time.monotonic() < deadline:
            text = self.metrics()
            running = [line for line in text.splitlines() if line.startswith("autoglm:num_requests_running")]
            if aborted(text) > aborted(before) and running and float(running[0].split()[-1]) == 0:
                break
            time.sleep(0.05)
        else:
            self.fail("the request was not cancelled:\n" + self.metrics())
        usage = [line for line in self.metrics().splitlines() if line.startswith("autoglm:kv_cache_usage_perc")]
        self.assertEqual(float(usage[0].split()[-1]), 0.0)

    def test_metrics_names(self):
        self.client.completions.create(model="stories", prompt="Once", max_tokens=4, temperature=0)
        text = self.metrics()
        for name in ("autoglm:time_to_first_token_seconds_bucket", "autoglm:inter_token_latency_seconds_count",
                     "autoglm:e2e_request_latency_seconds_sum", "autoglm:request_queue_time_seconds_count",
                     "autoglm:num_requests_running", "autoglm:num_requests_waiting", "autoglm:kv_cache_usage_perc",
                     "autoglm:prefix_cache_queries_total", "autoglm:prefix_cache_hits_total",
                     "autoglm:prompt_tokens_total", "autoglm:generation_tokens_total",
                     'autoglm:request_success_total{model_name="stories",finished_reason="length"}'):
            self.assertIn(name, text)


class FixtureServer(unittest.TestCase):
    """The HF fixture: greedy ids and log-probabilities against transformers' own."""

    @classmethod
    def setUpClass(cls):
        cls.golden = json.load(open(os.path.join(FIXTURE, "golden.json")))
        cls.server = ServerProcess(BINARY, ["-m", FIXTURE, "--served-model-name", "tiny", "-t", "1"]).start()
        cls.client = openai.OpenAI(base_url=cls.server.url + "/v1", api_key="unused", max_retries=0)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_greedy_ids_and_logprobs_match_transformers(self):
        for prompt in self.golden["prompts"]:
            n = len(prompt["greedy"])
            r = self.client.completions.create(model="tiny", prompt=prompt["ids"], max_tokens=n, temperature=0,
                                               logprobs=1, extra_body={"ignore_eos": True})
            lp = r.choices[0].logprobs
            ids = [int(t.split(":")[1]) for t in lp.tokens]
            self.assertEqual(ids, prompt["greedy"])
            logits = prompt["logits_f64"]
            m = max(logits)
            log_z = m + math.log(sum(math.exp(x - m) for x in logits))
            self.assertAlmostEqual(lp.token_logprobs[0], logits[ids[0]] - log_z, delta=1e-4)

    def test_streamed_ids_without_tokenizer(self):
        prompt = self.golden["prompts"][0]
        chunks = list(self.client.completions.create(model="tiny", prompt=prompt["ids"], max_tokens=5,
                                                     temperature=0, logprobs=0, stream=True,
                                                     extra_body={"ignore_eos": True}))
        ids = [int(t.split(":")[1]) for c in chunks if c.choices and c.choices[0].logprobs
               for t in c.choices[0].logprobs.tokens]
        self.assertEqual(ids, prompt["greedy"][:5])
        with self.assertRaises(openai.BadRequestError):
            self.client.completions.create(model="tiny", prompt="text needs a tokenizer", max_tokens=2)


class Lifecycle(unittest.TestCase):
    def test_full_queue_answers_429_with_retry_after(self):
        with ServerProcess(BINARY, ["-m", STORIES, "-t", "1", "--served-model-name", "s", "--max-num-seqs", "1",
                                    "--max-queue", "0"]) as server:
            client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
            stream = client.completions.create(model="s", prompt="Once", max_tokens=2000, temperature=0,
                                               stream=True, extra_body={"ignore_eos": True})
            next(iter(stream))  # admitted and running
            body = json.dumps({"model": "s", "prompt": "x", "max_tokens": 1}).encode()
            status, headers, data = raw_request(server.url, "POST", "/v1/completions", body,
                                                {"Content-Type": "application/json"})
            self.assertEqual(status, 429)
            self.assertGreaterEqual(int(headers["Retry-After"]), 1)
            self.assertEqual(json.loads(data)["error"]["code"], "queue_full")
            stream.close()
            # The slot comes back once the first request is gone.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if raw_request(server.url, "POST", "/v1/completions", body,
                               {"Content-Type": "application/json"})[0] == 200:
                    break
                time.sleep(0.05)
            else:
                self.fail("the queue never freed")

    def test_options_from_a_config_file(self):
        import tempfile
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write('[serve]\nmodel = "%s"\nserved-model-name = "from-file"\napi-key = ["k1", "k2"]\n'
                    'threads = 1\n' % STORIES)
        try:
            with ServerProcess(BINARY, ["--config", f.name]) as server:
                for key in ("k1", "k2"):
                    client = openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)
                    self.assertEqual([m.id for m in client.models.list().data], ["from-file"])
                with self.assertRaises(openai.AuthenticationError):
                    openai.OpenAI(base_url=server.url + "/v1", api_key="k3", max_retries=0).models.list()
        finally:
            os.unlink(f.name)

    def test_sigterm_drains_in_flight_requests(self):
        server = ServerProcess(BINARY, ["-m", STORIES, "-t", "1", "--served-model-name", "s"]).start()
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
        stream = client.completions.create(model="s", prompt="Once", max_tokens=150, temperature=0, stream=True,
                                           extra_body={"ignore_eos": True})
        first = next(iter(stream))
        server.terminate()
        text = first.choices[0].text + "".join(c.choices[0].text for c in stream if c.choices)
        self.assertGreater(len(text), 0)
        self.assertEqual(server.process.wait(timeout=30), 0)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", server.port), timeout=2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
