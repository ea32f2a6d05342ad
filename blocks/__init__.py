"""Prefect blocks that hold quoteflow's credentials (SecretStr) and connections."""

from blocks.netsuite import NetSuiteCredentials
from blocks.smtp import SmtpServer

__all__ = ["NetSuiteCredentials", "SmtpServer"]
