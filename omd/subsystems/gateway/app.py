"""The gateway's HTTP API (aiohttp): routes, request validation, problem documents.

    GET  /api/node/name/{nodename}/daemon/event   the event stream (SSE)
    GET  /api/cluster/status                      the cluster dataset
    POST /api/node/event                          publish an event (the kind's API role)
    POST /api/instance/status                     post an instance status (operator)
    POST /api/node/name/{nodename}/action/{freeze|unfreeze}                      (admin)
    POST /api/daemon/subsystem/{name}/action/restart                             (root)
    POST /api/object/path/{namespace}/{kind}/{name}/action/{freeze|unfreeze}     (operator)
    GET  /metrics                                 Prometheus metrics
    GET  /api/openapi.json                        this API's OpenAPI document

Errors are JSON problem documents `{"title", "detail", "status"}`; no request can make a
handler fail with a 500 other than a bug, which is logged and answered as a problem too.
"""

from __future__ import annotations

import asyncio
import json
import re
from importlib import resources
from typing import Any, Awaitable, Callable

import msgspec
import structlog
from aiohttp import web

from omd import durations
from omd.model import events as ev
from omd.config import Config
from omd.errors import OmdError, UnknownKindError, ValidationError
from omd.sockets import Publisher
from omd.model.wire import rfc3339_ns
from omd.objects import ObjectPath, ObjectPathError
from omd.subsystems.gateway.auth import Authenticator, AuthError, Principal
from omd.subsystems.gateway.feed import Feed
from omd.subsystems.gateway.metrics import Metrics
from omd.subsystems.gateway.streams import Stream, selector_patterns
from omd.subsystems.journal.protocol import JournalError

log = structlog.get_logger()

PRINCIPAL = web.AppKey("principal", Principal)
APP_STATE = web.AppKey("state", object)
# How long a POST waits for the journal to hold the event it published.
ACK_TIMEOUT = 5.0
# Deepest nesting of arrays and objects accepted in a request body (deeper is a 400: the
# validators and encoders after the parser recurse).
MAX_JSON_DEPTH = 64
PATH_RE = re.compile(r"^(?:[a-z0-9][a-z0-9._-]*/(?:svc|vol|cfg|sec|usr|nscfg)/)?[a-z0-9][a-z0-9._-]*$")


class Problem(web.HTTPException):
    """An error answered as an RFC 7807 style JSON document."""

    def __init__(self, status: int, title: str, detail: str, **extra: Any) -> None:
        self.status_code = status
        body = {"title": title, "detail": detail, "status": status, **extra}
        super().__init__(text=json.dumps(body), content_type="application/problem+json")


RETRY_AFTER = 5  # seconds, in the Retry-After of the 503 answers to writes


def unavailable(detail: str, **extra: Any) -> Problem:
    """A 503 problem with Retry-After: the write can be tried again later."""
    problem = Problem(503, "Service Unavailable", detail, **extra)
    problem.headers["Retry-After"] = str(RETRY_AFTER)
    return problem


def bad_request(detail: str, **extra: Any) -> Problem:
    """A 400 problem."""
    return Problem(400, "Bad Request", detail, **extra)


class Gateway:
    """The shared state of the API handlers."""

    def __init__(self, config: Config, feed: Feed, publisher: Publisher, paths: Any = None) -> None:
        self.config = config
        self.paths = paths
        self.nodename = config.nodename
        self.feed = feed
        self.publisher = publisher
        self.auth = Authenticator(config.gateway.tokens)
        self.metrics = Metrics(feed, paths.status_file if paths is not None else None)
        self.ack_timeout = ACK_TIMEOUT
        feed.ack_pub = publisher.pub_id

    def publish(self, event: ev.Event, labels: dict[str, str]) -> bool:
        """Publish without blocking the loop (dropped, and False, if the bus is not ready)."""
        return self.publisher.publish(event, labels, ready_timeout=0)

    async def publish_journaled(self, event: ev.Event, labels: dict[str, str]) -> int:
        """Publish, then wait until the journal holds the event; the id it gave it.

        A 200 answer to a POST means the event is journaled (in the ring and, for a state
        kind, the state log), so a gateway crash right after it loses nothing. Raises 503
        problems (with Retry-After) when the bus is not ready, the journal does not confirm in
        time, or the journal cannot write to disk (its notice said so: Feed.durable).
        """
        if self.feed.not_durable is not None:
            raise unavailable(f"the journal cannot write to disk ({self.feed.not_durable[1]}): "
                              "the event was not published")
        if not self.publish(event, labels):
            raise unavailable("the event bus is not ready: the event was not published")
        # The seq that publish just gave the event (Publisher counts per kind); read right
        # after it, with no await in between, then the feed watches for that (pub, kind, seq).
        seq = self.publisher.last_seq(event.kind)
        try:
            eid = await self.feed.journaled(event.kind, seq, self.ack_timeout)
        except asyncio.TimeoutError:
            raise unavailable(f"the event was published but its journaling was not confirmed within "
                              f"{self.ack_timeout:g}s: it may be lost (a retry may duplicate it)") from None
        if not self.feed.durable(eid):
            raise unavailable(f"the event was journaled as id {eid} and is served, but the journal cannot "
                              f"write to disk ({self.feed.not_durable[1] if self.feed.not_durable else ''}): "
                              "a restart would lose it", id=eid)
        return eid

    # ------------------------------------------------------------------ middleware

    @web.middleware
    async def middleware(self, request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
        try:
            if route != "/api/openapi.json":
                try:
                    request[PRINCIPAL] = self.auth(request)
                except AuthError as exc:
                    extra = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
                    problem = Problem(exc.status, "Unauthorized" if exc.status == 401 else "Forbidden", exc.detail)
                    problem.headers.update(extra)
                    raise problem from None
            response = await handler(request)
        except Problem as problem:
            self.metrics.requests[route, str(problem.status)] += 1
            raise
        except web.HTTPException as exc:
            self.metrics.requests[route, str(exc.status)] += 1
            if exc.status >= 400 and exc.content_type != "application/problem+json":
                raise Problem(exc.status, exc.reason, exc.text or exc.reason) from None
            raise
        except JournalError as exc:
            self.metrics.requests[route, "503"] += 1
            raise Problem(503, "Service Unavailable", str(exc)) from None
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception:
            self.metrics.requests[route, "500"] += 1
            log.exception("api_handler_failed", route=route)
            raise Problem(500, "Internal Server Error", "unexpected error; see the daemon log") from None
        self.metrics.requests[route, str(response.status)] += 1
        return response

    # ------------------------------------------------------------------ events

    async def get_events(self, request: web.Request) -> web.StreamResponse:
        """GET /api/node/name/{nodename}/daemon/event: the SSE stream."""
        from omd import filters  # imported late: the matcher build is logged once per process

        principal: Principal = request[PRINCIPAL]
        nodename = request.match_info["nodename"]
        if nodename not in ("localhost", "_", self.nodename):
            raise bad_request(f"Invalid nodename {nodename!r}: this node is {self.nodename!r} "
                              "(use localhost or _)")
        q = request.query
        exprs = q.getall("filter", [])
        try:
            spec = filters.parse(exprs)
            matcher = filters.compile(spec)
        except OmdError as exc:
            raise bad_request(str(exc), parameter="filter") from None
        limit = _int_param(q, "limit")
        duration = _duration_param(q)
        replay = _bool_param(q, "replay") or _bool_param(q, "cache")
        last_event_id = _last_event_id(request)
        selector = selector_patterns(q.getall("selector", []))

        resp = web.StreamResponse(headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
            "OM-Served-By": self.nodename,
        })
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        peer = request.remote or "unix"
        name = f"api.get_daemon_event from {peer} {request.headers.get('X-Request-Id') or _uuid()}"
        if exprs:
            name += f" filters: [{' '.join(exprs)}]"
        stream = Stream(self.feed, principal, matcher, spec.kinds, selector, limit,
                        self.config.gateway.stream_queue_size, name, self.publish,
                        self.config.gateway.keepalive_interval, self.metrics)
        self.feed.add(stream)
        self.metrics.streams_total += 1
        labels = {"node": self.nodename, "origin": "api"}
        self.publish(ev.ClientSubscribed(at=rfc3339_ns(), name=name), labels)
        failed = False
        try:
            frames, start = await stream.start_events(last_event_id, replay)
            if last_event_id is not None:
                self.metrics.resumes["ok" if start == "resume" else "gap"] += 1
            if duration:
                try:
                    await asyncio.wait_for(stream.write(resp, frames), duration)
                except asyncio.TimeoutError:
                    pass
            else:
                await stream.write(resp, frames)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        except Exception as exc:
            # The status line is sent: an error can only end the stream, with a gap event
            # (no id, so the client resumes from its last event), never a second status.
            failed = True
            if isinstance(exc, OmdError):
                log.warning("api_stream_failed", stream=stream.id, error=str(exc))
                reason = str(exc)
            else:
                log.exception("api_stream_failed", stream=stream.id)
                reason = "unexpected error; see the daemon log"
            try:
                await resp.write(stream.gap_frame(f"{reason}; resume with Last-Event-ID"))
            except (ConnectionResetError, RuntimeError):
                pass
        finally:
            self.feed.remove(stream)
            self.publish(ev.ClientUnsubscribed(at=rfc3339_ns(), name=name), labels)
        if failed:
            resp.force_close()  # end the connection too: the client must not wait on it
        try:
            await resp.write_eof()
        except (ConnectionResetError, RuntimeError):
            pass
        return resp

    # ------------------------------------------------------------------ other endpoints

    async def get_cluster_status(self, request: web.Request) -> web.Response:
        """GET /api/cluster/status: the dataset, restricted to the caller's namespaces."""
        from omd.model.state import Entry, dataset

        principal: Principal = request[PRINCIPAL]
        snapshot = await self.feed.journal.snapshot()
        entries = []
        for fe in snapshot.records:
            if principal.can_see(fe.namespace):
                entries.append(Entry(fe.id, fe.kind, fe.topic, b"", fe.data, msgspec.json.decode(fe.data)))
        return web.json_response(dataset(entries, self.nodename))

    async def post_event(self, request: web.Request) -> web.Response:
        """POST /api/node/event: publish an event of a known kind, validated.

        Who may is the kind's `api` fact (omd.model.events, docs/events.md): the weakest role
        that may inject it here, or never. A non-root caller's event stays in its namespaces.
        """
        principal: Principal = request[PRINCIPAL]
        body = await _json_body(request)
        kind = body.get("kind")
        if not isinstance(kind, str):
            raise bad_request("`kind` is required and must be a string", field="kind")
        try:
            _require_kind_right(principal, ev.kind_info(kind))
        except UnknownKindError as exc:
            raise bad_request(str(exc), field="kind") from None
        labels = body.get("labels") or {}
        if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) and "\0" not in k + v
                                                  and "=" not in k and k for k, v in labels.items()):
            raise bad_request("`labels` must be an object of non-empty string keys (no '=') to strings",
                              field="labels")
        data = body.get("data") or {}
        if not isinstance(data, dict):
            raise bad_request("`data` must be an object", field="data")
        data.pop("labels", None)
        try:
            event = ev.from_builtins(kind, data)
        except UnknownKindError as exc:
            raise bad_request(str(exc), field="kind") from None
        except ValidationError as exc:
            raise bad_request(str(exc), field="data" + exc.path.removeprefix("$")) from None
        from omd.model.scope import ScopeError, derive

        if not principal.is_root:
            _require_own_namespaces(principal, labels, data)
        try:
            # root too: a namespace label that is not its path's would show ns2's news to ns1
            scope = derive(labels, data)
        except ScopeError as exc:
            raise bad_request(str(exc), field=exc.field) from None
        if scope.namespace is not None and scope.path is not None:
            labels = {**labels, "namespace": scope.namespace}
        if scope.namespace is None and not principal.sees_all:
            # an event with no namespace reaches the readers of every namespace
            raise Problem(403, "Forbidden", "a token limited to some namespaces publishes only events of "
                          "those namespaces: give labels.namespace (or a path in one of them)",
                          field="labels.namespace")
        labels = {"node": self.nodename, **labels}
        if not principal.is_root and labels["node"] != self.nodename:
            raise Problem(403, "Forbidden", f"the node label must be this node ({self.nodename!r}): "
                          "only root may publish for another node", field="labels.node")
        eid = await self.publish_journaled(event, labels)
        return web.json_response({"kind": kind, "labels": labels, "id": eid, "published": True})

    async def post_instance_status(self, request: web.Request) -> web.Response:
        """POST /api/instance/status: post this node's status of an object instance."""
        principal: Principal = request[PRINCIPAL]
        _require(principal, "operator")
        body = await _json_body(request)
        path = body.get("path")
        if not isinstance(path, str) or not PATH_RE.match(path):
            raise bad_request("`path` must be an object path like svc1 or ns1/svc/foo", field="path")
        namespace = path.split("/")[0] if "/" in path else "root"
        if not principal.can_see(namespace):
            raise Problem(403, "Forbidden", f"no role on namespace {namespace!r}")
        status = body.get("instance_status")
        if not isinstance(status, dict):
            raise bad_request("`instance_status` must be an object", field="instance_status")
        gw = self.config.gateway
        size = len(msgspec.json.encode(status))
        if size > gw.instance_status_max_size:
            raise Problem(413, "Payload Too Large", f"instance_status is {size} bytes, more than "
                          f"[gateway] instance_status_max_size ({gw.instance_status_max_size})",
                          field="instance_status")
        encap = status.get("encap")
        if isinstance(encap, dict) and len(encap) > gw.instance_status_max_encap:
            raise Problem(413, "Payload Too Large", f"instance_status.encap has {len(encap)} entries, more "
                          f"than [gateway] instance_status_max_encap ({gw.instance_status_max_encap})",
                          field="instance_status.encap")
        try:
            event = ev.from_builtins("InstanceStatusPost", {"path": path, "node": self.nodename,
                                                           "instance_status": status})
        except ValidationError as exc:
            raise bad_request(str(exc), field=exc.path.removeprefix("$.")) from None
        from omd.subsystems.istat import check_status

        try:
            check_status(event.instance_status)
        except ValueError as exc:
            # istat would drop it after a 200: refuse it here, naming the field
            field, _, _ = str(exc).partition(":")
            raise bad_request(str(exc), field=field) from None
        from omd.objects import ObjectPath

        if not ObjectPath.parse(path).config_file(self.paths).exists():
            # a status for an object this node has no config of would show in the cluster
            # status as an object nobody can manage (and let an operator grow istat at will)
            raise Problem(404, "Not Found", f"no object {path!r} on this node (no config file)", field="path")
        labels = {"namespace": namespace, "path": path, "node": self.nodename, "origin": "api"}
        eid = await self.publish_journaled(event, labels)
        return web.json_response({"path": path, "node": self.nodename, "id": eid, "published": True})

    async def post_node_action(self, request: web.Request) -> web.Response:
        """POST /api/node/name/{nodename}/action/{freeze|unfreeze}: the node frozen flag (admin).

        The flag file is the state; the discover subsystem publishes NodeFrozenFile* and the
        node monitor NodeFrozen and NodeStatusUpdated when it changes.
        """
        from omd import frozen

        _require(request[PRINCIPAL], "admin")
        nodename = request.match_info["nodename"]
        if nodename not in ("localhost", "_", self.nodename):
            raise bad_request(f"Invalid nodename {nodename!r}: this node is {self.nodename!r}")
        action = request.match_info["action"]
        if action == "freeze":
            at = frozen.freeze_node(self.paths)
            return web.json_response({"node": self.nodename, "frozen_at": at})
        changed = frozen.unfreeze_node(self.paths)
        return web.json_response({"node": self.nodename, "unfrozen": changed})

    async def post_object_action(self, request: web.Request) -> web.Response:
        """POST /api/object/path/{namespace}/{kind}/{name}/action/{freeze|unfreeze}: this node's
        instance frozen flag (operator on the namespace)."""
        from omd import frozen
        from omd.objects import ObjectPath, ObjectPathError

        principal: Principal = request[PRINCIPAL]
        _require(principal, "operator")
        m = request.match_info
        try:
            path = ObjectPath.parse(f"{m['namespace']}/{m['kind']}/{m['name']}")
        except ObjectPathError as exc:
            raise bad_request(str(exc), field="path") from None
        if not principal.can_see(path.namespace):
            raise Problem(403, "Forbidden", f"no role on namespace {path.namespace!r}")
        if m["action"] == "freeze":
            if not path.config_file(self.paths).exists():
                # a flag for an object this node has no config of would make a phantom object
                # in the cluster status; unfreeze stays allowed, to remove such a flag
                raise Problem(404, "Not Found", f"no object {str(path)!r} on this node (no config file)",
                              field="path")
            at = frozen.freeze_instance(self.paths, path)
            return web.json_response({"path": str(path), "node": self.nodename, "frozen_at": at})
        changed = frozen.unfreeze_instance(self.paths, path)
        return web.json_response({"path": str(path), "node": self.nodename, "unfrozen": changed})

    async def post_subsystem_action(self, request: web.Request) -> web.Response:
        """POST /api/daemon/subsystem/{name}/action/restart: ask the supervisor to restart one
        subsystem (root). Published as DaemonCtl {component, action} (labels id, origin=api,
        node); the supervisor acts on it and publishes the subsystem's new state."""
        from omd.daemon.registry import SUBSYSTEMS

        _require(request[PRINCIPAL], "root")
        name = request.match_info["name"]
        if name not in SUBSYSTEMS:
            raise Problem(404, "Not Found", f"no subsystem {name!r} (known: {', '.join(sorted(SUBSYSTEMS))})")
        labels = {"id": name, "origin": "api", "node": self.nodename}
        if not self.publish(ev.DaemonCtl(component=name, action="restart"), labels):
            raise Problem(503, "Service Unavailable", "the event bus is not ready")
        return web.json_response({"component": name, "action": "restart", "published": True})

    async def get_metrics(self, request: web.Request) -> web.Response:
        """GET /metrics: Prometheus exposition (text 0.0.4, or OpenMetrics if asked for)."""
        await self.metrics.refresh()
        body, content_type = self.metrics.render(request.headers.get("Accept", ""))
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def get_openapi(self, request: web.Request) -> web.Response:
        """GET /api/openapi.json."""
        text = resources.files("omd.subsystems.gateway").joinpath("openapi.json").read_text()
        return web.Response(text=text, content_type="application/json")

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(middlewares=[self.middleware], client_max_size=4 * 1024 * 1024)
        app.router.add_get("/api/node/name/{nodename}/daemon/event", self.get_events)
        app.router.add_get("/api/cluster/status", self.get_cluster_status)
        app.router.add_post("/api/node/event", self.post_event)
        app.router.add_post("/api/instance/status", self.post_instance_status)
        app.router.add_post("/api/node/name/{nodename}/action/{action:freeze|unfreeze}", self.post_node_action)
        app.router.add_post("/api/object/path/{namespace}/{kind}/{name}/action/{action:freeze|unfreeze}",
                             self.post_object_action)
        app.router.add_post("/api/daemon/subsystem/{name}/action/restart", self.post_subsystem_action)
        app.router.add_get("/metrics", self.get_metrics)
        app.router.add_get("/api/openapi.json", self.get_openapi)
        return app


# ---------------------------------------------------------------------- parameters


def _uuid() -> str:
    import uuid

    return str(uuid.uuid4())


def _require_kind_right(principal: Principal, info: ev.KindInfo) -> None:
    """403 unless the kind may be injected through POST /api/node/event with this role."""
    if info.api is not None and principal.has_role(info.api):
        return
    publishers = ", ".join(sorted(info.publishers)) or "no subsystem yet"
    if info.api is None:
        detail = f"{info.name} is never accepted through POST /api/node/event"
    else:
        detail = f"{info.name} needs the {info.api} role (you have {principal.role})"
    raise Problem(403, "Forbidden", f"{detail}; it is published by {publishers}", kind=info.name,
                  role=info.api, publishers=sorted(info.publishers))


def _require_own_namespaces(principal: Principal, labels: dict[str, str], data: dict[str, Any]) -> None:
    """403 unless every namespace the event names (its namespace label, the namespace of its
    path label and of its data's path) is one of the principal's; an event about an object
    must carry that object's namespace label, which is what keeps it from other namespaces'
    streams."""
    named = {labels.get("namespace")}
    for where, path in (("labels.path", labels.get("path")), ("data.path", data.get("path"))):
        if path in (None, ""):
            continue
        try:
            namespace = ObjectPath.parse(path).namespace if isinstance(path, str) else None
        except ObjectPathError as exc:
            raise bad_request(str(exc), field=where) from None
        if labels.get("namespace") != namespace:
            raise bad_request(f"`labels.namespace` must be {namespace!r}, the namespace of {where} {path!r}",
                              field="labels.namespace")
        named.add(namespace)
    for namespace in sorted(n for n in named if n is not None):
        if not principal.can_see(namespace):
            raise Problem(403, "Forbidden", f"no role on namespace {namespace!r}")


def _require(principal: Principal, role: str) -> None:
    if not principal.has_role(role):
        raise Problem(403, "Forbidden", f"the {role} role is required (you have {principal.role})")


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """True when `value` (decoded JSON) nests arrays/objects deeper than `limit` (iterative:
    no recursion on hostile input)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json(loads=json.loads)
    except RecursionError:
        raise bad_request(f"the request body nests deeper than {MAX_JSON_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError):
        raise bad_request("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    if json_depth_exceeds(body, MAX_JSON_DEPTH):
        raise bad_request(f"the request body nests deeper than {MAX_JSON_DEPTH} levels")
    return body


def _int_param(q: Any, name: str) -> int:
    raw = q.get(name)
    if raw in (None, ""):
        return 0
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name}: {raw!r} is not an integer", parameter=name) from None
    if value < 0:
        raise bad_request(f"{name}: must not be negative", parameter=name)
    return value


def _duration_param(q: Any) -> float:
    raw = q.get("duration")
    if raw in (None, ""):
        return 0.0
    try:
        return durations.parse(raw)
    except ValueError as exc:
        raise bad_request(f"duration: {exc}", parameter="duration") from None


def _bool_param(q: Any, name: str) -> bool:
    raw = q.get(name)
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in ("", "1", "true", "t", "yes", "y", "on"):
        return True
    if value in ("0", "false", "f", "no", "n", "off"):
        return False
    raise bad_request(f"{name}: {raw!r} is not a boolean (true or false)", parameter=name)


def _last_event_id(request: web.Request) -> int | None:
    raw = request.headers.get("Last-Event-ID")
    if raw is None:
        raw = request.query.get("last_event_id", request.query.get("lastEventId"))
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"Last-Event-ID: {raw!r} is not an event id (an unsigned integer)") from None
    if not 0 <= value < 2**64:
        raise bad_request(f"Last-Event-ID: {raw!r} is out of range")
    return value
