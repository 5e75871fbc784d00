"""Who is calling, and what they may see: peer credentials on the unix socket, bearer tokens on TCP.

Roles, weakest first: guest, operator, admin, root. Local peers on `api.sock` whose uid is 0
or the daemon's get root. Over TCP a bearer token from `[gateway] tokens` gives its role on
its namespaces. An event with a `namespace` label reaches a non-root principal only if it
holds a role on that namespace.
"""

from __future__ import annotations

import hmac
import os
import socket
import struct
from dataclasses import dataclass

from aiohttp import web

from omd.config import TokenEntry

ROLES = ("guest", "operator", "admin", "root")


class AuthError(Exception):
    """Refused: `status` 401 (who are you?) or 403 (not allowed)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    name: str
    role: str
    namespaces: frozenset[str] = frozenset({"*"})

    @property
    def is_root(self) -> bool:
        return self.role == "root"

    @property
    def sees_all(self) -> bool:
        """True when no namespace limits this principal (root, or a token for `*`)."""
        return self.is_root or "*" in self.namespaces

    def has_role(self, role: str) -> bool:
        """True when this principal's role is `role` or stronger."""
        return ROLES.index(self.role) >= ROLES.index(role)

    def can_see(self, namespace: str | None) -> bool:
        """True when events of `namespace` (None: no namespace label) may reach this principal."""
        if namespace is None or self.is_root:
            return True
        return "*" in self.namespaces or namespace in self.namespaces


def peer_uid(request: web.Request) -> int | None:
    """The uid of the process at the other end of a unix socket connection, else None."""
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is None or sock.family != socket.AF_UNIX:
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


class Authenticator:
    """Maps a request to a `Principal` or raises `AuthError`."""

    def __init__(self, tokens: list[TokenEntry]) -> None:
        self.tokens = [(t.token.encode(), Principal(t.name, t.role, frozenset(t.namespaces))) for t in tokens]
        self.daemon_uid = os.getuid()

    def __call__(self, request: web.Request) -> Principal:
        uid = peer_uid(request)
        if uid is not None:
            if uid in (0, self.daemon_uid):
                return Principal(f"uid:{uid}", "root")
            raise AuthError(403, f"local uid {uid} is not allowed on the API socket")
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError(401, "a bearer token is required (Authorization: Bearer <token>)")
        # Header values are latin-1 decoded with surrogate escapes for invalid bytes: encode
        # back the same way, so any byte string compares (and fails) instead of raising.
        given = token.strip().encode("utf-8", "surrogateescape")
        found = None
        for secret, principal in self.tokens:  # compare every token: no timing oracle
            if hmac.compare_digest(secret, given):
                found = principal
        if found is None:
            raise AuthError(401, "invalid bearer token")
        return found
