"""The tracker: what ``@modelwatch/tracker`` does for Node model servers, over HTTP."""

from __future__ import annotations

import atexit
import datetime as _dt
import http.client
import json
import math
import os
import random as _random
import re
import threading
import time
import uuid
import weakref
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence
from urllib.parse import quote, urlsplit

__all__ = ["Tracker", "TrackerError", "TrackerStats", "is_flat_row"]

#: Endpoint names, as the host checks them (protocol's ``ENDPOINT_NAME``).
ENDPOINT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")

#: The host's range of a sampling percentage and the longest latency it takes, in µs (protocol's
#: ``MIN_SAMPLING_PERCENTAGE`` and ``MAX_LATENCY_MICROS``).
MIN_SAMPLING_PERCENTAGE = 0.001
MAX_LATENCY_MICROS = 3_600_000_000
#: The latest time the host takes, in ms since the epoch (a JavaScript ``Date``'s range).
MAX_TIME_MS = 8.64e15

#: Statuses that are worth a retry: the host or a proxy in front of it failed, not the request.
RETRY_STATUSES = frozenset({408, 429})


class TrackerError(Exception):
    """What the tracker reports to ``on_error``: ``code`` says what happened.

    Codes: ``SEND_FAILED`` (a batch could not be sent: connection error, timeout or 5xx; it is
    retried), ``REJECTED`` (the host refused a batch with a 4xx; not retried, its requests count
    as ``rejected``), ``DROPPED`` (the queue was full, or ``close`` gave up: the oldest requests
    were dropped and counted).
    """

    def __init__(self, code: str, message: str, status: Optional[int] = None):
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass
class TrackerStats:
    """Counters of a tracker, as ``@modelwatch/tracker``'s ``stats()``."""

    #: Requests tracked.
    tracked: int = 0
    #: Rows kept by sampling.
    sampled_rows: int = 0
    #: Requests whose batch the host accepted (HTTP 202).
    delivered: int = 0
    #: Batches accepted.
    batches: int = 0
    #: Requests dropped: the queue was full while the host could not be reached, or close() gave up.
    dropped: int = 0
    #: Requests of batches the host refused with a 4xx (not retried).
    rejected: int = 0
    #: Requests held now (the open batch and the batches waiting to be sent).
    buffered: int = 0
    #: Failed send attempts (each retried).
    failures: int = 0

    def as_dict(self) -> Dict[str, int]:
        return asdict(self)


def is_flat_row(inputs: Sequence[Any]) -> bool:
    """Whether ``inputs`` is one row written flat (a non-empty list of scalars), as MLRun reads it.

    ``[5.1, 3.5]`` is one row of two values; ``[[5.1, 3.5], [4.9, 3.0]]`` two rows.
    The protocol's ``isFlatRow``.
    """
    if len(inputs) == 0:
        return False
    return all(not isinstance(v, (list, tuple, dict)) for v in inputs)


def _plain(value: Any) -> Any:
    """numpy arrays and scalars (or anything with ``tolist``/``item``) as lists and numbers."""
    if isinstance(value, (list, dict, str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    return value


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, (_dt.datetime, _dt.date)):
        return o.isoformat()
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


def _finite(v: Any) -> Any:
    """NaN and infinities are not JSON: sent as null (a missing value)."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, list):
        return [_finite(x) for x in v]
    if isinstance(v, tuple):
        return [_finite(x) for x in v]
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if hasattr(v, "tolist") or hasattr(v, "item"):
        return _finite(_json_default(v))
    return v


def _encode(body: Any) -> bytes:
    try:
        text = json.dumps(body, separators=(",", ":"), allow_nan=False, default=_json_default)
    except ValueError:
        text = json.dumps(_finite(body), separators=(",", ":"), allow_nan=False, default=_json_default)
    return text.encode("utf-8")


def _to_ms(when: Any) -> float:
    """Event time in ms since the epoch (whole ms, as the host files rows)."""
    if when is None:
        return time.time_ns() // 1_000_000
    if isinstance(when, _dt.datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=_dt.timezone.utc)  # naive: UTC, as MLRun writes it
        return round(when.timestamp() * 1000)
    if isinstance(when, (int, float)) and not isinstance(when, bool):
        return float(when)
    if isinstance(when, str):
        return _to_ms(_dt.datetime.fromisoformat(when.replace("Z", "+00:00")))
    raise TypeError(f"when: a datetime, ms since the epoch or an ISO 8601 string, got {type(when).__name__}")


class _OpenBatch:
    __slots__ = ("rows", "requests", "errors", "latencies", "events", "first_when", "last_when")

    def __init__(self, when: Optional[float] = None):
        self.rows = 0
        self.requests = 0
        self.errors = 0
        self.latencies: List[float] = []
        self.events: List[Dict[str, Any]] = []
        # earliest and latest time of its requests (none yet: inf and -inf)
        self.first_when = math.inf if when is None else when
        self.last_when = -math.inf if when is None else when


class _SealedBatch:
    __slots__ = ("seq", "requests", "reports", "payload", "key")

    def __init__(self, seq: int, requests: int, reports: int, payload: bytes, key: str):
        self.seq = seq
        self.requests = requests
        #: dropped requests this batch reports (reported again by a later batch if this one is dropped)
        self.reports = reports
        self.payload = payload
        self.key = key


_live: "weakref.WeakSet[Tracker]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:  # runs at interpreter exit
    for t in list(_live):
        t.close(timeout=t.exit_timeout)


def _after_fork_in_child() -> None:
    for t in list(_live):
        t._restart_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Tracker:
    """Batches, samples and sends a model server's requests to a modelwatch host over HTTP.

    Tracking starts at once; a background thread sends what is tracked (every ``batch_size``
    requests, and at least every ``flush_interval`` seconds) as the protocol's request batch to
    ``POST /api/v1/endpoints/{endpoint}/events``, each batch under its own ``Idempotency-Key``, so
    a batch sent again (after a timeout or a lost reply) is stored once.

    Args:
        url: the host's address. Default: ``$MODELWATCH_HOST``, else ``http://localhost:7077``.
        endpoint: the modelwatch endpoint the events go to.
        sampling_percentage: share of rows kept, 0.001 <= p <= 100 (MLRun's ``sampling_percentage``:
            each input row is kept with probability p/100). Every request is counted all the same.
        batch_size: requests per batch (one HTTP request).
        flush_interval: send what is tracked at least this often, in seconds.
        max_buffered_events: most requests held while the host cannot be reached; beyond it the
            oldest batches are dropped, counted in ``stats().dropped`` and reported to the host.
        timeout: seconds one HTTP request may take.
        backoff_initial, backoff_max: seconds before the first retry of a batch, and the most;
            the wait doubles after each failure, with jitter (half fixed, half random).
        token: the API token (a token with the ``ingest`` scope), sent as
            ``Authorization: Bearer <token>``. Default: ``$MODELWATCH_TOKEN``; none when unset
            (a host run with ``--insecure-local``).
        headers: extra HTTP headers of every request.
        on_error: called with a ``TrackerError`` when a batch fails (it is retried), is refused,
            or requests are dropped. Called from the tracker's thread (or from ``track`` for a
            drop) with the tracker's lock held: it may call ``stats()``, and must not block.
        random: random numbers in [0, 1) for sampling (``random.random`` by default).
        exit_timeout: at interpreter exit, a tracker not closed is closed with this timeout.
    """

    def __init__(
        self,
        url: Optional[str] = None,
        *,
        endpoint: str,
        sampling_percentage: float = 100,
        batch_size: int = 1000,
        flush_interval: float = 1.0,
        max_buffered_events: int = 100_000,
        timeout: float = 5.0,
        backoff_initial: float = 0.25,
        backoff_max: float = 5.0,
        token: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
        on_error: Optional[Callable[[TrackerError], None]] = None,
        random: Optional[Callable[[], float]] = None,
        exit_timeout: float = 5.0,
    ):
        if not isinstance(endpoint, str) or not ENDPOINT_NAME.match(endpoint):
            raise ValueError(f"endpoint: '{endpoint}' is not a valid endpoint name")
        p = sampling_percentage
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not (MIN_SAMPLING_PERCENTAGE <= p <= 100):
            raise ValueError(f"sampling_percentage: expected {MIN_SAMPLING_PERCENTAGE} <= p <= 100, got {p!r}")
        url = url or os.environ.get("MODELWATCH_HOST") or "http://localhost:7077"
        if "://" not in url:
            url = f"http://{url}"
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url: expected http(s)://host[:port], got '{url}'")
        self._scheme = parts.scheme
        self._netloc = parts.netloc
        self._path = f"{parts.path.rstrip('/')}/api/v1/endpoints/{quote(endpoint, safe='')}/events"
        self.url = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self._target = f"{parts.scheme}://{parts.netloc}{self._path}"
        self.endpoint = endpoint
        self._p = float(p)
        self._batch_size = max(1, int(batch_size))
        self._flush_interval = max(0.01, float(flush_interval))
        self._max_buffered = max(self._batch_size, int(max_buffered_events))
        self._timeout = float(timeout)
        self._backoff_initial = max(0.001, float(backoff_initial))
        self._backoff_max = max(self._backoff_initial, float(backoff_max))
        token = token or os.environ.get("MODELWATCH_TOKEN") or None
        self._headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **dict(headers or {})}
        self._on_error = on_error
        self._random = random or _random.random
        self._jitter = _random.Random()
        self.exit_timeout = exit_timeout

        self._closed = False
        self._start()
        _live.add(self)

    def _start(self) -> None:
        """A fresh state and thread: at creation, and in the child of a fork()."""
        self._id = uuid.uuid4().hex
        self._stats = TrackerStats()
        # reentrant: on_error runs under it and may call stats()
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._queue: List[_SealedBatch] = []
        self._open: Optional[_OpenBatch] = None
        self._seq = 0
        self._dropped_unreported = 0
        self._sending: Optional[_SealedBatch] = None
        self._close_deadline: Optional[float] = None
        self._next_seal = time.monotonic() + self._flush_interval
        self._conn: Optional[http.client.HTTPConnection] = None
        self._thread = threading.Thread(target=self._run, name=f"modelwatch-tracker-{self.endpoint}", daemon=True)
        self._thread.start()

    def _restart_in_child(self) -> None:
        """After fork(), in the child: the thread did not survive it. What the parent tracked
        stays the parent's to send; the child starts empty, with its own keys and counters."""
        if not self._closed:
            self._start()

    # ---- public

    def track(
        self,
        inputs: Any,
        outputs: Any = None,
        *,
        request_id: Optional[str] = None,
        latency_micros: Optional[float] = None,
        when: Any = None,
        error: Any = None,
    ) -> None:
        """Record one inference request. Never blocks on the network and never raises for it.

        Args:
            inputs: rows (lists in feature order, or dicts keyed by feature name), or one row
                written flat (``[5.1, 3.5, 1.4, 0.2]``) or as one dict; numpy arrays are taken as
                lists, a pandas DataFrame as its rows keyed by column name.
            outputs: one prediction per row (a scalar, or a list when the model has several
                outputs), or the one prediction of a one-row request.
            request_id: the request's id (ground truth joins on it), at most 256 characters
                counting the ``#<row>`` that rows of a multi-row request kept by sampling get
                (``<request_id>#<row>``); the host refuses (dead-letters) the event of a longer
                one, and only that event.
            latency_micros: how long the model took, in microseconds.
            when: event time: a ``datetime`` (naive: UTC), ms since the epoch, or an ISO 8601
                string. Default: now.
            error: the request failed (anything but None/False): counted as an error request,
                its rows are not analysed.
        """
        when_ms = _to_ms(when)
        if hasattr(inputs, "to_dict") and hasattr(inputs, "columns"):
            inputs = inputs.to_dict(orient="records")  # a pandas DataFrame: rows keyed by column name
        inputs = _plain(inputs)
        if isinstance(inputs, dict):
            inputs = [inputs]  # one row keyed by feature name
        outputs = _plain(outputs)
        with self._lock:
            if self._closed:
                return
            st = self._stats
            st.tracked += 1
            if self._open is None:
                self._open = _OpenBatch()
            b = self._open
            b.requests += 1
            st.buffered += 1
            # a time the host would refuse stays out of the batch's first and last (it would refuse
            # the whole batch); the request's event is refused alone
            if 0 <= when_ms <= MAX_TIME_MS:
                b.first_when = min(b.first_when, when_ms)
                b.last_when = max(b.last_when, when_ms)
            lat_ok = isinstance(latency_micros, (int, float)) and not isinstance(latency_micros, bool)
            # a latency the host would refuse stays out of the batch's counts (it would refuse the batch)
            if lat_ok and 0 <= latency_micros <= MAX_LATENCY_MICROS:  # type: ignore[operator]
                b.latencies.append(latency_micros)  # type: ignore[arg-type]
            if error is not None and error is not False:
                b.errors += 1
            elif isinstance(inputs, list) and len(inputs) > 0:
                rows = [inputs] if is_flat_row(inputs) else inputs
                n = len(rows)
                base: Dict[str, Any] = {"when": when_ms}
                if latency_micros is not None:
                    base["latencyMicros"] = latency_micros
                if self._p >= 100:
                    ev = dict(base, inputs=inputs)
                    if outputs is not None:
                        ev["outputs"] = outputs
                    if request_id is not None:
                        ev["requestId"] = request_id
                    b.events.append(ev)
                    st.sampled_rows += n
                    b.rows += n
                else:
                    # MLRun's sampling: each input row kept with probability p/100; a kept row of a
                    # multi-row request keeps its request id `<id>#<row>` so ground truth still joins
                    per_row = isinstance(outputs, list) and len(outputs) == n
                    for i in range(n):
                        if self._random() >= self._p / 100:
                            continue
                        st.sampled_rows += 1
                        b.rows += 1
                        ev = dict(base, inputs=[rows[i]])
                        if outputs is not None:
                            ev["outputs"] = [outputs[i]] if per_row else outputs
                        if request_id is not None:
                            ev["requestId"] = f"{request_id}#{i}" if n > 1 else request_id
                        b.events.append(ev)
            if b.requests >= self._batch_size:
                self._seal()

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Send everything tracked so far; returns once the host accepted it (True), or False
        when ``timeout`` seconds passed first (what is left stays queued)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._seal()
            self._seal()  # again: drops the first one caused are reported
            target = self._seq
            while self._queue and self._queue[0].seq < target:
                if not self._thread.is_alive():
                    return False
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left if left is not None else 0.5)
            return True

    def close(self, timeout: float = 10.0) -> None:
        """Flush (waiting at most ``timeout`` seconds), then stop the background thread. What is
        still unsent then is dropped and counted. Tracking after close is ignored."""
        with self._cond:
            if self._closed:
                already = True
            else:
                already = False
                self._seal()
                self._seal()
                self._closed = True
                self._close_deadline = time.monotonic() + timeout
                self._cond.notify_all()
        if not already:
            self._thread.join(timeout + self._timeout + 1)
            _live.discard(self)
        if not self._thread.is_alive() and self._conn is not None:
            self._conn.close()
            self._conn = None

    def stats(self) -> TrackerStats:
        """A copy of the counters."""
        with self._lock:
            return TrackerStats(**asdict(self._stats))

    def __enter__(self) -> "Tracker":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- batches (under the lock)

    def _seal(self) -> None:
        self._next_seal = time.monotonic() + self._flush_interval
        if self._open is None and self._dropped_unreported == 0:
            return
        # a batch without requests still goes out when it has drops to report
        b = self._open or _OpenBatch(time.time_ns() // 1_000_000)
        self._open = None
        requests: Dict[str, Any] = {
            "count": b.requests,
            "errors": b.errors,
            "latencyMicros": b.latencies,
            "dropped": self._dropped_unreported,
            # MLRun's names, for the record: the host counts the rows it accepts itself
            "effectiveSampleCount": b.rows,
            "estimatedPredictionCount": b.rows * 100 / self._p,
        }
        if b.first_when <= b.last_when:  # (none when no request had a time the host takes)
            requests["firstWhen"] = b.first_when
            requests["lastWhen"] = b.last_when
        body = {"format": "batch", "samplingPercentage": self._p, "requests": requests, "events": b.events}
        reports = self._dropped_unreported
        self._dropped_unreported = 0
        seq = self._seq
        self._seq += 1
        self._queue.append(_SealedBatch(seq, b.requests, reports, _encode(body), f"trk-{self._id}-{seq}"))
        # bounded memory: drop the oldest batches (never the one being sent) and count their requests
        st = self._stats
        while st.buffered > self._max_buffered and len(self._queue) > 1:
            i = 1 if self._queue[0] is self._sending else 0
            old = self._queue.pop(i)
            st.buffered -= old.requests
            st.dropped += old.requests
            self._dropped_unreported += old.requests + old.reports
            self._report(
                TrackerError(
                    "DROPPED",
                    f"modelwatch tracker: the host is unreachable and {self._max_buffered} requests are buffered; dropped {old.requests}",
                )
            )
        self._cond.notify_all()

    def _report(self, err: TrackerError) -> None:
        if self._on_error is None:
            return
        try:
            self._on_error(err)
        except Exception:  # an on_error that fails must not stop the tracker
            pass

    # ---- the background thread

    def _run(self) -> None:
        backoff = self._backoff_initial
        retry_at = 0.0
        while True:
            with self._cond:
                while True:
                    now = time.monotonic()
                    if self._closed:
                        if not self._queue:
                            self._cond.notify_all()
                            return
                        if self._close_deadline is not None and now >= self._close_deadline:
                            self._give_up()
                            return
                    elif now >= self._next_seal:
                        self._seal()
                    if self._queue and now >= retry_at:
                        break
                    wake = self._next_seal if not self._closed else (self._close_deadline or now + 1)
                    if self._queue:
                        wake = min(wake, retry_at)
                    self._cond.wait(max(0.0, wake - now))
                batch = self._queue[0]
                self._sending = batch
            outcome, status, message = self._send(batch)
            with self._cond:
                self._sending = None
                st = self._stats
                if outcome == "retry":
                    st.failures += 1
                    self._report(TrackerError("SEND_FAILED", message, status))
                    delay = backoff / 2 + self._jitter.random() * backoff / 2
                    retry_at = time.monotonic() + delay
                    backoff = min(self._backoff_max, backoff * 2)
                    continue
                if self._queue and self._queue[0] is batch:
                    self._queue.pop(0)
                st.buffered -= batch.requests
                if outcome == "ok":
                    st.delivered += batch.requests
                    st.batches += 1
                else:
                    st.rejected += batch.requests
                    self._report(TrackerError("REJECTED", message, status))
                backoff = self._backoff_initial
                retry_at = 0.0
                self._cond.notify_all()

    def _give_up(self) -> None:
        """close() ran out of time: what is left counts as dropped."""
        left = sum(b.requests for b in self._queue)
        self._stats.dropped += left
        self._stats.buffered -= left
        self._queue.clear()
        if left:
            self._report(TrackerError("DROPPED", f"modelwatch tracker: closed with {left} requests unsent; dropped"))
        self._cond.notify_all()

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
            self._conn = cls(self._netloc, timeout=self._timeout)
        return self._conn

    def _send(self, batch: _SealedBatch) -> "tuple[str, Optional[int], str]":
        """One attempt: ("ok" | "rejected" | "retry", status, message)."""
        headers = {
            **self._headers,
            "Content-Type": "application/json",
            "Idempotency-Key": batch.key,
            "User-Agent": "modelwatch-client-python/0.1.0",
        }
        try:
            conn = self._connection()
            conn.request("POST", self._path, body=batch.payload, headers=headers)
            res = conn.getresponse()
            text = res.read().decode("utf-8", "replace")
            status = res.status
        except (OSError, http.client.HTTPException) as err:
            # the connection failed, timed out or was closed before the answer: the same batch
            # goes again under the same key (the host stores it once)
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()
            return "retry", None, f"POST {self._target}: {type(err).__name__}: {err}"
        if 200 <= status < 300:
            return "ok", status, ""
        message = f"POST {self._target}: HTTP {status}: {text[:500]}"
        if status >= 500 or status in RETRY_STATUSES:
            return "retry", status, message
        return "rejected", status, message
