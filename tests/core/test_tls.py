"""TLS: spans reach a gRPC and an HTTPS receiver that present a certificate we trust."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from axonize_testsupport.otlp_sink import GrpcSink, HttpSink
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import axonize


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    path.write_bytes(cert_pem)
    (path.parent / "key.pem").write_bytes(key_pem)
    return path, cert_pem, key_pem


@pytest.fixture
def tls_sink(cert: tuple[Path, bytes, bytes]) -> Iterator[GrpcSink]:
    sink = GrpcSink(tls=(cert[1], cert[2]))
    yield sink
    sink.stop()


def test_grpc_over_tls_with_a_trusted_certificate(tls_sink: GrpcSink,
                                                  cert: tuple[Path, bytes, bytes]) -> None:
    axonize.init(endpoint=f"https://localhost:{tls_sink.port}", certificate=str(cert[0]),
                 flush_interval_ms=50, metrics=False)
    with axonize.span("over tls"):
        pass
    assert axonize.flush(10)
    assert [s.name for s in tls_sink.spans()] == ["over tls"]


def test_grpc_tls_refuses_an_untrusted_certificate(tls_sink: GrpcSink) -> None:
    axonize.init(endpoint=f"https://localhost:{tls_sink.port}", flush_interval_ms=50,
                 max_retry_ms=300, metrics=False)
    with axonize.span("not trusted"):
        pass
    assert axonize.flush(5) is False
    assert tls_sink.spans() == []


def test_https_with_a_trusted_certificate(cert: tuple[Path, bytes, bytes]) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert[0], cert[0].parent / "key.pem")
    sink = HttpSink(ssl_context=ctx)
    try:
        axonize.init(endpoint=f"https://localhost:{sink.port}", protocol="http/protobuf",
                     certificate=str(cert[0]), flush_interval_ms=50, metrics=False)
        with axonize.span("over https"):
            pass
        assert axonize.flush(10)
        assert [s.name for s in sink.spans()] == ["over https"]
    finally:
        axonize.shutdown(2)
        sink.stop()
