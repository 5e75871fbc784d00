"""The gateway subsystem: the HTTP API process that translates the bus to HTTP.

It listens on `var/run/omd/api.sock` (root role for uid 0 and the daemon's uid) and, when
configured, on TCP (TLS with `tls_cert`/`tls_key`, bearer tokens) through `TcpListener`
(omd.subsystems.gateway.listener: connection limits, header timeout, and a bind retried with
backoff). api.sock never depends on TCP: when the port cannot be bound the gateway is ready
anyway and reports itself degraded to the supervisor (omd.daemon.readiness.health) until the
listener is up. Events come numbered from
the journal (omd.subsystems.journal) through `Feed`; streams are served by `Stream`; routes live in
`app`. On SIGTERM every open stream ends with a gap event (no id), so clients resume with
Last-Event-ID from the restarted gateway without losing anything. When one of the feed's
reader tasks dies (`gateway_task_died`), the gateway stops the same way and exits with
`TASK_DIED_EXIT`, so the supervisor restarts it instead of leaving an API that delivers nothing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
from typing import TYPE_CHECKING

import structlog
import zmq
import zmq.asyncio
from aiohttp import web

from omd.daemon import readiness
from omd.config import Config
from omd.model.events import DaemonListenerUpdated
from omd.paths import Paths
from omd.sockets import Publisher
from omd.model.wire import rfc3339_ns
from omd.subsystems.gateway.app import Gateway
from omd.subsystems.gateway.feed import Feed
from omd.subsystems.gateway.listener import TcpListener, raise_nofile_limit
from omd.logs import asyncio_exception_handler

if TYPE_CHECKING:
    from omd.daemon.runtime import Runtime

log = structlog.get_logger()
TASK_DIED_EXIT = 3


def _ssl_context(config: Config) -> ssl.SSLContext | None:
    gw = config.gateway
    if not (gw.tls_cert and gw.tls_key):
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(gw.tls_cert, gw.tls_key)
    return ctx


async def serve(config: Config, paths: Paths, wait_journal: bool = False) -> int:
    """Run the API until SIGTERM/SIGINT (exit 0) or the death of a reader task (TASK_DIED_EXIT)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    exit_code = 0

    def task_died(name: str, error: BaseException) -> None:
        nonlocal exit_code
        exit_code = TASK_DIED_EXIT
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    actx = zmq.asyncio.Context()
    sctx = zmq.Context()
    publisher = Publisher(sctx, paths.endpoint(paths.bus_in), config.nodename, "gateway")
    await asyncio.to_thread(publisher.wait_ready, 10)
    if wait_journal and not await asyncio.to_thread(publisher.wait_journal, 15):
        log.warning("journal_not_subscribed", subsystem="gateway", waited=15)
    feed = Feed(actx, paths, on_task_died=task_died)
    feed.start()
    gateway = Gateway(config, feed, publisher, paths)
    from omd.logs import attach_publisher

    attach_publisher(publisher)
    loop.set_exception_handler(asyncio_exception_handler)
    nofile = raise_nofile_limit()
    runner = web.AppRunner(gateway.app(), access_log=None, shutdown_timeout=2.0, handle_signals=False,
                           keepalive_timeout=config.gateway.idle_timeout)
    await runner.setup()
    sock_path = paths.api_socket
    try:
        sock_path.unlink()
    except FileNotFoundError:
        pass
    old_umask = os.umask(0o077)
    try:
        await web.UnixSite(runner, str(sock_path)).start()
    finally:
        os.umask(old_umask)
    addr, port = "", 0
    listener = None

    def publish_listener(state: str, port: int) -> None:
        now = rfc3339_ns()
        gateway.publish(DaemonListenerUpdated(node=config.nodename, listener={
            "id": "listener", "state": state, "addr": addr, "port": port,
            "configured_at": now, "created_at": now, "updated_at": now,
        }), {"node": config.nodename})

    if config.gateway.tcp_listen:
        host, _, port_text = config.gateway.tcp_listen.rpartition(":")
        addr, port = host.strip("[]") or "0.0.0.0", int(port_text)
        gw = config.gateway

        def listener_state(lsn: TcpListener) -> None:
            publish_listener("running" if lsn.state == "running" else "failed", lsn.port)
            readiness.health(lsn.error)

        assert runner.server is not None
        listener = TcpListener(runner.server, addr, port, ssl_context=_ssl_context(config),
                               max_connections=gw.max_connections,
                               max_connections_per_peer=gw.max_connections_per_peer,
                               header_timeout=gw.header_timeout)
        gateway.metrics.listener = listener
        await listener.start()
        listener.on_state = listener_state
    log.info("gateway_started", socket=str(sock_path), tcp=config.gateway.tcp_listen or None,
             tls=bool(config.gateway.tls_cert), tcp_state=listener.state if listener else None,
             descriptors=nofile)
    if listener is not None:
        listener_state(listener)  # before ready(): a failed listener is reported with it
    readiness.ready()
    if listener is None:
        publish_listener("running", 0)
    await stop.wait()
    for stream in list(feed.streams):
        stream.lost("the gateway is stopping" if not exit_code else "the gateway is restarting", stopping=True)
    await asyncio.sleep(0)  # let writers flush their queues and stop comments
    if listener is not None:
        await listener.close()
    await runner.cleanup()
    await feed.close()
    from omd.logs import detach_publisher

    detach_publisher()
    publisher.close()
    actx.term()
    sctx.term()
    try:
        sock_path.unlink()
    except FileNotFoundError:
        pass
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(sig)
    log.info("gateway_stopped", exit_code=exit_code)
    return exit_code


def run(rt: "Runtime") -> int:
    """Subsystem entry point (the configuration was checked by omd.config)."""
    return asyncio.run(serve(rt.config, rt.paths, wait_journal=rt.journal_expected()))
