"""Administrators: units, centres, counters, fields, users, centre imports."""
