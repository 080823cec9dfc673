"""The Python peer of `npm run bench -- --serve`: what a user would write to serve the same weights with transformers.
A stdlib threaded http.server around transformers.pipeline("text-classification", function_to_apply="sigmoid",
top_k=None), POST /predict {"inputs": "text"} -> [{"label", "score"}, ...] (every label, best first), GET /health.
The pipeline call is behind a lock: a fast tokenizer's truncation settings are not thread-safe ("Already borrowed")
and torch already uses every core for one call, so serialising is also the faster choice on a small CPU.
usage: python bench/serve_hf.py MODEL_DIR PORT [--threads N] [--bf16]"""
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch
from transformers import pipeline

model_dir, port = sys.argv[1], int(sys.argv[2])
threads = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 2
bf16 = "--bf16" in sys.argv
torch.set_num_threads(threads)
pipe = pipeline("text-classification", model=model_dir, function_to_apply="sigmoid", top_k=None, device="cpu",
                model_kwargs={"attn_implementation": "sdpa"})
lock = threading.Lock()


def classify(text):
    with lock, torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = pipe(text, truncation=True)
    return out[0] if out and isinstance(out[0], list) else out  # transformers 5 wraps one text's list in a list


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the Node server

    def log_message(self, *args):
        pass

    def handle(self):
        try:
            super().handle()
        except ConnectionResetError:  # a client closed its keep-alive connection
            pass

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.reply(200, {"status": "ok"}) if self.path == "/health" else self.reply(404, {"error": "not found"})

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        try:
            text = json.loads(self.rfile.read(n))["inputs"]
            if not isinstance(text, str):
                raise ValueError("inputs must be a text")
        except Exception as e:  # noqa: BLE001
            return self.reply(422, {"error": str(e)})
        self.reply(200, classify(text))


classify("warm-up")
server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
server.daemon_threads = True
print(f"listening on http://127.0.0.1:{port}", flush=True)
server.serve_forever()
