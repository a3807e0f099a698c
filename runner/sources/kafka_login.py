"""Why a Kafka bootstrap with SASL failed: one login of our own, read to the end.

A broker that refuses a SASL login writes the refusal and closes the connection at once.
kafka-python's transport often handles the close before the refusal it has already received,
retries, and after its bootstrap bound reports only a timeout — under CPU load almost every time
(measured: 17 of 20 runs said "no broker answered", exit 3, for a wrong password). Whether a
refusal was seen was a race.

So when a bootstrap with SASL ends without a recorded refusal, ``refusal`` asks the first
reachable broker directly: SaslHandshake, then SaslAuthenticate steps with kafka-python's own
mechanism (PLAIN or SCRAM), each reply read in full before anything else is sent, on a blocking
socket — the broker's answer always arrives before its close. The answer decides: a refusal is
``auth`` (exit 2); an accepted login or an unreachable broker leaves the original error.
"""

from __future__ import annotations

import socket
import ssl
import struct
from collections.abc import Mapping
from typing import Any

from runner.endpoints import check

#: The probe's bound per broker: connect, handshake and every authentication step.
PROBE_TIMEOUT_S = 5.0
#: A SASL answer is a few hundred bytes; a larger frame is not a Kafka broker talking.
_MAX_ANSWER = 1024 * 1024


def refusal(config: Mapping[str, Any]) -> Exception | None:
    """The broker's refusal of this configuration's SASL login, or None."""
    if not str(config.get("security_protocol", "")).startswith("SASL_"):
        return None
    for broker in config["bootstrap_servers"]:
        try:
            return _login(broker, config)
        except (OSError, ValueError, struct.error):
            continue  # unreachable, or not a Kafka answer: the next broker, else no verdict
    return None


def _login(broker: str, config: Mapping[str, Any]) -> Exception | None:
    from kafka import errors as k
    from kafka.net.sasl import get_sasl_mechanism
    from kafka.protocol.sasl import (
        SaslAuthenticateRequest,
        SaslAuthenticateResponse,
        SaslHandshakeRequest,
        SaslHandshakeResponse,
    )

    mechanism_name = str(config.get("sasl_mechanism", "PLAIN"))
    address = check(broker, "kafka", 9092)
    with _connect(address.host.strip("[]"), address.port, config) as sock:
        handshake = _call(sock, SaslHandshakeRequest(mechanism=mechanism_name, version=1), 1)
        reply = SaslHandshakeResponse.decode(handshake, version=1, header=True)
        if reply.error_code:  # the mechanism is not enabled: a configuration the broker refuses
            return _refused(k.for_code(reply.error_code).__name__)
        mechanism = get_sasl_mechanism(mechanism_name)(host=address.host, **config)
        step = 2
        while not mechanism.is_done():
            request = SaslAuthenticateRequest(auth_bytes=mechanism.auth_bytes(), version=1)
            answer = SaslAuthenticateResponse.decode(
                _call(sock, request, step), version=1, header=True
            )
            if answer.error_code:
                return _refused(k.for_code(answer.error_code).__name__)
            mechanism.receive(answer.auth_bytes)
            step += 1
        ok = mechanism.is_authenticated()
        return None if ok else _refused(mechanism_name)


def _refused(why: str) -> Exception:
    from kafka import errors as k

    error: Exception = k.SaslAuthenticationFailedError(why)
    return error


def _connect(host: str, port: int, config: Mapping[str, Any]) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S)
    if config.get("security_protocol") != "SASL_SSL":
        return sock
    context = config.get("ssl_context") or ssl.create_default_context(
        cafile=config.get("ssl_cafile")
    )
    return context.wrap_socket(sock, server_hostname=host)


def _call(sock: socket.socket, request: Any, correlation_id: int) -> bytes:
    request.with_header(correlation_id=correlation_id, client_id="toolpod-runner")
    sock.sendall(request.encode(version=1, header=True, framed=True))
    (size,) = struct.unpack(">i", _exactly(sock, 4))
    if not 0 <= size <= _MAX_ANSWER:
        raise ValueError("not a Kafka answer")
    return _exactly(sock, size)


def _exactly(sock: socket.socket, size: int) -> bytes:
    chunks, missing = [], size
    while missing:
        chunk = sock.recv(min(missing, 65536))
        if not chunk:
            raise ConnectionError("the broker closed the connection mid-answer")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)
