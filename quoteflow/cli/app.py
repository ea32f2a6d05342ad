"""The typer application behind the ``quoteflow`` command."""

from __future__ import annotations

import typer

from quoteflow.cli import actions as actions_cmd
from quoteflow.cli import blocks as blocks_cmd
from quoteflow.cli import contract as contract_cmd
from quoteflow.cli import db as db_cmd
from quoteflow.cli import mirror as mirror_cmd
from quoteflow.cli import ops as ops_cmd
from quoteflow.cli import page as page_cmd
from quoteflow.cli import pricing_import as pricing_import_cmd
from quoteflow.cli import quotes as quotes_cmd
from quoteflow.cli import recover as recover_cmd
from quoteflow.cli import verify as verify_cmd
from quoteflow.cli.plugins import dev_plugin

app = typer.Typer(
    help="quoteflow: customer quotes with Mike's approval, on Prefect.", no_args_is_help=True
)
app.add_typer(db_cmd.app, name="db", help="Migrate and inspect the quoteflow database.")
app.add_typer(blocks_cmd.app, name="blocks", help="Create or update the Prefect blocks.")
app.add_typer(
    actions_cmd.app, name="actions", help="List, show, approve and reject proposed actions."
)
app.command("draft")(actions_cmd.draft)
app.command("deploy")(ops_cmd.deploy)
app.add_typer(ops_cmd.worker_app, name="worker", help="Start or stop a local process worker.")
app.add_typer(verify_cmd.app, name="verify", help="Run the verify checks now.")
app.add_typer(page_cmd.app, name="page", help="Mike's approval page in a browser (local only).")
app.add_typer(quotes_cmd.app, name="quotes", help="Find quotes; record accepted or declined.")
app.command("contract")(contract_cmd.contract)
app.add_typer(mirror_cmd.app, name="mirror", help="Sync the NetSuite mirror; show its status.")
mirror_cmd.app.command("import-pricing")(pricing_import_cmd.import_pricing)
app.add_typer(
    recover_cmd.app, name="recover", help="Reconcile now, list re-drives, re-drive a run by hand."
)

# In a source checkout the dev plugin adds `stack`, `demo` and `db seed`.
_plugin = dev_plugin()
if _plugin is not None:
    _plugin.install(app)
