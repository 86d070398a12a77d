"""The local stack's certificates: a private CA, a server certificate and a client certificate.

Made once, the first time the stack comes up, and kept under its directory: Kafka's SASL_SSL
listener and MariaDB serve the server certificate (for 127.0.0.1 and localhost), and clients
verify it against the CA. The client certificate is for trying mutual TLS.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_FOR = datetime.timedelta(days=825)
SERVER_NAMES: tuple[x509.GeneralName, ...] = (
    x509.DNSName("localhost"),
    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
)


@dataclass(frozen=True)
class Certificates:
    directory: Path

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def server_cert_file(self) -> Path:
        return self.directory / "server.pem"

    @property
    def server_key_file(self) -> Path:
        return self.directory / "server-key.pem"

    @property
    def server_keystore_file(self) -> Path:
        """The server's key, then its certificate and the CA: Kafka's PEM keystore."""
        return self.directory / "server-keystore.pem"

    @property
    def client_cert_file(self) -> Path:
        return self.directory / "client.pem"

    @property
    def client_key_file(self) -> Path:
        return self.directory / "client-key.pem"

    def files(self) -> tuple[Path, ...]:
        return (
            self.ca_file, self.server_cert_file, self.server_key_file,
            self.server_keystore_file, self.client_cert_file, self.client_key_file,
        )  # fmt: skip


@dataclass(frozen=True)
class Authority:
    """A certificate authority's key and self-signed certificate."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @classmethod
    def create(cls, name: str) -> Authority:
        key = _new_key()
        subject = _name(name)
        builder = _builder(subject, subject, key.public_key())
        certificate = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=0), critical=True
        ).sign(key, hashes.SHA256())
        return cls(key, certificate)

    def issue(self, name: str, *, server: bool) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
        """A key and a certificate signed by this authority, for a server or a client."""
        key = _new_key()
        builder = _builder(self.certificate.subject, _name(name), key.public_key())
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName(SERVER_NAMES), False)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), False)
        return key, builder.sign(self.key, hashes.SHA256())


def ensure_certificates(directory: Path) -> Certificates:
    """The stack's certificates, made now unless every file is already there."""
    certificates = Certificates(directory)
    if all(path.exists() for path in certificates.files()):
        return certificates
    directory.mkdir(parents=True, exist_ok=True)
    authority = Authority.create("ordering-system local stack CA")
    server_key, server_cert = authority.issue("127.0.0.1", server=True)
    client_key, client_cert = authority.issue("ordering-client", server=False)
    ca_pem = certificate_pem(authority.certificate)
    _write(certificates.server_key_file, key_pem(server_key), private=True)
    _write(certificates.server_cert_file, certificate_pem(server_cert))
    keystore = key_pem(server_key) + certificate_pem(server_cert) + ca_pem
    _write(certificates.server_keystore_file, keystore, private=True)
    _write(certificates.client_key_file, key_pem(client_key), private=True)
    _write(certificates.client_cert_file, certificate_pem(client_cert))
    # The CA last: it is what a client trusts, so it never names a server key not written yet.
    _write(certificates.ca_file, ca_pem)
    return certificates


def certificate_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def key_pem(key: rsa.RSAPrivateKey) -> bytes:
    """Unencrypted PKCS#8, the form both Kafka's PEM keystore and MariaDB read."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    issuer: x509.Name, subject: x509.Name, public_key: rsa.RSAPublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .issuer_name(issuer)
        .subject_name(subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALID_FOR)
    )


def _write(path: Path, content: bytes, *, private: bool = False) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(content)
    if private:
        temporary.chmod(0o600)
    temporary.replace(path)
