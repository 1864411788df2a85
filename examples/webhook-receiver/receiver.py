#!/usr/bin/env python3
"""A minimal receiver for outage-monitor's webhook notifier (Python 3 standard library only).

It checks the X-Outage-Signature-256 header against the shared secret, drops repeats of a
delivery id (the monitor retries until it gets a 2xx, with the same id every time), and then
acts on the event: here it prints one JSON line per new event. Replace `act()` with what you
need (switch a relay, post to a chat, write to a database).

    WEBHOOK_SECRET_FILE=/etc/outage-hook-secret python3 receiver.py --port 8099

and in the monitor's config:

    [notifiers.webhook]
    url = "http://127.0.0.1:8099/outage"
    secret_file = "/etc/outage-hook-secret"

Run it behind TLS (a reverse proxy) when the monitor reaches it over the internet.
"""

import argparse
import hashlib
import hmac
import json
import os
import sys
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1 << 20
SEEN_IDS = 10_000


def load_secret():
    path = os.environ.get("WEBHOOK_SECRET_FILE")
    if path:
        with open(path, encoding="utf-8") as f:
            return f.read().rstrip("\r\n").encode()
    secret = os.environ.get("WEBHOOK_SECRET")
    return secret.encode() if secret else None


def signature_ok(secret, body, header):
    if secret is None:
        return True  # unsigned setup: accept everything (only on a trusted network)
    if not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.strip())


def act(event):
    """What to do with a new, verified event."""
    print(json.dumps(event, ensure_ascii=False), flush=True)


class Handler(BaseHTTPRequestHandler):
    secret = None
    seen = OrderedDict()

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return self.answer(413, "too large")
        body = self.rfile.read(length)
        if not signature_ok(self.secret, body, self.headers.get("X-Outage-Signature-256")):
            return self.answer(401, "bad signature")
        try:
            event = json.loads(body)
        except ValueError:
            return self.answer(400, "not JSON")
        if event.get("version") != 1:
            return self.answer(400, "unknown version")
        delivery = event.get("id")
        if delivery in self.seen:
            return self.answer(200, "repeat ignored")
        self.seen[delivery] = True
        while len(self.seen) > SEEN_IDS:
            self.seen.popitem(last=False)
        act(event)
        self.answer(200, "ok")

    def answer(self, status, text):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        sys.stderr.write("receiver: " + (fmt % args) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    args = parser.parse_args()
    Handler.secret = load_secret()
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    sys.stderr.write(f"receiver: listening on http://{args.host}:{server.server_port}\n")
    sys.stderr.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
