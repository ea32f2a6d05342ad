"""Prefect blocks that hold quoteflow's credentials (SecretStr) and connections.

The SMTP relay is prefect-email's EmailServerCredentials (see blocks/smtp.py); the
database URL, when configured, a Prefect Secret (see quoteflow.db)."""

from blocks.netsuite import NetSuiteCredentials

__all__ = ["NetSuiteCredentials"]
