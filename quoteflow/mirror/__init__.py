"""The local mirror of NetSuite: configured SuiteQL queries, synced page by page."""
