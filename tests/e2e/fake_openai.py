#!/usr/bin/env python3
"""A small OpenAI-compatible server for the HTTP runner's tests (standard library only).

/v1/models lists one model; /v1/completions echoes prompts with made-up but
deterministic log-probs (a function of each token and the one before it), so
that a run's numbers do not depend on batching, order or endpoint. Text
prompts are split into words with their leading spaces (text_offset as the
OpenAI API gives it), or with --trailing-space with their trailing ones (a
token then spans every context's end before a " continuation"); token-id prompts are scored as given. Generation
returns a fixed function of the prompt.

/v1/chat/completions answers the same function of the messages (as
JSON); "stream": true answers either as server-sent events, the text in two
chunks --chunk-delay seconds apart. --sse-fault cut ends a stream without
[DONE], --sse-fault badjson sends a chunk that is not JSON; --ignore-stream
answers one JSON object anyway, as a server without streaming would. --log-bodies
receives every chat and completions body, one JSON line each.

Faults for the tests: --fail-first N answers the first N completions with
--fail-code (429 with Retry-After: 0), --hang never answers them, --die-after
N exits abruptly after answering N of them. --port-file receives the port
(bind to port 0); --log receives one line per completions request (status,
prompts, whether the Authorization header matched $FAKE_EXPECT_KEY).
"""
import argparse
import json
import os
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {"seen": 0}


def lp_of(prev, tok):
    h = (hash_str(prev) * 31 + hash_str(tok)) % 997
    return -0.05 - h / 100.0


def top_of(prev, tok):
    alt = -0.5 - (hash_str(prev) % 50) / 10.0
    return {str(tok): lp_of(prev, tok), "<alt>": alt}


def hash_str(x):
    h = 0
    for ch in str(x):
        h = (h * 131 + ord(ch)) % 1000003
    return h


def split_text(text):
    pattern = r"^\s+|\S+\s*" if ARGS.trailing_space else r"\s*\S+|\s+$"
    return [(m.start(), m.group(0)) for m in re.finditer(pattern, text)]


def echo_logprobs(prompt, max_tokens):
    if isinstance(prompt, str):
        toks = split_text(prompt)
        offsets = [o for o, _ in toks]
        toks = [t for _, t in toks]
        end = len(prompt)
    else:
        toks, offsets, end = list(prompt), list(range(len(prompt))), len(prompt)
    lps, tops = [None], [None]
    for i in range(1, len(toks)):
        lps.append(lp_of(toks[i - 1], toks[i]))
        tops.append(top_of(toks[i - 1], toks[i]))
    names = [str(t) for t in toks]
    for _ in range(max_tokens):
        names.append(" gen")
        lps.append(-0.5)
        tops.append({" gen": -0.5})
        offsets.append(end)
    return {"tokens": names, "token_logprobs": lps, "top_logprobs": tops, "text_offset": offsets}


def generate(body):
    prompt = body.get("prompt")
    if "messages" in body:
        key = json.dumps(body["messages"], sort_keys=True)
    else:
        key = prompt if isinstance(prompt, str) else ",".join(map(str, prompt))
    text = " answer %d.\n\nQuestion: more" % (hash_str(key) % 10)
    stops = body.get("stop") or []
    finish = "length"
    for s in stops:
        i = text.find(s)
        if i >= 0:
            text, finish = text[:i], "stop"
    return {"text": text, "index": 0, "finish_reason": finish, "logprobs": None}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def reply(self, code, obj, headers=()):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def sse(self, body, chat):
        """The generated text as server-sent events, two text chunks."""
        ch = generate(body)
        text, finish = ch["text"], ch["finish_reason"]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        def piece(t, fin=None):
            c = {"index": 0, "finish_reason": fin}
            if chat:
                c["delta"] = {"content": t} if t is not None else {}
            else:
                c["text"] = t or ""
            return {"choices": [c]}
        events = []
        if chat:
            events.append({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
        half = len(text) // 2
        events += [piece(text[:half]), piece(text[half:]), piece(None, finish)]
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 5}})
        for i, ev in enumerate(events):
            data = json.dumps(ev)
            if ARGS.sse_fault == "badjson" and i == 1:
                data = data[: len(data) // 2]
            self.wfile.write(("data: %s\r\n\r\n" % data).encode())
            self.wfile.flush()
            time.sleep(ARGS.chunk_delay)
        if ARGS.sse_fault != "cut":
            self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True

    def do_GET(self):
        if self.path.rstrip("/") == "/v1/models":
            m = ARGS.model
            self.reply(200, {"object": "list", "data": [{"id": m, "object": "model", "root": "/fake/" + m,
                                                         "created": int(time.time()), "max_model_len": 512}]})
        else:
            self.reply(404, {"error": {"message": "no such path"}})

    def log(self, status, n):
        if ARGS.log:
            want = os.environ.get("FAKE_EXPECT_KEY")
            auth = self.headers.get("Authorization", "")
            ok = "key-ok" if want and auth == "Bearer " + want else "key-none" if not auth else "key-bad"
            with LOCK, open(ARGS.log, "a") as f:
                f.write("%d %d %s\n" % (status, n, ok))

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path not in ("/v1/completions", "/v1/chat/completions"):
            return self.reply(404, {"error": {"message": "no such path"}})
        chat = self.path == "/v1/chat/completions"
        if ARGS.log_bodies:
            with LOCK, open(ARGS.log_bodies, "a") as f:
                f.write(json.dumps({"path": self.path, "body": body}) + "\n")
        if body.get("model") != ARGS.model:
            return self.reply(404, {"error": {"message": "model %r does not exist" % body.get("model")}})
        with LOCK:
            STATE["seen"] += 1
            seen = STATE["seen"]
        if ARGS.hang:
            time.sleep(3600)
        if chat:
            if body.get("stream") and not ARGS.ignore_stream:
                return self.sse(body, True)
            ch = generate(body)
            msg = {"index": 0, "message": {"role": "assistant", "content": ch["text"]}, "finish_reason": ch["finish_reason"]}
            return self.reply(200, {"choices": [msg], "usage": {"prompt_tokens": 3, "completion_tokens": 5}})
        if body.get("stream") and not ARGS.ignore_stream:
            return self.sse(body, False)
        prompts = body["prompt"] if isinstance(body["prompt"], list) and body["prompt"] and \
            isinstance(body["prompt"][0], (str, list)) else [body["prompt"]]
        if seen <= ARGS.fail_first:
            self.log(ARGS.fail_code, len(prompts))
            return self.reply(ARGS.fail_code, {"error": {"message": "busy"}},
                              [("Retry-After", "0")] if ARGS.fail_code == 429 else [])
        if ARGS.die_after and seen > ARGS.die_after:
            os._exit(1)
        self.log(200, len(prompts))
        if body.get("echo"):
            choices = [{"index": i, "text": "", "finish_reason": "length",
                        "logprobs": echo_logprobs(p, body.get("max_tokens", 0))} for i, p in enumerate(prompts)]
            n = sum(len(p) if isinstance(p, list) else len(split_text(p)) for p in prompts)
            return self.reply(200, {"choices": choices, "usage": {"prompt_tokens": n, "completion_tokens": 0}})
        ch = generate(body)
        self.reply(200, {"choices": [ch], "usage": {"prompt_tokens": 3, "completion_tokens": 5}})


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--model", default="fake-model")
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--fail-code", type=int, default=429)
    ap.add_argument("--hang", action="store_true")
    ap.add_argument("--die-after", type=int, default=0)
    ap.add_argument("--log")
    ap.add_argument("--log-bodies")
    ap.add_argument("--sse-fault", choices=["none", "cut", "badjson"], default="none")
    ap.add_argument("--chunk-delay", type=float, default=0.0)
    ap.add_argument("--ignore-stream", action="store_true")
    ap.add_argument("--trailing-space", action="store_true")
    ARGS = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    srv.daemon_threads = True
    srv.handle_error = lambda *a: None  # a client that gave up on a request is no error here
    if ARGS.port_file:
        with open(ARGS.port_file + ".tmp", "w") as f:
            f.write(str(srv.server_address[1]))
        os.replace(ARGS.port_file + ".tmp", ARGS.port_file)
    sys.stdout.flush()
    srv.serve_forever()


if __name__ == "__main__":
    main()
