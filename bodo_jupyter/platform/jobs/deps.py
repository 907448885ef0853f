"""What the jobs domain uses from the rest of the control plane: its one way in.

The job service and the run task take the same dependencies; they come as one
:class:`JobDeps`, built by the control plane, instead of the whole plane.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..clusters.leases import Leases
from ..clusters.service import ClusterService
from ..providers.aws.accounts import AwsAccounts
from ..secrets import SecretBox
from ..store import Store
from ..tasks import TaskEngine
from .backend import JobBackend
from .logs import JobLogs
from .sources import SourceFetcher


@dataclass(frozen=True)
class JobDeps:
    store: Store
    engine: TaskEngine
    clusters: ClusterService
    leases: Leases
    #: The job backend of each provider whose clusters can run jobs.
    backends: Mapping[str, JobBackend]
    secrets: SecretBox
    fetcher: SourceFetcher
    log_files: JobLogs
    #: Organisations' AWS credentials: S3 sources are read with them, never the platform's.
    aws_accounts: AwsAccounts


class UsesJobDeps:
    """Gives a class the dependencies as attributes (``self.store``, ``self.leases``...)."""

    def __init__(self, deps: JobDeps):
        self.store = deps.store
        self.engine = deps.engine
        self.clusters = deps.clusters
        self.leases = deps.leases
        self.backends = deps.backends
        self.secrets = deps.secrets
        self.fetcher = deps.fetcher
        self.log_files = deps.log_files
        self.aws_accounts = deps.aws_accounts
