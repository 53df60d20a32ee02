"""Daraja credentials: the STK Password/Timestamp pair, the B2C SecurityCredential, and the
simulator's own RSA key pair and certificate."""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

# Daraja reads and writes every timestamp in East Africa Time, which has no daylight saving.
EAT = timezone(timedelta(hours=3), "EAT")
TIMESTAMP_FORMAT = "%Y%m%d%H%M%S"

SIMULATOR_KEY_FILE = "simulator-key.pem"
SIMULATOR_CERT_FILE = "simulator-cert.pem"
_LOCK_FILE = ".keypair.lock"


@dataclass(frozen=True, slots=True)
class StkCredentials:
    """The Password and the Timestamp it was derived from; send both from the same instance."""

    password: str
    timestamp: str


def daraja_timestamp(now: datetime | None = None) -> str:
    """``YYYYMMDDHHmmss`` in EAT; ``now`` must be timezone-aware when given."""
    moment = now if now is not None else datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return moment.astimezone(EAT).strftime(TIMESTAMP_FORMAT)


def stk_password(shortcode: str, passkey: str, timestamp: str) -> str:
    return base64.b64encode(f"{shortcode}{passkey}{timestamp}".encode()).decode("ascii")


def stk_credentials(shortcode: str, passkey: str, now: datetime | None = None) -> StkCredentials:
    # One timestamp for both fields: Daraja rejects a Password whose embedded timestamp
    # differs from the Timestamp field by even a second ("Wrong credentials").
    timestamp = daraja_timestamp(now)
    return StkCredentials(password=stk_password(shortcode, passkey, timestamp), timestamp=timestamp)


def security_credential(initiator_password: str, certificate_pem: bytes) -> str:
    """RSA PKCS#1 v1.5 encryption of the initiator password with the certificate's key, base64."""
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise ValueError("the M-Pesa certificate must carry an RSA public key")
    ciphertext = public_key.encrypt(initiator_password.encode(), padding.PKCS1v15())
    return base64.b64encode(ciphertext).decode("ascii")


def load_private_key(private_key_pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the simulator key must be an RSA private key")
    return key


class MalformedCredentialError(ValueError):
    """The SecurityCredential cannot be an RSA ciphertext at all (not merely the wrong one)."""


def decrypt_security_credential(credential: str, private_key: rsa.RSAPrivateKey) -> str:
    """The simulator's side of :func:`security_credential`.

    Raises MalformedCredentialError when the value is not base64 of one RSA block. A block
    encrypted for another key raises a plain ValueError or, with OpenSSL's implicit rejection
    of bad PKCS#1 v1.5 padding, decrypts to noise; callers treat both as a wrong password.
    """
    try:
        ciphertext = base64.b64decode(credential, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedCredentialError("SecurityCredential is not base64") from exc
    if len(ciphertext) != private_key.key_size // 8:
        raise MalformedCredentialError("SecurityCredential is not one RSA block")
    plaintext = private_key.decrypt(ciphertext, padding.PKCS1v15())
    return plaintext.decode("utf-8", errors="replace")


def ensure_simulator_keypair(directory: Path) -> tuple[Path, Path]:
    """Return ``(private_key_path, certificate_path)``, creating them on the first call.

    Later calls, from this process or another, reuse the files so that a client configured
    with the certificate keeps working across simulator restarts.
    """
    directory.mkdir(parents=True, exist_ok=True)
    key_path = directory / SIMULATOR_KEY_FILE
    cert_path = directory / SIMULATOR_CERT_FILE
    # The lock keeps two processes starting together from pairing one's key with the
    # other's certificate.
    with (directory / _LOCK_FILE).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (key_path.exists() and cert_path.exists()):
                key_pem, cert_pem = _new_keypair()
                _write_atomically(key_path, key_pem, mode=0o600)
                _write_atomically(cert_path, cert_pem, mode=0o644)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return key_path, cert_path


def _new_keypair() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Game Hub Daraja simulator"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Game Hub"),
        ]
    )
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM)


def _write_atomically(path: Path, content: bytes, *, mode: int) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
