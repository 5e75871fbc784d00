"""The subscriber example of docs/wire-format.md, run as written against a live daemon."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from omd.events import InstanceStatusUpdated
from omd.sockets import Publisher
from omd.wire import topic_prefix
from tests.helpers import REPO


def _example_code() -> str:
    text = (REPO / "docs" / "wire-format.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 1, "docs/wire-format.md should hold exactly one python example"
    return blocks[0]


def test_example_file_is_the_documented_block():
    """docs/examples/subscriber.py is exactly the block shown in docs/wire-format.md."""
    assert (REPO / "docs" / "examples" / "subscriber.py").read_text() == _example_code()


def test_documented_subscriber_receives_published_event(daemon, zctx, root):
    """The documented pyzmq-only subscriber prints a published event with its labels and data."""
    script = root / "subscriber.py"
    script.write_text(_example_code())
    proc = subprocess.Popen([sys.executable, str(script), daemon.endpoint("out"), "InstanceStatusUpdated"],
                            stdout=subprocess.PIPE, text=True)
    try:
        pub = Publisher(zctx, daemon.endpoint("in"), "n1", "test")
        assert pub.wait_subscription(topic_prefix("InstanceStatusUpdated"), 10)
        labels = {"node": "n1", "path": "svc1", "namespace": "root"}
        pub.publish(InstanceStatusUpdated(path="svc1", node="n1", labels=labels))
        line = proc.stdout.readline()
        out = json.loads(line)
        assert out["kind"] == "InstanceStatusUpdated" and out["labels"] == labels
        assert out["origin"] == "n1" and out["seq"] == 1
        assert out["data"]["labels"] == labels and out["data"]["instance_status"]["avail"] == "undef"
        pub.close()
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
