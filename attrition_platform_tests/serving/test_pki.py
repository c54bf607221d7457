"""The throwaway PKI the TLS tests use: its server certificate verifies against its CA only."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

import pytest

from attrition_platform_tests.serving.pki import make_ca_and_server_cert


def _accept_tls(listener: socket.socket, ctx: ssl.SSLContext, reply: bytes = b"") -> None:
    conn, _ = listener.accept()
    try:
        with ctx.wrap_socket(conn, server_side=True) as tls:
            if reply:
                tls.sendall(reply)
    except (ssl.SSLError, OSError):
        conn.close()


def test_the_test_pki_issues_a_server_cert_the_ca_verifies_for_loopback(tmp_path: Path) -> None:
    ca_pem, cert_path, key_path = make_ca_and_server_cert(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert_path, key_path)
    for hostname in ("127.0.0.1", "localhost"):
        listener = socket.create_server(("127.0.0.1", 0))
        thread = threading.Thread(
            target=_accept_tls, args=(listener, server_ctx, b"ok"), daemon=True
        )
        thread.start()
        client_ctx = ssl.create_default_context(cadata=ca_pem)
        with socket.create_connection(listener.getsockname()) as raw:
            with client_ctx.wrap_socket(raw, server_hostname=hostname) as tls:
                assert tls.recv(2) == b"ok"
        thread.join(5)
        listener.close()
    assert (tmp_path / "ca.pem").read_text() == ca_pem
    assert key_path.stat().st_mode & 0o077 == 0


def test_a_client_trusting_another_ca_refuses_the_server_cert(tmp_path: Path) -> None:
    _, cert_path, key_path = make_ca_and_server_cert(tmp_path / "ours")
    other_ca, _, _ = make_ca_and_server_cert(tmp_path / "other")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert_path, key_path)
    listener = socket.create_server(("127.0.0.1", 0))
    thread = threading.Thread(target=_accept_tls, args=(listener, server_ctx), daemon=True)
    thread.start()
    try:
        with socket.create_connection(listener.getsockname()) as raw:
            with pytest.raises(ssl.SSLCertVerificationError):
                ssl.create_default_context(cadata=other_ca).wrap_socket(
                    raw, server_hostname="127.0.0.1"
                )
    finally:
        thread.join(5)
        listener.close()
