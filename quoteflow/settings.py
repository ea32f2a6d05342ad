"""Non-secret settings, one class, environment prefix ``QUOTEFLOW_``.

Secrets (NetSuite tokens, SMTP and S3 keys) never live here: they live in Prefect
blocks, whose names are the only thing this class knows about them.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# The directory holding the product's packages (quoteflow, flows, tasks, blocks,
# deployments): a source checkout, or site-packages where the wheel is installed. The worker
# runs the deployments' flows from here.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def user_data_dir() -> Path:
    """The user's data directory for quoteflow: $XDG_DATA_HOME/quoteflow, else
    ~/.local/share/quoteflow (the XDG base directory default)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "quoteflow"


class Settings(BaseSettings):
    """Everything an operator may tune without touching code."""

    model_config = SettingsConfigDict(env_prefix="QUOTEFLOW_", extra="ignore")

    state_dir: Path = Field(
        default_factory=user_data_dir,
        description="Where quoteflow keeps its local data (the default SQLite database, the "
        "worker's pid and log; the local stack's data in a checkout). Default "
        "$XDG_DATA_HOME/quoteflow or ~/.local/share/quoteflow; a source checkout's dev "
        "commands use <checkout>/.var.",
    )
    project_dir: Path = Field(
        default=PROJECT_ROOT,
        description="Directory the worker runs the flows from (it holds flows/, tasks/, ...): "
        "default where the quoteflow packages are, the checkout or the installed "
        "site-packages. `quoteflow deploy` puts it in the deployments' pull step.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the quoteflow database; default an SQLite file in state_dir. "
        "Ignored when database_block is set.",
    )
    database_block: str | None = Field(
        default=None,
        description="Prefect Secret block holding the database URL (with its password). When "
        "set, the URL is read from this block (once per process) instead of database_url, and "
        "`quoteflow worker start` passes only this name to flow runs, never the URL. "
        "`quoteflow blocks register` saves database_url into it. Unset: database_url (no "
        "Prefect server needed).",
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
    smtp_block: str = Field(
        default="quoteflow-smtp",
        description="prefect-email EmailServerCredentials block of the SMTP relay.",
    )

    # Business rules.
    margin_floor_pct: float = Field(default=15.0, ge=0, le=100, description="margin_floor check.")
    smtp_connect_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="Longest wait for the SMTP relay to accept the connection and greet; "
        "past it nothing was sent and the send is retried (then re-driven).",
    )
    smtp_read_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="Longest wait for any later reply of the SMTP relay; past it the "
        "delivery is in doubt (never re-sent on its own; Mike is told what to check).",
    )
    approvers: list[str] = Field(
        default_factory=lambda: ["mike"],
        min_length=1,
        description='Who may decide proposed actions (JSON list, e.g. ["mike", "dana"]).',
    )
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
    company_name: str = Field(
        default="Northwind School Supply",
        description="The supplier's name as customers read it: the quote PDF's letterhead, "
        "the display name on the From of quote emails, the email's signature.",
    )
    company_address: str = Field(
        default="1200 Commerce Drive, Springfield, IL 62701",
        description="The supplier's postal address on the quote PDF; a newline or ' | ' "
        "starts a new line.",
    )
    company_phone: str = Field(
        default="(217) 555-0142", description="The supplier's phone number on the quote PDF."
    )
    contact_name: str = Field(
        default="Mike",
        description="Who customers deal with about a quote: named on the PDF and signing the "
        "quote email (replies go to mail_reply_to).",
    )
    mail_reply_to: str | None = Field(
        default=None,
        description="Reply-To of quote emails to customers, and the contact address on the "
        "PDF: where a customer's answer reaches Mike. Default approver_email.",
    )
    mail_domain: str = Field(
        default="northwind-supply.example", description="Domain of quote emails' Message-IDs."
    )
    mail_from: str = Field(
        default="quotes@northwind-supply.example",
        min_length=3,
        max_length=254,
        description="From: of quote emails and of Mike's notices, an address or "
        "'Name <address>' (the relay may require its login's address).",
    )
    currency: str = Field(default="USD")

    # Telling Mike: notifications, signed links, reminders.
    notify_block: str = Field(
        default="quoteflow-email-notification/quoteflow-notify",
        description="Notification block as 'type-slug/name': our email block by default, or "
        "any Prefect notification block (e.g. 'slack-webhook/mike').",
    )
    approver_email: str = Field(
        default="mike@northwind-supply.example",
        description="Where the default email notification block sends Mike's notices.",
    )
    link_key_block: str = Field(
        default="quoteflow-link-key", description="Secret block holding the link signing key."
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:4620",
        description="Base URL of the approval page as Mike reaches it; used in signed links.",
    )
    link_ttl_hours: float = Field(
        default=72, gt=0, le=24 * 30, description="Lifetime of a link to an action with no expiry."
    )
    reminder_minutes: float = Field(
        default=15, ge=0, le=24 * 60, description="Remind Mike this long before a gate expires."
    )
    expiry_grace_seconds: float = Field(
        default=0,
        ge=0,
        le=3600,
        description="How long past a gate's deadline the per-minute reconcile pass waits before "
        "recording its expiry. 0: at the first pass (within a minute); a paused run that records "
        "its own expiry at the same time is harmless, both records are keyed.",
    )
    page_password_hash: SecretStr | None = Field(
        default=None,
        description="scrypt hash of the approval page password (`quoteflow page hash-password`); "
        "required to serve the page beyond loopback. Else read from page_password_block.",
    )
    page_password_block: str = Field(
        default="quoteflow-page-password",
        description="Secret block holding the page password hash, when not in the environment.",
    )
    page_trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks of the reverse proxies in front of the approval "
        'page, as a JSON list, e.g. ["127.0.0.1", "10.0.0.0/8"]. Empty (default): proxy '
        "headers are ignored and the client address is the connection's. Set: requests from "
        "these proxies take the client address from X-Forwarded-For (the login limiter "
        "counts each person, not the proxy).",
    )
    page_session_hours: float = Field(
        default=12, gt=0, le=24 * 30, description="How long a page login lasts."
    )
    slack_block: str = Field(
        default="quoteflow-slack",
        description="Quoteflow Slack App block (bot token, signing secret, notice channel). "
        "Without it Slack is simply not used.",
    )
    slack_approvers: dict[str, str] = Field(
        default_factory=dict,
        description='Slack user id -> approver name, e.g. {"U024BE7LH": "mike"}: only these '
        "users may draft or decide from Slack (each name must be in approvers).",
    )
    local_timezone: str = Field(
        default="America/Chicago", description="Mike's timezone, for deadlines in messages."
    )

    # Retry policy of every fan-out step (contract section 9).
    retry_attempts: int = Field(default=3, ge=1, le=10)
    retry_base_seconds: float = Field(default=1.5, ge=0)
    retry_max_seconds: float = Field(default=30.0, ge=0)

    # Recovery (the reconciler and ns-push-retry): every automatic re-drive is capped.
    redrive_max: int = Field(
        default=3, ge=0, le=20, description="Automatic re-drives of one run before it alerts."
    )
    redrive_interval_minutes: float = Field(
        default=5, ge=0, description="Least time between re-drives of a partial run."
    )
    reconcile_start_grace_seconds: float = Field(
        default=45,
        ge=0,
        description="How long an approved draft may wait for its trigger's run to claim it "
        "(and a decided gate for its approver to resume it) before the reconciler steps in.",
    )
    stuck_pending_seconds: float = Field(
        default=180, ge=10, description="A run Pending this long lost its worker: resubmit it."
    )
    zombie_within_seconds: float = Field(
        default=90,
        ge=35,
        le=600,
        description="A run with no heartbeat, start or state change for this long has lost its "
        "process (heartbeats every 30 s): the zombie-run Automation marks it Crashed, and "
        "`quoteflow recover list|redrive` call it stranded.",
    )
    submission_within_seconds: float = Field(
        default=110,
        ge=35,
        le=600,
        description="A run a worker submitted whose process sent nothing for this long lost "
        "its worker: the stuck-submission Automation marks it Crashed (and frees its slot).",
    )
    reconcile_stale_minutes: float = Field(
        default=10,
        ge=1,
        le=1440,
        description="Mike is alerted when no reconcile pass has completed for this long.",
    )
    reconcile_lookback_hours: float = Field(
        default=48, gt=0, description="How far back the reconciler looks for runs and decisions."
    )
    reconcile_schedule_active: bool = Field(
        default=True,
        description="Deploy the reconcile deployment's every-minute schedule active (tests "
        "turn it off and drive its passes themselves).",
    )
    ns_push_max_attempts: int = Field(
        default=12, ge=1, le=1000, description="NetSuite push attempts before the dead letter."
    )

    # The NetSuite mirror.
    mirror_max_age_hours: float = Field(
        default=24,
        gt=0,
        le=24 * 30,
        description="How old mirrored NetSuite data may be: older customer or pricing rows make "
        "the mirror_fresh precondition warn, and a table whose sync has failed for longer raises "
        "the alert Mike receives.",
    )
    mirror_config_path: Path | None = Field(
        default=None,
        description="A mirror.yaml of this account (tables, SuiteQL, column mapping); default "
        "the one shipped in the package (quoteflow/mirror/mirror.yaml).",
    )
    mirror_page_size: int = Field(
        default=1000, ge=1, le=1000, description="SuiteQL rows per request (NetSuite's limit)."
    )
    mirror_row_cap: int = Field(
        default=100_000,
        ge=1,
        description="Rows one SuiteQL query reaches (NetSuite's cap); past it the mirror starts "
        "a new query keyed after the last row. Tests lower it.",
    )
    mirror_overlap_seconds: int = Field(
        default=60,
        ge=0,
        le=86_400,
        description="A new incremental pass re-reads rows modified this long before the last "
        "watermark (rows changed in the same second as the last page are not missed).",
    )
    mirror_cron: str = Field(
        default="*/15 * * * *",
        description="Cron (verify_timezone) of the incremental mirror-sync runs: every 15 min.",
    )
    mirror_full_cron: str = Field(
        default="30 2 * * *",
        description="Cron (verify_timezone) of the nightly full mirror pass that finds records "
        "deleted or made inactive in NetSuite.",
    )

    # NetSuite push throttle: a Prefect global concurrency limit of this name.
    netsuite_concurrency_limit: str = Field(default="netsuite-api")
    netsuite_timeout_seconds: float = Field(default=20.0, gt=0)

    @property
    def reply_to(self) -> str:
        """Where customers' replies go: mail_reply_to, else Mike's own address."""
        return self.mail_reply_to or self.approver_email

    @property
    def resolved_database_url(self) -> str:
        """database_url, else the SQLite file; the block, when configured, is read by
        ``quoteflow.db.configured_database_url``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.state_dir / 'quoteflow.db'}"


@lru_cache
def get_settings() -> Settings:
    return Settings()


def default_approver() -> str:
    """Who decides when no one is named: the first configured approver, read at call time."""
    return get_settings().approvers[0]


def approver_or_default(approver: str | None) -> str:
    """``approver``, or (when none is given) the configured default approver."""
    return approver if approver is not None else default_approver()
