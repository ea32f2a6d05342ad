"""Deploying quoteflow: the work pool, the NetSuite concurrency limit, `prefect deploy
--all` over prefect.yaml, and a process worker for the local stack."""
