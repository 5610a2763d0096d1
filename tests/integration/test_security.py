"""Bearer-token auth, TLS and mutual TLS, against real servers on 127.0.0.1.

The certificates are made here, with the `cryptography` package: a CA, a server certificate for
127.0.0.1 and localhost, a client certificate, and a second, unrelated CA with its own client.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from service.api.security import UNAUTHENTICATED_MESSAGE, server_credentials
from service.cli import _parser
from service.config import Settings, settings_from_env
from service.errors import ConfigurationError
from summarizer.v1 import summarizer_service_pb2 as pb
from summarizer.v1 import summarizer_service_pb2_grpc as pb_grpc
from tests.integration.conftest import ServerThread, server_settings
from tests.integration.test_api import details_of
from tests.integration.test_robustness import (
    FOREIGN_LOOPS,
    article,
    stop_server,
    warm_pipeline,
)

pytestmark = [pytest.mark.integration, FOREIGN_LOOPS]

TOKEN = "s3cret-Token_0123456789"
SERVICE = "summarizer.v1.SummarizerService"


# -- certificates ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path

    def pem(self) -> tuple[bytes, bytes]:
        return self.cert.read_bytes(), self.key.read_bytes()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(folder: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Issued:
    cert_path, key_path = folder / f"{stem}.pem", folder / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return Issued(cert_path, key_path)


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
    )


class Authority:
    """A throwaway certificate authority that issues server and client certificates."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder = folder
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name(name)
        cert = (
            _builder(self.name, self.name, self.key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )
        self.issued = _write(folder, name, cert, self.key)

    def issue(self, stem: str, *, server: bool) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = _builder(_name(stem), self.name, key).add_extension(
            x509.BasicConstraints(ca=False, path_length=None), critical=True
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        else:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
            )
        return _write(self.folder, stem, builder.sign(self.key, hashes.SHA256()), key)


@dataclass(frozen=True)
class Pki:
    ca: Authority
    server: Issued
    client: Issued
    rogue_client: Issued


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca = Authority(folder, "summarizer-test-ca")
    rogue = Authority(folder, "someone-elses-ca")
    return Pki(
        ca,
        ca.issue("server", server=True),
        ca.issue("client", server=False),
        rogue.issue("rogue", server=False),
    )


def _credentials(pki: Pki, client: Issued | None) -> grpc.ChannelCredentials:
    root = pki.ca.issued.cert.read_bytes()
    if client is None:
        return grpc.ssl_channel_credentials(root_certificates=root)
    cert, key = client.pem()
    return grpc.ssl_channel_credentials(root_certificates=root, private_key=key, certificate_chain=cert)


def _list_models(channel: grpc.Channel) -> pb.ListModelsResponse:
    return pb_grpc.SummarizerServiceStub(channel).ListModels(pb.ListModelsRequest(), timeout=5)


def _refused(channel: grpc.Channel) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        _list_models(channel)
    return info.value.code()


@pytest.fixture(scope="module")
def tls_server(pki: Pki) -> Iterator[ServerThread]:
    settings = server_settings(tls_cert=pki.server.cert, tls_key=pki.server.key)
    server = ServerThread(settings, warm_pipeline())
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def mtls_server(pki: Pki) -> Iterator[ServerThread]:
    settings = server_settings(
        tls_cert=pki.server.cert, tls_key=pki.server.key, tls_client_ca=pki.ca.issued.cert
    )
    server = ServerThread(settings, warm_pipeline())
    yield server
    stop_server(server)


def test_tls_serves_tls_clients_and_refuses_plaintext(pki, tls_server):
    with grpc.secure_channel(tls_server.target, _credentials(pki, None)) as channel:
        assert _list_models(channel).profile == "fake"
        response = pb_grpc.SummarizerServiceStub(channel).Summarize(
            pb.SummarizeRequest(text=article(), target_languages=["fr"]), timeout=10
        )
        assert response.summaries[0].language == "fr"
    with grpc.insecure_channel(tls_server.target) as channel:
        assert _refused(channel) == grpc.StatusCode.UNAVAILABLE


def test_the_server_certificate_is_checked_by_the_client(pki, tls_server):
    """A client that trusts another CA does not talk to this server: the certificate chain matters."""
    rogue_ca = pki.rogue_client.cert.parent / "someone-elses-ca.pem"
    credentials = grpc.ssl_channel_credentials(root_certificates=rogue_ca.read_bytes())
    with grpc.secure_channel(tls_server.target, credentials) as channel:
        assert _refused(channel) == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_admits_only_clients_with_a_certificate_from_its_ca(pki, mtls_server):
    with grpc.secure_channel(mtls_server.target, _credentials(pki, pki.client)) as channel:
        assert _list_models(channel).profile == "fake"
        health = health_pb2_grpc.HealthStub(channel)
        status = health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=5).status
        assert status == health_pb2.HealthCheckResponse.SERVING
    with grpc.insecure_channel(mtls_server.target) as channel:
        assert _refused(channel) == grpc.StatusCode.UNAVAILABLE
    with grpc.secure_channel(mtls_server.target, _credentials(pki, None)) as channel:
        assert _refused(channel) == grpc.StatusCode.UNAVAILABLE  # TLS, but no client certificate
    with grpc.secure_channel(mtls_server.target, _credentials(pki, pki.rogue_client)) as channel:
        assert _refused(channel) == grpc.StatusCode.UNAVAILABLE  # a certificate from the wrong CA


def test_unusable_tls_files_stop_the_server_at_start_up(pki, tmp_path):
    # The client's key does not belong to the server's certificate.
    mismatched = server_settings(tls_cert=pki.server.cert, tls_key=pki.client.key)
    with pytest.raises(ConfigurationError, match="TLS files unusable"):
        server_credentials(mismatched)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(ConfigurationError, match="TLS files unusable"):
        server_credentials(
            server_settings(tls_cert=pki.server.cert, tls_key=pki.server.key, tls_client_ca=garbage)
        )
    assert server_credentials(server_settings()) is None


# -- bearer token ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def auth_server() -> Iterator[ServerThread]:
    server = ServerThread(server_settings(auth_token=TOKEN), warm_pipeline())
    yield server
    stop_server(server)


def _with(token: str | None) -> tuple[tuple[str, str], ...]:
    return () if token is None else (("authorization", token),)


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", TOKEN],
)
def test_a_missing_or_wrong_token_is_unauthenticated_with_one_message(auth_server, header):
    with grpc.insecure_channel(auth_server.target) as channel:
        stub = pb_grpc.SummarizerServiceStub(channel)
        calls = (
            lambda: stub.Summarize(pb.SummarizeRequest(text=article()), metadata=_with(header), timeout=5),
            lambda: list(
                stub.StreamSummarize(
                    pb.StreamSummarizeRequest(text=article()), metadata=_with(header), timeout=5
                )
            ),
            lambda: stub.Translate(
                pb.TranslateRequest(texts=["Hello."], target_languages=["fr"]),
                metadata=_with(header),
                timeout=5,
            ),
            lambda: stub.DetectLanguage(
                pb.DetectLanguageRequest(text="Hello"), metadata=_with(header), timeout=5
            ),
            lambda: stub.ListModels(pb.ListModelsRequest(), metadata=_with(header), timeout=5),
        )
        for call in calls:
            with pytest.raises(grpc.RpcError) as info:
                call()
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert info.value.details() == UNAUTHENTICATED_MESSAGE
            assert details_of(info.value)["ErrorInfo"].reason == "UNAUTHENTICATED"


def test_the_right_token_is_let_in_and_failures_are_counted(auth_server):
    before = auth_server.server.metrics["auth_failures"]
    with grpc.insecure_channel(auth_server.target) as channel:
        stub = pb_grpc.SummarizerServiceStub(channel)
        for header in (f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER  {TOKEN} "):
            response = stub.Summarize(pb.SummarizeRequest(text=article()), metadata=_with(header), timeout=10)
            assert response.summaries
        events = list(
            stub.StreamSummarize(
                pb.StreamSummarizeRequest(text=article()), metadata=_with(f"Bearer {TOKEN}"), timeout=10
            )
        )
        assert events[0].WhichOneof("event") == "source_language"
        with pytest.raises(grpc.RpcError):
            stub.ListModels(pb.ListModelsRequest(), metadata=_with("Bearer nope"), timeout=5)
    assert auth_server.server.metrics["auth_failures"] == before + 1


def test_health_and_reflection_need_no_token(auth_server):
    with grpc.insecure_channel(auth_server.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", SERVICE):
            status = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5).status
            assert status == health_pb2.HealthCheckResponse.SERVING
        assert SERVICE in set(ProtoReflectionDescriptorDatabase(channel).get_services())


def test_the_token_can_come_from_a_file(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(f"{TOKEN}\n")
    settings = settings_from_env(
        {"SUMMARIZER_AUTH_TOKEN_FILE": str(token_file)}, host="127.0.0.1", port=0, warmup=False
    )
    server = ServerThread(settings, warm_pipeline())
    try:
        with grpc.insecure_channel(server.target) as channel:
            stub = pb_grpc.SummarizerServiceStub(channel)
            assert stub.ListModels(
                pb.ListModelsRequest(), metadata=_with(f"Bearer {TOKEN}"), timeout=5
            ).models
            with pytest.raises(grpc.RpcError) as info:
                stub.ListModels(pb.ListModelsRequest(), timeout=5)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        stop_server(server)


# -- settings --------------------------------------------------------------------------------


def test_security_and_admission_flags_reach_the_settings(tmp_path):
    cert, key, ca, token = (tmp_path / name for name in ("c.pem", "k.pem", "ca.pem", "token"))
    for path in (cert, key, ca):
        path.write_text("-")
    token.write_text(TOKEN)
    args = _parser().parse_args(
        [
            "--auth-token-file", str(token),
            "--tls-cert", str(cert),
            "--tls-key", str(key),
            "--tls-client-ca", str(ca),
            "--max-concurrent-requests", "3",
            "--max-queue", "0",
        ]
    )  # fmt: skip
    overrides = {k: v for k, v in vars(args).items() if k != "port_file"}
    settings = settings_from_env({}, **overrides)
    assert (settings.tls_cert, settings.tls_key, settings.tls_client_ca) == (cert, key, ca)
    assert (settings.max_concurrent_requests, settings.max_queue) == (3, 0)
    assert settings.bearer_token() == TOKEN
    env = {"SUMMARIZER_AUTH_TOKEN": TOKEN, "SUMMARIZER_MAX_QUEUE": "7"}
    from_env = settings_from_env(env)
    assert (from_env.bearer_token(), from_env.max_queue) == (TOKEN, 7)
    assert TOKEN not in repr(from_env)  # settings may be logged; the token must not be


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"auth_token": TOKEN, "auth_token_file": "TOKEN_FILE"}, "not both"),
        ({"auth_token": "two words"}, "printable ASCII"),
        ({"auth_token": TOKEN + "\n"}, "printable ASCII"),
        ({"auth_token_file": "EMPTY_FILE"}, "printable ASCII"),
        ({"auth_token_file": "/nonexistent/token"}, "cannot read"),
        ({"tls_cert": "TOKEN_FILE"}, "set both or neither"),
        ({"tls_client_ca": "TOKEN_FILE"}, "needs tls_cert"),
        ({"tls_cert": "/nonexistent/cert.pem", "tls_key": "TOKEN_FILE"}, "does not exist"),
        ({"max_concurrent_requests": 0}, "max_concurrent_requests"),
        ({"max_queue": -1}, "max_queue"),
    ],
)
def test_bad_security_and_admission_settings_fail_loudly(tmp_path, values, message):
    token_file, empty = tmp_path / "token", tmp_path / "empty"
    token_file.write_text(TOKEN)
    empty.write_text("\n")
    paths = {"TOKEN_FILE": token_file, "EMPTY_FILE": empty}
    resolved = {
        k: (Path(paths.get(v, v)) if k != "auth_token" and isinstance(v, str) else v)
        for k, v in values.items()
    }
    with pytest.raises(ConfigurationError, match=message) as info:
        Settings(**resolved).validate()  # type: ignore[arg-type]
    assert TOKEN not in str(info.value)
