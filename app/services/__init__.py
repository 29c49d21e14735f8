"""Use cases as plain functions: explicit arguments, they flush but never commit."""
