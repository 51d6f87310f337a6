"""Publish inference events to modelwatch over NATS JetStream with nats-py (no HTTP in the path).

    pip install nats-py
    python3 examples/nats_publish.py --nats nats://127.0.0.1:4222 --endpoint churn --requests 50

Every message goes to the JetStream subject ``mw.events.<endpoint>`` (stream ``MW_EVENTS``), in
any of the host's event formats, with a ``Nats-Msg-Id`` header: JetStream stores a message id
once (within the stream's duplicate window, 2 minutes), so a publish retried after a timeout or
a lost acknowledgement is one event. The endpoint must exist (``modelwatch endpoint create``).

It prints what it published as JSON: ``{"rows": ..., "messages": ..., "duplicates": ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import uuid

import nats
from nats.errors import TimeoutError as NatsTimeoutError


async def publish(js, subject: str, body: dict, msg_id: str, tries: int = 5):
    """Publish one message, retried under the same message id until JetStream acknowledges it."""
    data = json.dumps(body, allow_nan=False).encode()  # NaN is not JSON: send None (null)
    for attempt in range(tries):
        try:
            return await js.publish(subject, data, timeout=5, headers={"Nats-Msg-Id": msg_id})
        except (NatsTimeoutError, nats.errors.NoRespondersError):
            if attempt == tries - 1:
                raise
            await asyncio.sleep(0.25 * 2**attempt * (0.5 + random.random() / 2))


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nats", default="nats://127.0.0.1:4222", help="NATS URL of the modelwatch host")
    ap.add_argument("--endpoint", default="churn", help="the modelwatch endpoint")
    ap.add_argument("--requests", type=int, default=50, help="requests to send one by one")
    args = ap.parse_args()

    nc = await nats.connect(args.nats)
    js = nc.jetstream()
    subject = f"mw.events.{args.endpoint}"
    run = uuid.uuid4().hex[:12]  # message ids unique to this run
    rng = random.Random(7)
    rows = messages = duplicates = 0

    # one message per request: a native event (rows in feature order, one prediction per row)
    for i in range(args.requests):
        event = {
            "when": time.time_ns() // 1_000_000,
            "inputs": [[rng.randint(18, 80), round(rng.gauss(55000, 8000), 2), rng.randint(0, 10)]],
            "outputs": [round(rng.random(), 3)],
            "requestId": f"{run}-{i}",
            "latencyMicros": rng.randint(300, 2000),
        }
        await publish(js, subject, event, msg_id=f"{run}:{i}")
        rows += 1
        messages += 1

    # many rows in one message: the columnar micro-batch (the cheapest to send and to process)
    n = 100
    batch = {
        "format": "columnar",
        "when": time.time_ns() // 1_000_000,
        "inputs": {
            "age": [rng.randint(18, 80) for _ in range(n)],
            "income": [round(rng.gauss(55000, 8000), 2) for _ in range(n)],
            "tenure": [rng.randint(0, 10) for _ in range(n)],
        },
        "outputs": {"churned": [round(rng.random(), 3) for _ in range(n)]},
        "requestIds": [f"{run}-c{i}" for i in range(n)],
    }
    ack = await publish(js, subject, batch, msg_id=f"{run}:columnar")
    rows += n
    messages += 1

    # the same message again (a retry whose first acknowledgement was lost): stored once
    again = await publish(js, subject, batch, msg_id=f"{run}:columnar")
    assert again.duplicate and again.seq == ack.seq, "JetStream took the retry as a duplicate"
    duplicates += 1

    await nc.drain()
    print(json.dumps({"rows": rows, "messages": messages, "duplicates": duplicates}))


if __name__ == "__main__":
    asyncio.run(main())
