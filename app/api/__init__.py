"""JSON API for programs, described by ``/api/v1/openapi.json``."""
