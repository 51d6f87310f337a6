"""The tracker against a small local HTTP server that answers as the test says (unittest, stdlib).

Run: python3 -m unittest discover -s clients/python/tests -t clients/python
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
import threading
import time
import unittest
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional

from modelwatch_client import Tracker, TrackerError, is_flat_row

WAIT = 10.0  # seconds: the most any wait of these tests takes before it fails
CLIENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Received:
    def __init__(self, path: str, headers: Dict[str, str], body: Dict[str, Any], at: float):
        self.path = path
        self.headers = headers
        self.body = body
        self.at = at
        #: what the server answered (None: the connection was closed without an answer)
        self.status: Optional[int] = None

    @property
    def key(self) -> str:
        return self.headers["Idempotency-Key"]


class FakeHost:
    """An HTTP server on a free port; ``answer(n, req)`` decides each answer: a status, or None to
    close the connection after reading the request (a reply lost on the way back)."""

    def __init__(self, answer: Optional[Callable[[int, Received], Optional[int]]] = None):
        self.requests: List[Received] = []
        self.answer = answer or (lambda n, r: 202)
        self.cond = threading.Condition()
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                req = Received(self.path, dict(self.headers), json.loads(raw), time.monotonic())
                with host.cond:
                    n = len(host.requests)
                    host.requests.append(req)
                    host.cond.notify_all()
                status = host.answer(n, req)
                req.status = status
                if status is None:
                    self.close_connection = True
                    return
                out = json.dumps({"accepted": len(req.body.get("events", [])), "rejected": []} if status < 300 else {"error": {"code": "X", "message": "no"}}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self.thread.start()

    def wait_requests(self, n: int) -> List[Received]:
        """Until the server has received n requests."""
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.requests) >= n, WAIT):
                raise AssertionError(f"waited {WAIT}s for {n} requests, got {len(self.requests)}")
            return list(self.requests)

    def accepted(self) -> Dict[str, Dict[str, Any]]:
        """The bodies answered 2xx, once per key (what the real host stores)."""
        return {r.key: r.body for r in self.requests if r.status is not None and r.status < 300}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class TrackerTest(unittest.TestCase):
    def setUp(self) -> None:
        self.trackers: List[Tracker] = []
        self.hosts: List[FakeHost] = []

    def tearDown(self) -> None:
        for t in self.trackers:
            t.close(timeout=1)
        for h in self.hosts:
            h.close()

    def host(self, answer: Optional[Callable[[int, Received], Optional[int]]] = None) -> FakeHost:
        h = FakeHost(answer)
        self.hosts.append(h)
        return h

    def tracker(self, url: str, **kw: Any) -> Tracker:
        kw.setdefault("endpoint", "churn")
        t = Tracker(url, **kw)
        self.trackers.append(t)
        return t

    def test_batches_of_batch_size_as_the_protocols_request_batch_each_under_its_own_key(self) -> None:
        h = self.host()
        t = self.tracker(h.url, batch_size=10, flush_interval=60)
        for i in range(25):
            t.track([[i, 2 * i]], [i % 2], request_id=f"r{i}", latency_micros=100 + i, when=1795797600000 + i)
        self.assertTrue(t.flush(WAIT))
        reqs = h.requests
        self.assertEqual([r.body["requests"]["count"] for r in reqs], [10, 10, 5])
        self.assertEqual({r.path for r in reqs}, {"/api/v1/endpoints/churn/events"})
        self.assertEqual(len({r.key for r in reqs}), 3)
        self.assertEqual(reqs[0].headers["Content-Type"], "application/json")
        first = reqs[0].body
        self.assertEqual(first["format"], "batch")
        self.assertEqual(first["samplingPercentage"], 100)
        self.assertEqual(first["requests"]["latencyMicros"], list(range(100, 110)))
        self.assertEqual(first["requests"]["firstWhen"], 1795797600000)
        self.assertEqual(first["requests"]["lastWhen"], 1795797600009)
        self.assertEqual(first["requests"]["dropped"], 0)
        self.assertEqual(first["events"][3], {"when": 1795797600003, "latencyMicros": 103, "inputs": [[3, 6]], "outputs": [1], "requestId": "r3"})
        self.assertEqual(t.stats().as_dict(), {"tracked": 25, "sampled_rows": 25, "delivered": 25, "batches": 3, "dropped": 0, "rejected": 0, "buffered": 0, "failures": 0})

    def test_a_latency_the_host_would_refuse_stays_out_of_the_batch_counts(self) -> None:
        h = self.host()
        t = self.tracker(h.url, flush_interval=60)
        for lat in (5, -1, float("nan"), float("inf"), 1e308, 3_600_000_000, 3_600_000_001):
            t.track([[1, 2]], [0], latency_micros=lat)
        self.assertTrue(t.flush(WAIT))
        self.assertEqual(h.requests[0].body["requests"]["latencyMicros"], [5, 3_600_000_000])
        self.assertEqual(h.requests[0].body["requests"]["count"], 7)

    def test_a_time_the_host_would_refuse_stays_out_of_the_batch_first_and_last(self) -> None:
        h = self.host()
        t = self.tracker(h.url, batch_size=3, flush_interval=60)
        t.track([[1, 2]], [0], when=1795797600000)
        t.track([[1, 2]], [0], when=1e300)
        t.track([[1, 2]], [0], when=-5)
        t.track([[1, 2]], [0], when=1e300)
        self.assertTrue(t.flush(WAIT))
        first, second = (r.body["requests"] for r in h.requests)
        self.assertEqual((first["firstWhen"], first["lastWhen"], first["count"]), (1795797600000, 1795797600000, 3))
        # no request with a time the host takes: none given
        self.assertNotIn("firstWhen", second)
        self.assertNotIn("lastWhen", second)

    def test_sends_what_is_tracked_every_flush_interval_without_flush(self) -> None:
        h = self.host()
        t = self.tracker(h.url, flush_interval=0.05)
        t.track([[1.0, 2.0]], [0])
        [r] = h.wait_requests(1)
        self.assertEqual(r.body["requests"]["count"], 1)
        t.track([[3.0, 4.0]], [1])
        reqs = h.wait_requests(2)
        self.assertEqual(reqs[1].body["events"][0]["inputs"], [[3.0, 4.0]])

    def test_retries_5xx_and_connection_errors_under_the_same_key_with_growing_backoff(self) -> None:
        # 503, 500, a reply lost (the connection closed after the request was read), then 202
        answers = {0: 503, 1: 500, 2: None}
        h = self.host(lambda n, r: answers.get(n, 202))
        errors: List[TrackerError] = []
        t = self.tracker(h.url, backoff_initial=0.05, backoff_max=1, on_error=errors.append, flush_interval=60)
        t.track([[1, 2]], [0], request_id="a")
        self.assertTrue(t.flush(WAIT))
        reqs = h.requests
        self.assertEqual(len(reqs), 4)
        self.assertEqual(len({r.key for r in reqs}), 1, "every attempt of a batch carries its key")
        self.assertEqual({json.dumps(r.body) for r in reqs}.__len__(), 1, "and the same body")
        self.assertEqual([e.code for e in errors], ["SEND_FAILED"] * 3)
        self.assertEqual([e.status for e in errors], [503, 500, None])
        # waits between attempts: half fixed, half random, doubling: [b/2, b], [b, 2b], [2b, 4b]
        gaps = [b.at - a.at for a, b in zip(reqs, reqs[1:])]
        self.assertGreaterEqual(gaps[0], 0.025)
        self.assertGreaterEqual(gaps[1], 0.05)
        self.assertGreaterEqual(gaps[2], 0.1)
        self.assertEqual(t.stats().as_dict(), {"tracked": 1, "sampled_rows": 1, "delivered": 1, "batches": 1, "dropped": 0, "rejected": 0, "buffered": 0, "failures": 3})

    def test_a_4xx_is_not_retried_the_batch_counts_as_rejected_and_the_next_one_goes(self) -> None:
        h = self.host(lambda n, r: 400 if n == 0 else 202)
        errors: List[TrackerError] = []
        t = self.tracker(h.url, batch_size=1, backoff_initial=0.01, on_error=errors.append)
        t.track([[1, 2]], [0])
        t.track([[3, 4]], [0])
        self.assertTrue(t.flush(WAIT))
        self.assertEqual(len(h.requests), 2)
        self.assertNotEqual(h.requests[0].key, h.requests[1].key)
        self.assertEqual([(e.code, e.status) for e in errors], [("REJECTED", 400)])
        st = t.stats()
        self.assertEqual((st.delivered, st.rejected, st.failures, st.buffered), (1, 1, 0, 0))

    def test_429_and_408_are_retried(self) -> None:
        answers = {0: 429, 1: 408}
        h = self.host(lambda n, r: answers.get(n, 202))
        t = self.tracker(h.url, backoff_initial=0.01)
        t.track([[1]], [0])
        self.assertTrue(t.flush(WAIT))
        self.assertEqual(len(h.requests), 3)
        self.assertEqual(t.stats().delivered, 1)

    def test_holds_at_most_max_buffered_events_drops_the_oldest_counts_them_and_reports_them_to_the_host(self) -> None:
        down = threading.Event()
        down.set()
        h = self.host(lambda n, r: 503 if down.is_set() else 202)
        errors: List[TrackerError] = []
        seen: List[int] = []

        def on_error(e: TrackerError) -> None:
            errors.append(e)
            seen.append(t.stats().dropped)  # on_error may read the counters (it runs under the tracker's lock)

        t = self.tracker(h.url, batch_size=5, max_buffered_events=20, backoff_initial=0.01, backoff_max=0.05, on_error=on_error)
        for i in range(100):
            t.track([[i]], [0])
        st = t.stats()
        self.assertLessEqual(st.buffered, 20)
        self.assertEqual(st.dropped, 100 - st.buffered)
        self.assertTrue(any(e.code == "DROPPED" for e in errors))
        self.assertEqual(len(seen), len(errors))
        down.clear()
        self.assertTrue(t.flush(WAIT))
        st = t.stats()
        self.assertEqual((st.tracked, st.buffered), (100, 0))
        self.assertEqual(st.delivered + st.dropped, 100)
        # what the host took: each batch once (by key), the dropped requests reported
        took = h.accepted()
        self.assertEqual(sum(b["requests"]["count"] for b in took.values()), st.delivered)
        self.assertEqual(sum(b["requests"]["dropped"] for b in took.values()), st.dropped)
        self.assertEqual(sum(len(b["events"]) for b in took.values()), st.delivered)

    def test_samples_each_row_with_probability_p_as_mlrun_and_counts_every_request(self) -> None:
        h = self.host()
        t = self.tracker(h.url, sampling_percentage=20, batch_size=100, random=random.Random(3).random)
        total_rows = 0
        for i in range(1000):
            n = 1 + i % 3
            total_rows += n
            t.track([[i, k] for k in range(n)], [i % 2] * n, request_id=f"q{i}", latency_micros=100 + i)
        for _ in range(20):
            t.track([[0, 0]], error=RuntimeError("model crashed"), latency_micros=50)
        self.assertTrue(t.flush(WAIT))
        st = t.stats()
        self.assertEqual((st.tracked, st.delivered, st.dropped, st.buffered), (1020, 1020, 0, 0))
        self.assertGreater(st.sampled_rows, total_rows * 0.15)
        self.assertLess(st.sampled_rows, total_rows * 0.25)
        bodies = [r.body for r in h.requests]
        events = [e for b in bodies for e in b["events"]]
        self.assertEqual(len(events), st.sampled_rows)
        self.assertEqual(sum(b["requests"]["count"] for b in bodies), 1020)
        self.assertEqual(sum(b["requests"]["errors"] for b in bodies), 20)
        self.assertEqual(sum(len(b["requests"]["latencyMicros"]) for b in bodies), 1020)
        self.assertEqual(sum(b["requests"]["effectiveSampleCount"] for b in bodies), st.sampled_rows)
        self.assertEqual({b["samplingPercentage"] for b in bodies}, {20})
        # a kept row of a multi-row request: that row alone, its output, the id <id>#<row>
        multi = [e for e in events if "#" in e["requestId"]]
        self.assertTrue(multi)
        for e in multi:
            i, k = (int(x) for x in e["requestId"][1:].split("#"))
            self.assertEqual(e["inputs"], [[i, k]])
            self.assertEqual(e["outputs"], [i % 2])
        single = [e for e in events if "#" not in e["requestId"]]
        self.assertTrue(all(int(e["requestId"][1:]) % 3 == 0 for e in single))

    def test_one_row_written_flat_is_sampled_whole(self) -> None:
        h = self.host()
        t = self.tracker(h.url, sampling_percentage=50, random=lambda: 0.0)
        for i in range(10):
            t.track([i, 1], i % 2, request_id=f"f{i}")
        self.assertTrue(t.flush(WAIT))
        events = [e for r in h.requests for e in r.body["events"]]
        self.assertEqual(events[3], {"when": events[3]["when"], "inputs": [[3, 1]], "outputs": 1, "requestId": "f3"})
        self.assertEqual(t.stats().sampled_rows, 10)
        self.assertTrue(is_flat_row([5.1, None, "a"]))
        self.assertFalse(is_flat_row([[5.1], [4.9]]))
        self.assertFalse(is_flat_row([]))

    def test_nan_is_sent_as_null_arrays_as_lists_data_frames_and_dicts_as_rows_by_name(self) -> None:
        class Array:  # what numpy arrays and scalars offer
            def __init__(self, v: Any):
                self.v = v

            def tolist(self) -> Any:
                return self.v

        class Frame:  # what a pandas DataFrame offers
            columns = ["age", "income"]

            def to_dict(self, orient: str) -> Any:
                assert orient == "records"
                return [{"age": 42, "income": 55000.0}, {"age": 37, "income": math.nan}]

        h = self.host()
        t = self.tracker(h.url)
        t.track(Array([[1.5, math.nan]]), Array([0.25]), when="2026-11-27T10:00:00Z")
        t.track([[Array(2.0), math.inf]], [0])
        t.track(Frame(), [0, 1])
        t.track({"age": 51, "income": 1.0}, 1)
        self.assertTrue(t.flush(WAIT))
        events = h.requests[0].body["events"]
        self.assertEqual(events[0]["inputs"], [[1.5, None]])
        self.assertEqual(events[0]["outputs"], [0.25])
        self.assertEqual(events[0]["when"], 1795773600000)
        self.assertEqual(events[1]["inputs"], [[2.0, None]])
        self.assertEqual(events[2]["inputs"], [{"age": 42, "income": 55000.0}, {"age": 37, "income": None}])
        self.assertEqual(events[3]["inputs"], [{"age": 51, "income": 1.0}])
        self.assertEqual(t.stats().sampled_rows, 5)

    def test_close_gives_up_after_its_timeout_and_counts_what_is_left_as_dropped(self) -> None:
        h = self.host(lambda n, r: 503)
        t = self.tracker(h.url, backoff_initial=0.01, backoff_max=0.02)
        for i in range(7):
            t.track([[i]], [0])
        self.assertFalse(t.flush(0.1))
        t.close(timeout=0.2)
        st = t.stats()
        self.assertEqual((st.tracked, st.delivered, st.dropped, st.buffered), (7, 0, 7, 0))
        self.assertGreater(st.failures, 0)
        t.track([[1]], [0])  # ignored after close
        self.assertEqual(t.stats().tracked, 7)

    def test_close_sends_what_is_tracked_and_context_manager_closes(self) -> None:
        h = self.host()
        with Tracker(h.url, endpoint="churn", flush_interval=60) as t:
            t.track([[1]], [0])
        self.assertEqual(len(h.requests), 1)
        self.assertEqual(t.stats().delivered, 1)

    def test_a_tracker_not_closed_sends_what_it_holds_at_interpreter_exit(self) -> None:
        h = self.host()
        code = f"""
import sys; sys.path.insert(0, {CLIENT!r})
from modelwatch_client import Tracker
t = Tracker({h.url!r}, endpoint="churn", flush_interval=60)
t.track([[1, 2]], [0], request_id="at-exit")
"""
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=WAIT)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([e["requestId"] for q in h.requests for e in q.body["events"]], ["at-exit"])

    @unittest.skipUnless(hasattr(os, "fork"), "fork() is POSIX")
    def test_after_fork_the_child_tracks_and_sends_with_its_own_thread_and_keys(self) -> None:
        h = self.host()
        t = self.tracker(h.url, flush_interval=60)
        t.track([[1]], [0], request_id="parent")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork() of a process with threads
            pid = os.fork()
        if pid == 0:  # the child: what the parent held is the parent's; its own request goes
            ok = False
            try:
                t.track([[2]], [0], request_id="child")
                ok = t.flush(WAIT) and t.stats().as_dict() == {"tracked": 1, "sampled_rows": 1, "delivered": 1, "batches": 1, "dropped": 0, "rejected": 0, "buffered": 0, "failures": 0}
            finally:
                os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)
        self.assertTrue(t.flush(WAIT))
        self.assertEqual(t.stats().delivered, 1)
        ids = sorted(e["requestId"] for q in h.requests for e in q.body["events"])
        self.assertEqual(ids, ["child", "parent"])
        self.assertEqual(len({q.key for q in h.requests}), 2)

    def test_refuses_bad_options(self) -> None:
        with self.assertRaisesRegex(ValueError, "not a valid endpoint name"):
            Tracker("http://localhost:7077", endpoint="no spaces")
        for p in (0, 0.0005, 101, -1, True):
            with self.assertRaisesRegex(ValueError, "sampling_percentage"):
                Tracker("http://localhost:7077", endpoint="churn", sampling_percentage=p)
        with self.assertRaisesRegex(ValueError, "url"):
            Tracker("ftp://x", endpoint="churn")

    def test_url_from_modelwatch_host_and_extra_headers(self) -> None:
        import os

        h = self.host()
        old = os.environ.get("MODELWATCH_HOST")
        os.environ["MODELWATCH_HOST"] = h.url.replace("http://", "")
        try:
            t = self.tracker(None, headers={"Authorization": "Bearer t0k"})
        finally:
            if old is None:
                del os.environ["MODELWATCH_HOST"]
            else:
                os.environ["MODELWATCH_HOST"] = old
        t.track([[1]], [0])
        self.assertTrue(t.flush(WAIT))
        self.assertEqual(h.requests[0].headers["Authorization"], "Bearer t0k")

    def test_token_as_a_bearer_token_from_the_option_or_modelwatch_token(self) -> None:
        import os

        h = self.host()
        old = os.environ.get("MODELWATCH_TOKEN")
        os.environ["MODELWATCH_TOKEN"] = "mw_from-env"
        try:
            from_env = self.tracker(h.url, endpoint="churn")
            given = self.tracker(h.url, endpoint="churn", token="mw_given")
        finally:
            if old is None:
                del os.environ["MODELWATCH_TOKEN"]
            else:
                os.environ["MODELWATCH_TOKEN"] = old
        from_env.track([[1]], [0])
        self.assertTrue(from_env.flush(WAIT))
        given.track([[1]], [0])
        self.assertTrue(given.flush(WAIT))
        self.assertEqual(sorted(r.headers["Authorization"] for r in h.requests), ["Bearer mw_from-env", "Bearer mw_given"])


if __name__ == "__main__":
    unittest.main()
