"""The local service stack: Prefect server, S3 (moto), fake NetSuite and an SMTP sink.

Each service is its own process group on 127.0.0.1 (``quoteflow.processes``), logs to
<state_dir>/logs/<name>.log, and is recorded in <state_dir>/stack.json (``StackState``).
``services`` says how each is launched (the fake NetSuite and the SMTP sink through
``run``), ``state`` generates the dev secrets (0600 files), ``blocks`` registers
quoteflow's blocks pointing at the services, ``watchdog`` stops a stack whose owner died.
"""

from devstack.stack.control import ServiceStatus, Stack, parse_services
from devstack.stack.state import (
    DEFAULT_BUCKET,
    SERVICE_NAMES,
    AwsDevSecrets,
    NetSuiteDevCredentials,
    NetSuiteServiceState,
    PrefectServiceState,
    S3ServiceState,
    ServiceName,
    ServiceState,
    SmtpServiceState,
    StackError,
    StackNotStarted,
    StackPorts,
    StackState,
    load_aws_secrets,
    load_netsuite_credentials,
    load_state,
)

__all__ = [
    "DEFAULT_BUCKET",
    "SERVICE_NAMES",
    "AwsDevSecrets",
    "NetSuiteDevCredentials",
    "NetSuiteServiceState",
    "PrefectServiceState",
    "S3ServiceState",
    "ServiceName",
    "ServiceState",
    "ServiceStatus",
    "SmtpServiceState",
    "Stack",
    "StackError",
    "StackNotStarted",
    "StackPorts",
    "StackState",
    "load_aws_secrets",
    "load_netsuite_credentials",
    "load_state",
    "parse_services",
]
