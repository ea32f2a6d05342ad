"""NetSuite SuiteTalk REST: the estimate client, its typed errors, and a local fake server."""

from quoteflow.netsuite.client import NetSuiteClient, SuiteQLPage
from quoteflow.netsuite.errors import (
    NetSuiteAuthError,
    NetSuiteError,
    NetSuiteRejectedError,
    NetSuiteRetryableError,
)
from quoteflow.netsuite.estimate import (
    EstimateLine,
    build_estimate_body,
    estimate_lines_from_preview,
    validate_external_id,
)

__all__ = [
    "EstimateLine",
    "NetSuiteAuthError",
    "NetSuiteClient",
    "NetSuiteError",
    "NetSuiteRejectedError",
    "NetSuiteRetryableError",
    "SuiteQLPage",
    "build_estimate_body",
    "estimate_lines_from_preview",
    "validate_external_id",
]
