"""The platform's front door on JupyterHub: sign-up, activation, login and organisations.

``BodoAuthenticator`` (entry point ``jupyterhub.authenticators``: ``bodo``) keeps accounts
in a database of its own and puts each user in their organisation's hub groups
(``bodo_jupyter.contract.hub_groups``), which is how the control plane learns who belongs
where. Nothing here imports the control plane.
"""
