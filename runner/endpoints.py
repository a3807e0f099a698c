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


def check(text: str, default_scheme: str, default_port: int) -> Endpoint:
    """Parse ``text`` (with or without a scheme); ``ValueError`` says what is wrong, not what."""
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
    return Endpoint(
        scheme=parts.scheme,
        host=host,
        port=port or default_port,
        username=parts.username,
        password=parts.password,
        path=parts.path,
    )


def scrub(message: str) -> str:
    """``message`` with the userinfo of every URL or ``user:pass@host`` replaced by ``***``."""
    if "@" not in message:
        return message
    return _USERINFO.sub(lambda m: f"{m.group('scheme') or ''}***@", message)
