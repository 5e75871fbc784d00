"""The bus subsystem: an XSUB/XPUB proxy that libzmq runs with no Python per message.

Publishers connect to `bus-in.sock` (XSUB), subscribers to `bus-out.sock` (XPUB) and, when
configured, to the TCP XPUB endpoint for third parties. Subscriptions flow upstream, so an
event nobody subscribes to never leaves its publisher. The process also subscribes to
`READY_TOPIC` itself, which is what publishers wait for (see omd.sockets).

Socket files are created owner-only (0600) or 0660 with `[bus] socket_group`.

With `[bus] curve_secret_key_file` the TCP endpoint is a CURVE server: connections are
encrypted and a ZAP handler (pyzmq's ThreadAuthenticator, the only one in this process's
context) accepts only the client public keys of `curve_client_keys`. The unix sockets stay
NULL (file permissions guard them): libzmq applies socket options to the endpoints bound
after they are set, so the CURVE options are set just before the TCP bind. A non-loopback
`tcp_listen` without CURVE is refused by omd.config.
"""

from __future__ import annotations

import grp
import os
import threading

import structlog
import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from omd.daemon.runtime import Runtime, Subsystem
from omd.netopts import apply_tcp_options
from omd.sockets import READY_TOPIC

log = structlog.get_logger()
INPROC_OUT = "inproc://bus-out"
ZAP_DOMAIN = b"omd-bus"


class _AllowedKeys:
    """ZAP credentials provider: the configured client public keys."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = {k.encode() for k in keys}

    def callback(self, domain: str, key: bytes) -> bool:
        """`key`: the client's public key, Z85-encoded."""
        allowed = key in self.keys
        if not allowed:
            log.warning("bus_curve_client_refused", key=key.decode())
        return allowed


def _curve_server(ctx: zmq.Context, sock: zmq.Socket, secret_file: str, client_keys: list[str]) -> ThreadAuthenticator:
    """Make `sock`'s next binds CURVE servers checked by a ZAP handler on `ctx`."""
    auth = ThreadAuthenticator(ctx, log=None)
    auth.start()
    auth.configure_curve_callback(domain=ZAP_DOMAIN.decode(), credentials_provider=_AllowedKeys(client_keys))
    public, secret = zmq.auth.load_certificate(secret_file)
    sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
    sock.setsockopt(zmq.CURVE_PUBLICKEY, public)
    sock.setsockopt(zmq.CURVE_SERVER, 1)
    sock.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN)
    return auth


def _secure(path: str, group: str) -> None:
    if group:
        os.chown(path, -1, grp.getgrnam(group).gr_gid)
        os.chmod(path, 0o660)
    else:
        os.chmod(path, 0o600)


def _proxy(xsub: zmq.Socket, xpub: zmq.Socket) -> None:
    try:
        zmq.proxy(xsub, xpub)
    except zmq.ZMQError as exc:
        if exc.errno not in (zmq.ETERM, zmq.ENOTSOCK):
            log.error("bus_proxy_failed", error=str(exc))
    finally:
        xsub.close(linger=0)
        xpub.close(linger=0)


class BusSubsystem(Subsystem):
    """The proxy thread, watched by the runtime's loop; no publisher, no subscriber."""

    publishes = False

    def __init__(self, rt: Runtime) -> None:
        super().__init__(rt)
        ctx, config, paths = rt.ctx, rt.config, rt.paths
        assert ctx is not None
        old_umask = os.umask(0o077)
        try:
            xsub = ctx.socket(zmq.XSUB)
            xsub.setsockopt(zmq.LINGER, 0)
            xsub.setsockopt(zmq.RCVHWM, 100_000)
            # libzmq checks each frame and disconnects a publisher that sends a larger one, before
            # the bytes are buffered (the journal refuses what the frames add up to above it).
            xsub.setsockopt(zmq.MAXMSGSIZE, config.bus.max_event_size)
            xpub = ctx.socket(zmq.XPUB)
            xpub.setsockopt(zmq.LINGER, 0)
            xpub.setsockopt(zmq.SNDHWM, 100_000)
            xsub.bind(paths.endpoint(paths.bus_in))
            xpub.bind(paths.endpoint(paths.bus_out))
            xpub.bind(INPROC_OUT)
            self.auth: ThreadAuthenticator | None = None
            if config.bus.tcp_listen:
                apply_tcp_options(xpub, config.bus.tcp)
                if config.bus.curve_secret_key_file:
                    self.auth = _curve_server(ctx, xpub, config.bus.curve_secret_key_file,
                                              config.bus.curve_client_keys)
                xpub.bind(config.bus.tcp_listen)
        finally:
            os.umask(old_umask)
        for path in (paths.bus_in, paths.bus_out):
            _secure(str(path), config.bus.socket_group)
        self.sentinel = ctx.socket(zmq.SUB)
        self.sentinel.setsockopt(zmq.LINGER, 0)
        self.sentinel.setsockopt(zmq.SUBSCRIBE, READY_TOPIC)
        self.sentinel.connect(INPROC_OUT)
        self.proxy = threading.Thread(target=_proxy, args=(xsub, xpub), name="bus-proxy", daemon=True)
        self.proxy.start()

    def start(self) -> None:
        paths = self.rt.paths
        log.info("bus_started", bus_in=str(paths.bus_in), bus_out=str(paths.bus_out),
                 tcp=self.rt.config.bus.tcp_listen or None, curve=self.auth is not None)

    def poll(self) -> float:
        if not self.proxy.is_alive():
            log.error("bus_proxy_exited")
            self.rt.stop(1)
        return 0.5

    def stop(self) -> None:
        """The sentinel goes first; the runtime's context termination then ends the proxy."""
        self.sentinel.close(linger=0)
        if self.auth is not None:
            self.auth.stop()
        log.info("bus_stopped")


def run(rt: Runtime) -> int:
    """Bind the bus sockets and proxy until SIGTERM/SIGINT."""
    return rt.run(BusSubsystem)
