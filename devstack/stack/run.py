"""The stack's own services, one process each (``python -m devstack.stack.run SERVICE``):
the fake NetSuite server, with the dev credentials the stack generated, and the SMTP sink."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from devstack.stack.state import NetSuiteDevCredentials, load_netsuite_credentials

if TYPE_CHECKING:
    from devstack.fake_netsuite import FakeCredentials


def fake_credentials(creds: NetSuiteDevCredentials) -> FakeCredentials:
    """The stack's NetSuite dev credentials as the fake server takes them."""
    from devstack.fake_netsuite import FakeCredentials

    return FakeCredentials(
        account_id=creds.account_id,
        consumer_key=creds.consumer_key.get_secret_value(),
        consumer_secret=creds.consumer_secret.get_secret_value(),
        token_id=creds.token_id.get_secret_value(),
        token_secret=creds.token_secret.get_secret_value(),
    )


def run_netsuite(args: argparse.Namespace) -> None:
    """The fake NetSuite REST server until SIGINT/SIGTERM."""
    from devstack.fake_netsuite import serve

    records = json.loads(args.records.read_text()) if args.records else None
    suiteql = None
    if records is not None:  # the demo dataset: its SuiteQL records too
        from devstack.mirror_seed import SEEDED_MODIFIED, suiteql_records

        suiteql = {"records": suiteql_records(), "modified": SEEDED_MODIFIED}
    serve(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        credentials=fake_credentials(load_netsuite_credentials(args.state_dir)),
        records=records,
        suiteql_records=suiteql["records"] if suiteql else None,
        suiteql_modified=suiteql["modified"] if suiteql else None,
    )


def run_smtp(args: argparse.Namespace) -> None:
    """The SMTP sink until SIGINT/SIGTERM."""
    from devstack.smtp_sink import serve

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    serve(args.maildir, host=args.host, port=args.port)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    services = parser.add_subparsers(dest="service", required=True)
    netsuite = services.add_parser("netsuite", help="Fake NetSuite SuiteTalk REST (estimates).")
    netsuite.add_argument("--state-dir", type=Path, required=True, help="Holds the credentials.")
    netsuite.add_argument("--data-dir", type=Path, required=True)
    netsuite.add_argument("--records", type=Path, default=None, help="JSON {customers, items}")
    netsuite.set_defaults(run=run_netsuite)
    smtp = services.add_parser("smtp", help="SMTP sink writing .eml files.")
    smtp.add_argument("--maildir", type=Path, required=True)
    smtp.set_defaults(run=run_smtp)
    for sub in (netsuite, smtp):
        sub.add_argument("--host", default="127.0.0.1")
        sub.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args.run(args)


if __name__ == "__main__":
    main()
