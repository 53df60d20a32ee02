"""Debian's nginx with the shipped deploy/nginx.conf, in front of API processes, on spare
loopback ports: the test's own, with a self-signed certificate."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from reliability.services import wait_until

from tests.support.server import free_port

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"
LOOPBACK = IPv4Address("127.0.0.1")
PLACEHOLDER = re.compile(r"\$\{(GAMEHUB_[A-Z_]+)\}")


def render(template: str, values: dict[str, str]) -> str:
    """deploy/nginx.conf with its ${GAMEHUB_...} placeholders filled in, as envsubst does
    with the list of names given; every placeholder must have a value."""
    missing = sorted(set(PLACEHOLDER.findall(template)) - set(values))
    if missing:
        raise KeyError(f"no value for {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


@dataclass(frozen=True)
class Nginx:
    https_url: str
    http_url: str
    certificate: Path


def _self_signed(root: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = root / "cert.pem", root / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@contextmanager
def running_nginx(binary: str, upstreams: Sequence[str]) -> Iterator[Nginx]:
    """nginx with deploy/nginx.conf, ``upstreams`` (host:port) as the API servers."""
    root = Path(tempfile.mkdtemp(prefix="gamehub-nginx-"))
    try:
        root.chmod(0o755)
        cert, key = _self_signed(root)
        https_port, http_port = free_port(), free_port()
        site = render(
            SHIPPED.read_text(),
            {
                "GAMEHUB_API_SERVERS": " ".join(f"server {u};" for u in upstreams),
                "GAMEHUB_SERVER_NAME": "127.0.0.1",
                "GAMEHUB_LISTEN": f"127.0.0.1:{https_port}",
                "GAMEHUB_LISTEN_HTTP": f"127.0.0.1:{http_port}",
                "GAMEHUB_TLS_CERTIFICATE": str(cert),
                "GAMEHUB_TLS_CERTIFICATE_KEY": str(key),
            },
        )
        (root / "gamehub.conf").write_text(site)
        temp = root / "temp"
        temp.mkdir(mode=0o777)
        temp.chmod(0o777)
        # The outer configuration a Debian host's /etc/nginx/nginx.conf plays, in the
        # foreground and with every path in this directory.
        (root / "nginx.conf").write_text(
            "daemon off;\n"
            "worker_processes 1;\n"
            f"pid {root / 'nginx.pid'};\n"
            f"error_log {root / 'error.log'} info;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            f"    access_log {root / 'access.log'};\n"
            f"    client_body_temp_path {temp / 'body'};\n"
            f"    proxy_temp_path {temp / 'proxy'};\n"
            f"    fastcgi_temp_path {temp / 'fastcgi'};\n"
            f"    uwsgi_temp_path {temp / 'uwsgi'};\n"
            f"    scgi_temp_path {temp / 'scgi'};\n"
            f"    include {root / 'gamehub.conf'};\n"
            "}\n"
        )
        command = [binary, "-p", str(root), "-e", str(root / "error.log")]
        command += ["-c", str(root / "nginx.conf")]
        checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:

            def listening() -> bool:
                if process.poll() is not None:
                    log = (root / "error.log").read_text()
                    raise AssertionError(f"nginx exited with {process.returncode}:\n{log}")
                try:
                    socket.create_connection(("127.0.0.1", https_port), timeout=0.2).close()
                except OSError:
                    return False
                return True

            wait_until("nginx", listening)
            yield Nginx(f"https://127.0.0.1:{https_port}", f"http://127.0.0.1:{http_port}", cert)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)
