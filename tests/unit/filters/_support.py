"""Shared helpers of the filter tests: events as wire frames, and both matcher implementations."""

from __future__ import annotations

from typing import Any

from omd.model import events as ev
from omd.model import wire
from omd.filters import implementations, parse


def frames(event: ev.Event) -> tuple[bytes, bytes]:
    """The topic and data frames of a typed event, as the bus carries them."""
    return wire.encode_topic(event.kind, event.labels), wire.encode_data(event)


def instance_status(path: str = "svc1", node: str = "n1", avail: str = "up",
                    frozen_at: str = ev.ZERO_TIME, resources: dict[str, str] | None = None,
                    namespace: str = "root") -> tuple[bytes, bytes]:
    """An InstanceStatusUpdated event with its usual labels."""
    res = {rid: ev.ResourceStatus(status=st, type="fs.flag", label=rid) for rid, st in
           (resources or {"fs#1": "up", "app#1": "down"}).items()}
    return frames(ev.InstanceStatusUpdated(
        labels={"namespace": namespace, "node": node, "path": path},
        path=path, node=node,
        instance_status=ev.InstanceStatus(avail=avail, frozen_at=frozen_at, resources=res),
    ))


def matcher(impl: Any, *exprs: str) -> Any:
    """A matcher of implementation module `impl` for the expressions."""
    return impl.Matcher(parse(list(exprs)))


IMPLS = implementations()
