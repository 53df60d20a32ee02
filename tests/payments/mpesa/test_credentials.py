from __future__ import annotations

import base64
import stat
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gamehub.core.mpesa.credentials import (
    MalformedCredentialError,
    daraja_timestamp,
    decrypt_security_credential,
    ensure_simulator_keypair,
    load_private_key,
    security_credential,
    stk_credentials,
    stk_password,
)
from gamehub.payments.mpesa.simulator import SANDBOX_PASSKEY

# The Password in Safaricom's STK Push sample request, for shortcode 174379 at this timestamp.
DOCS_PASSWORD = (
    "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQy"
    "YzkxOTIwMTYwMjE2MTY1NjI3"
)


@pytest.fixture(scope="module")
def keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return ensure_simulator_keypair(tmp_path_factory.mktemp("keys"))


def test_password_matches_the_daraja_sample() -> None:
    assert stk_password("174379", SANDBOX_PASSKEY, "20160216165627") == DOCS_PASSWORD


def test_timestamp_is_east_africa_time() -> None:
    moment = datetime(2024, 7, 6, 19, 48, 52, tzinfo=UTC)
    assert daraja_timestamp(moment) == "20240706224852"
    new_york = timezone(timedelta(hours=-4))
    assert daraja_timestamp(moment.astimezone(new_york)) == "20240706224852"


def test_timestamp_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        daraja_timestamp(datetime(2024, 7, 6, 19, 48, 52))


def test_password_and_timestamp_come_from_one_moment() -> None:
    moment = datetime(2023, 12, 31, 21, 0, 1, tzinfo=UTC)
    credentials = stk_credentials("174379", "key", moment)
    assert credentials.timestamp == "20240101000001"
    assert base64.b64decode(credentials.password) == b"174379key20240101000001"


def test_security_credential_decrypts_to_the_password(keypair: tuple[Path, Path]) -> None:
    key_path, cert_path = keypair
    key = load_private_key(key_path.read_bytes())
    first = security_credential("Safaricom999!*!", cert_path.read_bytes())
    second = security_credential("Safaricom999!*!", cert_path.read_bytes())
    # PKCS#1 v1.5 pads with random bytes: equal passwords, different ciphertexts.
    assert first != second
    assert len(base64.b64decode(first)) == 256
    assert decrypt_security_credential(first, key) == "Safaricom999!*!"
    assert decrypt_security_credential(second, key) == "Safaricom999!*!"


def test_a_credential_for_another_certificate_does_not_decrypt_to_the_password(
    keypair: tuple[Path, Path], tmp_path: Path
) -> None:
    key_path, _ = keypair
    _, other_cert = ensure_simulator_keypair(tmp_path / "theirs")
    credential = security_credential("secret", other_cert.read_bytes())
    key = load_private_key(key_path.read_bytes())
    try:
        plaintext = decrypt_security_credential(credential, key)
    except MalformedCredentialError:
        pytest.fail("a well-formed ciphertext for another key is not malformed")
    except ValueError:
        return
    assert plaintext != "secret"


@pytest.mark.parametrize(
    "credential",
    ["not base64!", "", base64.b64encode(b"short").decode(), base64.b64encode(bytes(300)).decode()],
)
def test_malformed_credentials_are_told_apart(keypair: tuple[Path, Path], credential: str) -> None:
    key_path, _ = keypair
    with pytest.raises(MalformedCredentialError):
        decrypt_security_credential(credential, load_private_key(key_path.read_bytes()))


def test_security_credential_needs_an_rsa_certificate() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "ec")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    with pytest.raises(ValueError, match="RSA"):
        security_credential("secret", certificate.public_bytes(serialization.Encoding.PEM))


def test_the_keypair_is_created_once_and_reused(tmp_path: Path) -> None:
    key_path, cert_path = ensure_simulator_keypair(tmp_path / "keys")
    key_pem, cert_pem = key_path.read_bytes(), cert_path.read_bytes()
    assert ensure_simulator_keypair(tmp_path / "keys") == (key_path, cert_path)
    assert key_path.read_bytes() == key_pem
    assert cert_path.read_bytes() == cert_pem
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600

    certificate = x509.load_pem_x509_certificate(cert_pem)
    assert certificate.issuer == certificate.subject
    public_key = certificate.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    private_key = load_private_key(key_pem)
    assert public_key.public_numbers() == private_key.public_key().public_numbers()
    assert certificate.not_valid_after_utc > datetime.now(UTC) + timedelta(days=365)


def test_concurrent_first_calls_agree_on_one_pair(tmp_path: Path) -> None:
    directory = tmp_path / "shared"
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: ensure_simulator_keypair(directory), range(4)))
    assert len(set(results)) == 1
    key_path, cert_path = results[0]
    credential = security_credential("pw", cert_path.read_bytes())
    assert decrypt_security_credential(credential, load_private_key(key_path.read_bytes())) == "pw"


def test_load_private_key_refuses_other_key_types() -> None:
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError, match="RSA"):
        load_private_key(pem)
