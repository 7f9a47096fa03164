"""B2B lead and customer scoring warehouse: extract, quality gates, demo data and CLI."""
