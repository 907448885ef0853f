"""JupyterHub configuration of the bodo-jupyter platform (see docs/hub.md).

`scripts/start` runs the hub with this file on the embedded default: the hub on
http://127.0.0.1:8000 behind configurable-http-proxy, sign-up with e-mail activation
(BodoAuthenticator), notebooks as platform objects (BodoSpawner, local backend), the
control plane as the hub service `bodo` with SQLite, and a local mail catcher that
prints every activation link to this console -- so a newcomer signs up with no mail
server. For production, set the environment variables below (or edit this file): a
public URL, a real SMTP server, PostgreSQL, the AWS provider.

Environment (all optional):
  BODO_HUB_DATA_DIR     where the hub, the accounts and the platform keep their state
                        (default ~/.local/share/bodo-jupyter-hub), made 0700
  BODO_HUB_BIND_URL     where the hub listens (default http://127.0.0.1:8000/)
  BODO_HUB_PUBLIC_URL   the hub's address as users reach it (activation links)
  BODO_HUB_SMTP_HOST    a real SMTP server; unset: the local mail catcher
  BODO_HUB_SMTP_PORT, BODO_HUB_SMTP_SECURITY (none|starttls|tls), BODO_HUB_SMTP_USERNAME,
  BODO_HUB_SMTP_PASSWORD (read by the authenticator itself), BODO_HUB_MAIL_FROM
  BODO_HUB_ADMIN_EMAIL, BODO_HUB_ADMIN_ORG, BODO_HUB_ADMIN_PASSWORD_FILE
                        an initial admin, made activated at the first start
  BODO_PLATFORM_CONFIG  a bodo_jupyter_config.py for the control plane (providers,
                        Store.db_url for PostgreSQL, limits, ...)
  BODO_SERVICE_PORT, BODO_HUB_CATCHER_PORT, BODO_HUB_HUB_PORT, BODO_HUB_PROXY_API_PORT
                        the loopback ports of the service (8766), the mail catcher
                        (8025), the hub behind the proxy (8081), the proxy's API (8001)
"""

import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821

env = os.environ.get
DATA = Path(env("BODO_HUB_DATA_DIR") or Path.home() / ".local/share/bodo-jupyter-hub")
DATA.mkdir(parents=True, exist_ok=True)
DATA.chmod(0o700)
BIN = Path(sys.executable).parent

# -- the hub ---------------------------------------------------------------------------
c.JupyterHub.bind_url = env("BODO_HUB_BIND_URL", "http://127.0.0.1:8000/")
if env("BODO_HUB_PUBLIC_URL"):
    c.JupyterHub.public_url = env("BODO_HUB_PUBLIC_URL")
if env("BODO_HUB_HUB_PORT"):  # the hub's own port behind the proxy (default 8081)
    c.JupyterHub.hub_port = int(env("BODO_HUB_HUB_PORT"))
if env("BODO_HUB_PROXY_API_PORT"):  # the proxy's REST API (default 8001)
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{env('BODO_HUB_PROXY_API_PORT')}"
c.JupyterHub.db_url = f"sqlite:///{DATA / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(DATA / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(DATA / "jupyterhub.pid")
c.ConfigurableHTTPProxy.pid_file = str(DATA / "jupyterhub-proxy.pid")
if (BIN / "configurable-http-proxy").exists():  # scripts/setup installs it into the venv
    c.ConfigurableHTTPProxy.command = [str(BIN / "configurable-http-proxy")]

# -- sign-up and login ------------------------------------------------------------------
c.JupyterHub.authenticator_class = "bodo"
c.BodoAuthenticator.db_url = f"sqlite:///{DATA / 'bodo_accounts.sqlite'}"
c.BodoAuthenticator.signing_key_file = str(DATA / "bodo_signing_key")
if env("BODO_HUB_SMTP_HOST"):
    c.BodoAuthenticator.smtp_host = env("BODO_HUB_SMTP_HOST")
    c.BodoAuthenticator.smtp_port = int(env("BODO_HUB_SMTP_PORT", "587"))
    c.BodoAuthenticator.smtp_security = env("BODO_HUB_SMTP_SECURITY", "starttls")
    c.BodoAuthenticator.smtp_username = env("BODO_HUB_SMTP_USERNAME", "")
    c.BodoAuthenticator.mail_from = env("BODO_HUB_MAIL_FROM", "bodo@localhost")
    MAIL_SERVICES = []
else:
    # No mail server: a real SMTP server on loopback that prints each mail's links to
    # the hub's console (a hub-managed service, so it starts and stops with the hub).
    CATCHER_PORT = int(env("BODO_HUB_CATCHER_PORT", "8025"))
    c.BodoAuthenticator.smtp_host = "127.0.0.1"
    c.BodoAuthenticator.smtp_port = CATCHER_PORT
    c.BodoAuthenticator.smtp_security = "none"
    MAIL_SERVICES = [{
        "name": "mail-catcher",
        "command": [sys.executable, "-m", "bodo_jupyter.hub.mail_catcher",
                    "--port", str(CATCHER_PORT)],
    }]
if env("BODO_HUB_ADMIN_EMAIL"):
    c.BodoAuthenticator.initial_admin_email = env("BODO_HUB_ADMIN_EMAIL")
    c.BodoAuthenticator.initial_admin_organization = env("BODO_HUB_ADMIN_ORG", "admins")
    c.BodoAuthenticator.initial_admin_password_file = env("BODO_HUB_ADMIN_PASSWORD_FILE", "")

# -- notebooks: the hub's named servers are the organisation's platform notebooks -------
c.JupyterHub.spawner_class = "bodo"
c.JupyterHub.allow_named_servers = True
c.BodoSpawner.default_instance_type = "local.notebook"
# The spawn page follows the notebook's create task (its steps) from the first moment.
c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0}

# -- the control plane as the hub service `bodo` ----------------------------------------
SERVICE_PORT = int(env("BODO_SERVICE_PORT", "8766"))
serve = [sys.executable, "-m", "bodo_jupyter.cli", "serve",
         "--data-dir", str(DATA / "platform")]
if env("BODO_PLATFORM_CONFIG"):
    serve += ["--config", env("BODO_PLATFORM_CONFIG")]
c.JupyterHub.services = [
    {"name": "bodo", "url": f"http://127.0.0.1:{SERVICE_PORT}", "command": serve,
     "oauth_no_confirm": True},
    *MAIL_SERVICES,
]
c.JupyterHub.load_roles = [
    # Every user may use the platform (its API and page); the hub's own rights stay.
    {"name": "user", "scopes": ["self", "access:services!service=bodo"]},
    # The platform reads who is in which organisation (the users' hub groups).
    {"name": "bodo-service", "scopes": ["read:users", "read:groups"], "services": ["bodo"]},
]
# After login, the platform's page: onboarding, clusters, notebooks, jobs.
c.JupyterHub.default_url = "/services/bodo/"
