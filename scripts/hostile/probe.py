#!/usr/bin/env python3
"""What one hostile tenant's requests cost everyone else, measured against a running api.

Three probes, each while another tenant's `GET /v1/apps` and `/healthz` are timed every 100 ms:

  like       three viewer-key LIKE statements with a 125,002-character pattern (passed as an
             argument) over documents holding 250,000-character strings, on the compatibility path
  longpoll   120 change-feed long polls whose collection filter matches nothing, over an app with
             189,000 changes
  trickle    1,000 connections sending a header line every 5 s, counted after 45 s

Usage: probe.py URL HOSTILE_KEY HOSTILE_APP OTHER_KEY [like|longpoll|trickle ...]
(both keys owner keys of different organizations; scripts/hostile/run.sh starts a server and
runs every probe).  Standard library only.
"""

import json
import socket
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request

URL, KEY, APP, OTHER = sys.argv[1:5]
PROBES = sys.argv[5:] or ["like", "longpoll", "trickle"]


def call(method, path, key, body=None, timeout=120):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(URL + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        req.add_header("content-type", "application/json")
    started = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            status, text = res.status, res.read()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read()
    except Exception as e:  # timeouts, resets
        status, text = 0, str(e).encode()
    return status, text, time.monotonic() - started


class Bystander:
    """Another tenant timing its own requests while a probe runs."""

    def __init__(self):
        self.samples = {"GET /v1/apps": [], "GET /healthz": []}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            for name, path in (("GET /v1/apps", "/v1/apps"), ("GET /healthz", "/healthz")):
                _, _, took = call("GET", path, OTHER, timeout=60)
                self.samples[name].append(took)
            time.sleep(0.1)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.stop.set()
        self.thread.join()

    def report(self):
        for name, s in self.samples.items():
            if s:
                print(
                    f"  other tenant {name}: n={len(s)} p50={statistics.median(s)*1000:.1f} ms "
                    f"max={max(s)*1000:.1f} ms"
                )


def baseline():
    with Bystander() as b:
        time.sleep(3)
    print("baseline (nothing hostile running):")
    b.report()


def probe_like():
    status, text, _ = call("POST", "/v1/api-keys", KEY, {"name": "viewer", "role": "viewer"})
    viewer = json.loads(text)["key"]
    big = "a" * 250_000
    for i in range(3):
        status, text, _ = call(
            "POST",
            f"/v1/apps/{APP}/store/execute",
            KEY,
            {"statement": "INSERT INTO c DOCUMENTS (:d)", "args": {"d": {"_id": f"d{i}", "s": big}}},
        )
        assert status == 200, text
    # The pattern, then the costliest one under the length limit: `_` everywhere.
    for label, pattern in (
        ("125,002-character pattern", "%" + "a" * 125_000 + "b"),
        ("4,002-character pattern of `a_`", "%" + "a_" * 2_000 + "b"),
    ):
        results = []

        def hostile():
            results.append(
                call(
                    "POST",
                    f"/{APP}/api/v4/store/execute",
                    viewer,
                    {"statement": "SELECT _id FROM c WHERE s LIKE :p", "args": {"p": pattern}},
                )
            )

        with Bystander() as b:
            threads = [threading.Thread(target=hostile) for _ in range(3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            time.sleep(0.5)
        print(f"like: 3 LIKE statements at once, {label}, over 250,000-character strings")
        for status, text, took in results:
            code = json.loads(text).get("code", "") if text.startswith(b"{") else ""
            print(f"  hostile request: {status} {code} in {took*1000:.0f} ms")
        b.report()


def probe_longpoll():
    # 189,000 changes in the hostile tenant's app, in batches of 500.
    batch = 500
    for n in range(189_000 // batch):
        docs = [{"_id": f"n{n}-{i}"} for i in range(batch)]
        args = {f"d{i}": d for i, d in enumerate(docs)}
        statement = "INSERT INTO noise DOCUMENTS " + ", ".join(f"(:d{i})" for i in range(batch))
        status, text, _ = call("POST", f"/v1/apps/{APP}/store/execute", KEY, {"statement": statement, "args": args})
        assert status == 200, text
    keys = []
    for i in range(8):
        _, text, _ = call("POST", "/v1/api-keys", KEY, {"name": f"poller{i}", "role": "viewer"})
        keys.append(json.loads(text)["key"])
    results = []

    def poll(key):
        results.append(call("GET", f"/v1/apps/{APP}/store/changes?collections=nothing&wait=30", key, timeout=60))

    with Bystander() as b:
        threads = [threading.Thread(target=poll, args=(keys[i % 8],)) for i in range(120)]
        for t in threads:
            t.start()
        time.sleep(10)
        for t in threads:
            t.join()
    print("longpoll: 120 long polls (wait=30, a filter matching nothing) over 189,000 changes")
    by_status = {}
    for status, _, took in results:
        by_status.setdefault(status, []).append(took)
    for status, took in sorted(by_status.items()):
        print(f"  {len(took)} answered {status}, in {min(took)*1000:.0f}-{max(took)*1000:.0f} ms")
    b.report()


def probe_trickle():
    host, port = URL.removeprefix("http://").split(":")
    socks = []
    for _ in range(1000):
        s = socket.create_connection((host, int(port)))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    started = time.monotonic()
    with Bystander() as b:
        while time.monotonic() - started < 45:
            time.sleep(5)
            for i, s in enumerate(socks):
                if s is None:
                    continue
                try:
                    s.sendall(f"X-Trickle: {i}\r\n".encode())
                except OSError:
                    socks[i] = None
    still_open = 0
    for s in socks:
        if s is None:
            continue
        s.setblocking(False)
        try:
            still_open += 0 if s.recv(1) == b"" else 1
        except BlockingIOError:
            still_open += 1
        except OSError:
            pass
        s.close()
    print(f"trickle: 1,000 connections sending a header line every 5 s: {still_open} still open after 45 s")
    b.report()


baseline()
for p in PROBES:
    {"like": probe_like, "longpoll": probe_longpoll, "trickle": probe_trickle}[p]()
