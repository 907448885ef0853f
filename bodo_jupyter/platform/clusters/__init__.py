"""The cluster domain: making and removing clusters, and who holds them.

``service`` is what the API calls, ``lifecycle`` the tasks that create and
delete, ``leases`` who holds a cluster (a job run, a notebook) or waits for it.
Other domains depend on this one, never the other way round.
"""
