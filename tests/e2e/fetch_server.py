#!/usr/bin/env python3
"""A static HTTP server for the fetch tests (standard library only).

Serves ROOT with HTTP Range support (http.server has none), so that resumed
downloads are really resumed. With --cut N, the first response (only that
one) stops after N bytes of its body and drops the connection: a truncated
download. Writes the port it listens on to PORTFILE and logs each request's
path and Range header to ROOT/../requests.log.
Usage: fetch_server.py ROOT PORTFILE [--cut N]
"""
import http.server
import os
import sys

ROOT, PORTFILE = sys.argv[1], sys.argv[2]
CUT = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--cut" else None
LOG = os.path.join(os.path.dirname(os.path.abspath(ROOT)), "requests.log")
cut_done = []


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        path = os.path.join(ROOT, self.path.lstrip("/"))
        rng = self.headers.get("Range")
        with open(LOG, "a") as log:
            log.write(f"{self.path} {rng or '-'}\n")
        if not os.path.isfile(path):
            self.send_error(404)
            return
        data = open(path, "rb").read()
        start = 0
        if rng and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if CUT is not None and not cut_done:
            cut_done.append(self.path)
            self.wfile.write(body[:CUT])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(PORTFILE + ".tmp", PORTFILE)
server.serve_forever()
