#!/usr/bin/env python3
"""A stand-in for the outage-monitor heartbeat endpoint, for testing clients.

Listens on 127.0.0.1 (port 0 = any free port, printed to the file given as
the first argument), accepts POST /api/v1/heartbeat, checks the key the way
the real server's contract says, and appends one JSON line per request to
the log file given as the second argument:
  {"path":..., "auth":..., "x_api_key":..., "content_type":..., "body":..., "status":...}

Behaviour knobs (environment):
  MOCK_KEY        the accepted key (default "test-key")
  MOCK_NEXT_IN_S  next_in_s in replies (default 30)
  MOCK_STATUS     force this HTTP status for every request (e.g. 503)

Stops by itself after MOCK_LIFETIME_S seconds (default 120).
"""

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KEY = os.environ.get("MOCK_KEY", "test-key")
NEXT_IN_S = int(os.environ.get("MOCK_NEXT_IN_S", "30"))
FORCED = os.environ.get("MOCK_STATUS")
LIFETIME_S = float(os.environ.get("MOCK_LIFETIME_S", "120"))
ALLOWED = {"boot_id": str, "uptime_s": int, "seq": int, "fw": str, "rssi": int}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output quiet
        pass

    def reply(self, status, obj, record):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        record["status"] = status
        with open(sys.argv[2], "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        record = {
            "path": self.path,
            "auth": self.headers.get("Authorization"),
            "x_api_key": self.headers.get("X-API-Key"),
            "content_type": self.headers.get("Content-Type"),
            "body": raw.decode("utf-8", "replace"),
        }
        if FORCED:
            return self.reply(int(FORCED), {"error": "forced"}, record)
        if self.path != "/api/v1/heartbeat":
            return self.reply(404, {"error": "not found"}, record)
        auth = self.headers.get("Authorization") or ""
        key = auth[7:] if auth.startswith("Bearer ") else self.headers.get("X-API-Key")
        if key != KEY:
            return self.reply(401, {"error": "unknown key"}, record)
        if len(raw) > 1024:
            return self.reply(413, {"error": "too large"}, record)
        if raw:
            if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
                return self.reply(415, {"error": "wrong content type"}, record)
            try:
                body = json.loads(raw)
            except ValueError:
                return self.reply(400, {"error": "malformed JSON"}, record)
            if not isinstance(body, dict):
                return self.reply(400, {"error": "not an object"}, record)
            # Like the real server: unknown fields are ignored, null is absent.
            for name, value in body.items():
                kind = ALLOWED.get(name)
                if kind is None or value is None:
                    continue
                if not isinstance(value, kind) or isinstance(value, bool):
                    return self.reply(400, {"error": f"{name}: wrong type"}, record)
                if kind is str and len(value) > 64:
                    return self.reply(400, {"error": f"{name}: too long"}, record)
        return self.reply(200, {"status": "up", "next_in_s": NEXT_IN_S}, record)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(sys.argv[1] + ".tmp", "w", encoding="utf-8") as f:
        f.write(str(server.server_address[1]))
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    threading.Timer(LIFETIME_S, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
