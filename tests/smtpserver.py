"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1 with STARTTLS (or implicit TLS) and AUTH.

The certificate is made fresh per server by a throw-away CA (``cryptography``), so the
client verifies it for real against ``ca_file`` instead of switching verification off.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TEST_USER = "netdiag-test"
TEST_PASSWORD = "s3cret-Pa55-word"
REFUSED_DOMAIN = "refused.invalid"  # RCPT TO any address here is refused with 550


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca_file: Path  # what the client trusts
    cert_file: Path  # the server's chain
    key_file: Path


def make_tls_files(directory: Path) -> TlsFiles:
    """A CA and a server certificate for 127.0.0.1/localhost signed by it."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "netdiag test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return files


@dataclass
class Mailbox:
    """What the server received: raw messages with their envelopes, and the logins tried."""

    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)  # (from, rcpts, data)
    logins: list[tuple[str, bool]] = field(default_factory=list)  # (user, accepted)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def parsed(self, index: int = -1) -> EmailMessage:
        with self.lock:
            data = self.messages[index][2]
        return message_from_bytes(data, policy=policy.default)


class _Handler:
    """aiosmtpd handler hooks: refuse one domain's recipients, keep every message."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.lower().endswith("@" + REFUSED_DOMAIN):
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.mailbox.lock:
            received = (envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
            self.mailbox.messages.append(received)
        return "250 Message accepted for delivery"


def _authenticator(mailbox: Mailbox) -> Any:
    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode()
        ok = user == TEST_USER and auth_data.password.decode() == TEST_PASSWORD
        with mailbox.lock:
            mailbox.logins.append((user, ok))
        return AuthResult(success=ok, handled=False)

    return authenticate


class _Controller(Controller):
    """Binds port 0 and learns the real port before aiosmtpd's readiness probe connects to it."""

    def _trigger_server(self) -> None:
        server: Any = self.server
        self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class SmtpServer:
    host: str
    port: int
    tls: str  # starttls | ssl | none
    ca_file: Path
    mailbox: Mailbox


@contextmanager
def running_smtp_server(directory: Path, tls: str = "starttls") -> Iterator[SmtpServer]:
    """An SMTP server on 127.0.0.1 for the duration of the ``with``.

    ``starttls``: plain connect, STARTTLS required before AUTH and MAIL.
    ``ssl``: TLS from the first byte (SMTPS). ``none``: plain text, and so no AUTH offered.
    AUTH LOGIN and PLAIN check TEST_USER/TEST_PASSWORD.
    """
    files = make_tls_files(directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.cert_file, files.key_file)
    mailbox = Mailbox()
    kwargs: dict[str, Any] = {"authenticator": _authenticator(mailbox), "auth_require_tls": True}
    if tls == "starttls":
        kwargs.update(tls_context=context, require_starttls=True, auth_required=True)
    elif tls == "ssl":
        # aiosmtpd only counts STARTTLS as TLS for AUTH; on SMTPS the whole session is TLS already.
        kwargs.update(ssl_context=context, auth_require_tls=False)
    controller = _Controller(_Handler(mailbox), hostname="127.0.0.1", port=0, ready_timeout=10, **kwargs)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", controller.port, tls, files.ca_file, mailbox)
    finally:
        controller.stop()
