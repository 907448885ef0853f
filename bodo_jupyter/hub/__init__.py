"""The platform's front door on JupyterHub: sign-up, login, organisations and notebooks.

``BodoAuthenticator`` (entry point ``jupyterhub.authenticators``: ``bodo``) keeps accounts
in a database of its own and puts each user in their organisation's hub groups
(``bodo_jupyter.contract.hub_groups``), which is how the control plane learns who belongs
where. ``BodoSpawner`` (``jupyterhub.spawners``: ``bodo``) makes the hub's named servers
the organisation's notebooks, through the platform's API as the user. Nothing here
imports the control plane: only the contract and the SDK.
"""
