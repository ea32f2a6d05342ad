"""Non-secret settings, one class, environment prefix ``QUOTEFLOW_``.

Secrets (NetSuite tokens, SMTP and S3 keys) never live here: they live in Prefect
blocks, whose names are the only thing this class knows about them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Everything an operator may tune without touching code."""

    model_config = SettingsConfigDict(env_prefix="QUOTEFLOW_", extra="ignore")

    state_dir: Path = Field(
        default=PROJECT_ROOT / ".var",
        description="Where the local stack keeps its data, pids, logs and state file.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the quoteflow database; default an SQLite file in state_dir.",
    )

    prefect_server_database_url: str | None = Field(
        default=None,
        description="Database of the local stack's Prefect server, e.g. "
        "postgresql+asyncpg://postgres@127.0.0.1:5432/quoteflow_prefect (created if missing); "
        "default an SQLite file in state_dir. PostgreSQL takes concurrent writes (many runs "
        "at once, two workers) without SQLite's 'database is locked' retries.",
    )

    # Block names (the blocks hold the secrets).
    s3_bucket_block: str = Field(default="quoteflow-pdfs", description="S3Bucket block for PDFs.")
    aws_credentials_block: str = Field(default="quoteflow-aws", description="AwsCredentials block.")
    results_block: str = Field(
        default="quoteflow-results",
        description="S3Bucket block where suspended runs persist their task results.",
    )
    netsuite_block: str = Field(default="quoteflow-netsuite", description="NetSuite block.")
    smtp_block: str = Field(default="quoteflow-smtp", description="SMTP server block.")

    # Business rules.
    margin_floor_pct: float = Field(default=15.0, ge=0, le=100, description="margin_floor check.")
    approval_window_minutes: float = Field(
        default=60, gt=0, le=60 * 24 * 14, description="How long Mike has to decide on a quote."
    )
    pause_poll_seconds: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="How often a gate waiting hot (paused, not suspended) asks whether Mike "
        "answered.",
    )
    hot_window_seconds: float = Field(
        default=600,
        ge=0,
        le=60 * 60 * 24,
        description="How long an approval gate waits hot (paused, its process kept, answers "
        "acted on within a second) before it suspends (no process held) until it expires. "
        "0 suspends at once.",
    )
    hot_gate_limit: str = Field(
        default="quoteflow-hot-gates",
        description="Prefect global concurrency limit with one slot per hot gate; when it is "
        "full a gate suspends at once. Without the limit nothing caps hot gates.",
    )
    hot_gate_cap: int = Field(
        default=20,
        ge=1,
        le=1000,
        description="Slots of hot_gate_limit when `quoteflow deploy` creates it: at most this "
        "many flow-run processes (~250 MB each) are held by waiting gates.",
    )
    worker_poll_seconds: float = Field(
        default=1.0,
        ge=0.2,
        le=60,
        description="How often the process worker asks its pool for runs to start "
        "(PREFECT_WORKER_QUERY_SECONDS); every triggered or resumed run waits for it.",
    )
    quote_validity_days: int = Field(default=30, ge=1, le=365)
    verify_deadline_minutes: int = Field(default=60, ge=1, description="Verify check time limit.")
    verify_timezone: str = Field(default="UTC", description="Timezone of the verify cron.")
    company_name: str = Field(default="Northwind School Supply")
    mail_domain: str = Field(
        default="northwind-supply.example", description="Domain of quote emails' Message-IDs."
    )
    currency: str = Field(default="USD")

    # Retry policy of every fan-out step (contract section 9).
    retry_attempts: int = Field(default=3, ge=1, le=10)
    retry_base_seconds: float = Field(default=1.5, ge=0)
    retry_max_seconds: float = Field(default=30.0, ge=0)

    # NetSuite push throttle: a Prefect global concurrency limit of this name.
    netsuite_concurrency_limit: str = Field(default="netsuite-api")
    netsuite_timeout_seconds: float = Field(default=20.0, gt=0)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.state_dir / 'quoteflow.db'}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
