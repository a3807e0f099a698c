"""Endpoints as users write them (NATS URLs, the Pub/Sub endpoint, Kafka brokers): checked
before anything connects, and never shown with their userinfo.

``check`` is what the spec models and the credential readers call: a bad port (``:99999``,
``59665x``), an unclosed ``[::1`` or a missing host is one ``ValueError`` that does not repeat
the text (it may carry ``user:password@``). ``scrub`` removes userinfo from any message; every
``ToolpodError`` and every log line passes through it, so an endpoint echoed by a third-party
exception is redacted too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

#: ``scheme://user:pass@`` or ``user:pass@`` before a host, up to the last '@' of the token.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)?[^\s'\"()<>,]*@(?=[\w\[])")
_HOST = re.compile(r"[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+(%[\w.-]+)?\]")


@dataclass(frozen=True)
class Endpoint:
    """A checked endpoint. ``address`` is ``scheme://host:port`` without userinfo."""

    scheme: str
    host: str  # as in a URL: an IPv6 address keeps its brackets
    port: int
    username: str | None
    password: str | None
    path: str

    @property
    def address(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def check(
    text: str, default_scheme: str, default_port: int, *, userinfo: bool = True, path: bool = True
) -> Endpoint:
    """Parse ``text`` (with or without a scheme); ``ValueError`` says what is wrong, not what.

    ``userinfo=False``: a ``user:password@`` is refused — where the client would not use it
    (Kafka took ``user:pass@host`` for a host name and retried it as unreachable, exit 3).
    ``path=False``: nothing may follow ``host:port``.
    """
    if any(c.isspace() or not c.isprintable() for c in text):
        raise ValueError("an address must not contain whitespace or control characters")
    try:
        parts = urlsplit(text if "://" in text else f"{default_scheme}://{text}")
        port = parts.port
    except ValueError:
        raise ValueError(
            "not a valid address: check the brackets of an IPv6 host and that the port is a "
            "number from 1 to 65535"
        ) from None
    netloc_host = parts.netloc.rpartition("@")[2]
    host = netloc_host.rsplit(":", 1)[0] if not netloc_host.endswith("]") else netloc_host
    if not parts.hostname or not _HOST.fullmatch(host):
        raise ValueError("not a valid address: it has no host, or the host has invalid characters")
    if port == 0:
        raise ValueError("not a valid address: the port must be a number from 1 to 65535")
    _check_parts(parts.netloc, parts.path + parts.query + parts.fragment, userinfo, path)
    return Endpoint(
        scheme=parts.scheme,
        host=host,
        port=port or default_port,
        username=parts.username,
        password=parts.password,
        path=parts.path,
    )


def _check_parts(netloc: str, rest: str, userinfo: bool, path: bool) -> None:
    if not userinfo and "@" in netloc:
        raise ValueError(
            "not a valid address: it carries a user:password@ part, which is not used here "
            "(give credentials through the credential alias)"
        )
    if not path and (rest or netloc.endswith(":")):
        raise ValueError("not a valid address: it must be host:port, with nothing after the port")


def scrub(message: str) -> str:
    """``message`` with the userinfo of every URL or ``user:pass@host`` replaced by ``***``."""
    if "@" not in message:
        return message
    return _USERINFO.sub(lambda m: f"{m.group('scheme') or ''}***@", message)
