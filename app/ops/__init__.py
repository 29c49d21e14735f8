"""Endpoints for operators and monitoring."""
