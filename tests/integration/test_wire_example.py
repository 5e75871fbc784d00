"""The subscriber example of docs/wire-format.md, run as written against a live daemon."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading

from omd.model.events import ObjectStatusUpdated
from omd.sockets import Publisher
from omd.model.wire import topic_prefix
from tests.helpers import REPO, wait_for


def _example_code() -> str:
    text = (REPO / "docs" / "wire-format.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 1, "docs/wire-format.md should hold exactly one python example"
    return blocks[0]


def test_example_file_is_the_documented_block():
    """docs/examples/subscriber.py is exactly the block shown in docs/wire-format.md."""
    assert (REPO / "docs" / "examples" / "subscriber.py").read_text() == _example_code()


def test_documented_subscriber_receives_published_event(daemon, zctx, root):
    """The documented pyzmq-only subscriber prints a published event with its labels and data.

    The kind is one no subsystem subscribes to, so that waiting for its subscription waits
    for the script's own."""
    script = root / "subscriber.py"
    script.write_text(_example_code())
    proc = subprocess.Popen([sys.executable, str(script), daemon.endpoint("out"), "ObjectStatusUpdated"],
                            stdout=subprocess.PIPE, text=True)
    try:
        pub = Publisher(zctx, daemon.endpoint("in"), "n1", "test")
        assert pub.wait_subscription(topic_prefix("ObjectStatusUpdated"), 10)
        labels = {"node": "n1", "path": "svc1", "namespace": "root"}
        pub.publish(ObjectStatusUpdated(path="svc1", node="n1", labels=labels))
        line = proc.stdout.readline()
        out = json.loads(line)
        assert out["kind"] == "ObjectStatusUpdated" and out["labels"] == labels
        assert out["origin"] == "n1" and out["seq"] == 1
        assert out["data"]["labels"] == labels and out["data"]["path"] == "svc1"
        pub.close()
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()


def test_documented_subscriber_survives_a_bus_restart(daemon, zctx, root):
    """After kill -9 of the bus, the documented subscriber renews its subscription and prints
    events again (events published meanwhile may be lost; the publisher keeps publishing)."""
    script = root / "subscriber.py"
    script.write_text(_example_code())
    proc = subprocess.Popen([sys.executable, str(script), daemon.endpoint("out"), "ObjectStatusUpdated"],
                            stdout=subprocess.PIPE, text=True)
    pub = Publisher(zctx, daemon.endpoint("in"), "n1", "test")
    labels = {"node": "n1", "path": "svc1", "namespace": "root"}
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        assert pub.wait_subscription(topic_prefix("ObjectStatusUpdated"), 10)
        pub.publish(ObjectStatusUpdated(path="before", node="n1", labels=labels))
        wait_for(lambda: any('"before"' in line for line in lines), what="the event before the restart")
        old = daemon.subsystem_pid("bus")
        os.kill(old, signal.SIGKILL)
        wait_for(lambda: daemon.status()["subsystems"]["bus"]["pid"] not in (0, old), what="bus restart")

        def printed_after() -> bool:
            pub.publish(ObjectStatusUpdated(path="after", node="n1", labels=labels), ready_timeout=5)
            return any('"after"' in line for line in lines)

        wait_for(printed_after, timeout=20, interval=0.2, what="an event printed after the bus restart")
    finally:
        pub.close(linger_ms=0)
        proc.terminate()
        proc.wait(10)
        reader.join(5)
        proc.stdout.close()
