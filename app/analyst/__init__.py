"""Analysts: dashboards, tables, downloads, the report, and the review of flagged responses."""
