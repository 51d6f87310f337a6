"""modelwatch_client: send inference events from a Python model server to modelwatch.

The same behaviour as the Node tracker (``@modelwatch/tracker``), over the HTTP API: requests
are sampled the way MLRun samples, sent in micro-batches (the protocol's request batch) by a
background thread, retried with exponential backoff and jitter under one idempotency key each,
and held in a bounded queue that drops the oldest batches (and counts them) while the host
cannot be reached. Standard library only.

    from modelwatch_client import Tracker

    tracker = Tracker("http://localhost:7077", endpoint="churn", sampling_percentage=10)
    tracker.track(inputs=[[42, 55000.0, 3]], outputs=[0.12], request_id="r-1", latency_micros=850)
    tracker.close()
"""

from .tracker import Tracker, TrackerError, TrackerStats, is_flat_row

__all__ = ["Tracker", "TrackerError", "TrackerStats", "is_flat_row"]
__version__ = "0.1.0"
