"""bodo-jupyter in JupyterHub: the sign-up authenticator and the notebook spawner."""
