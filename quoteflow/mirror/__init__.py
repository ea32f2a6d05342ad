"""The local mirror of NetSuite: what keeps customers, items and pricing current."""
