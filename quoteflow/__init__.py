"""quoteflow: the customer-quote workflow (contract v2) as a Prefect 3 deployment.

Domain code lives here: tables, settings, the NetSuite client, the PDF template,
the approval API and the local service stack. Flows, tasks and blocks live in the
top-level ``flows``, ``tasks`` and ``blocks`` packages.
"""

WORKFLOW_TYPE = "customer_quote"
CONTRACT_VERSION = 2
RISK_LEVEL = 3
