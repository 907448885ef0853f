"""A real Git host for tests: `git http-backend` behind an HTTPS server with
basic auth, serving private repositories the way GitHub does (the URL works
with or without `.git`). Its certificate comes from a throw-away CA, which the
control plane trusts through `SourceFetcher.git_ca_file` -- the same knob an
admin uses for a company Git server."""

from __future__ import annotations

import base64
import datetime
import hmac
import ipaddress
import os
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost; returns (cert, key) paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bodo-test-git")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
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
    cert_path, key_path = folder / "git-cert.pem", folder / "git-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class GitServer:
    def __init__(self, root: Path, username: str, password: str):
        self.root = root
        self.repos = root / "repos"
        self.repos.mkdir(parents=True, exist_ok=True)
        self.username, self.password = username, password
        self.cert, self.key = make_certificate(root)
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _authorised(self) -> bool:
                header = self.headers.get("Authorization", "")
                if not header.startswith("Basic "):
                    return False
                try:
                    user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
                except ValueError:
                    return False
                return hmac.compare_digest(user, server.username) and \
                    hmac.compare_digest(pw, server.password)

            def _handle(self) -> None:
                if not self._authorised():
                    server.requests.append((self.command, self.path, 401))
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path, _, query = self.path.partition("?")
                # Like GitHub: /owner/repo and /owner/repo.git are the same repository.
                parts = path.lstrip("/").split("/")
                if len(parts) >= 2 and not parts[1].endswith(".git"):
                    parts[1] += ".git"
                path_info = "/" + "/".join(parts)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                env = {
                    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "GIT_PROJECT_ROOT": str(server.repos), "GIT_HTTP_EXPORT_ALL": "1",
                    "REQUEST_METHOD": self.command, "PATH_INFO": path_info,
                    "QUERY_STRING": query, "REMOTE_USER": server.username,
                    "REMOTE_ADDR": self.client_address[0],
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)),
                    "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                    "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                }
                proc = subprocess.run(["git", "http-backend"], input=body, env=env,
                                      capture_output=True)
                head, _, payload = proc.stdout.partition(b"\r\n\r\n")
                status = 200
                headers = []
                for line in head.decode("latin-1").split("\r\n"):
                    k, _, v = line.partition(":")
                    if k.lower() == "status":
                        status = int(v.strip().split()[0])
                    elif k:
                        headers.append((k, v.strip()))
                server.requests.append((self.command, self.path, status))
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def plane_config(self) -> str:
        """Config lines for a control plane that fetches from this server: trust its CA,
        and allow its host -- loopback, which the platform denies by default."""
        return (f"c.SourceFetcher.git_ca_file = {str(self.cert)!r}\n"
                "c.SourceFetcher.allowed_hosts = ['127.0.0.1']\n")

    def start(self) -> GitServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def create_repo(self, owner: str, name: str, branches: dict[str, dict[str, str]]) -> str:
        """A bare repository with one commit per branch holding ``files``; returns its URL."""
        bare = self.repos / owner / f"{name}.git"
        subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
        work = self.root / "work" / owner / name
        env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
               "GIT_CONFIG_GLOBAL": os.devnull}
        subprocess.run(["git", "init", "--quiet", "-b", "main", str(work)], check=True, env=env)
        for i, (branch, files) in enumerate(branches.items()):
            if i:
                subprocess.run(["git", "-C", str(work), "checkout", "--quiet", "-b", branch,
                                "main"], check=True, env=env)
            for fname, text in files.items():
                (work / fname).parent.mkdir(parents=True, exist_ok=True)
                (work / fname).write_text(text)
            subprocess.run(["git", "-C", str(work), "add", "-A"], check=True, env=env)
            subprocess.run(["git", "-C", str(work), "commit", "--quiet", "-m", f"{branch}"],
                           check=True, env=env)
            subprocess.run(["git", "-C", str(work), "push", "--quiet", str(bare),
                            f"{branch}:{branch}"], check=True, env=env)
        subprocess.run(["git", "-C", str(bare), "symbolic-ref", "HEAD", "refs/heads/main"],
                       check=True)
        return f"{self.url}/{owner}/{name}"

    def head_of(self, owner: str, name: str, branch: str) -> str:
        bare = self.repos / owner / f"{name}.git"
        return subprocess.run(["git", "-C", str(bare), "rev-parse", branch], check=True,
                              capture_output=True, text=True).stdout.strip()
