"""The OpenAPI 3 document of ``/api/v1``."""

from __future__ import annotations

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "message"],
            "properties": {
                "status": {"type": "integer"},
                "message": {"type": "string"},
                "request_id": {"type": ["string", "null"]},
            },
        }
    },
}


def openapi_document(version: str) -> dict:
    error_response = {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "SIPAS platform API",
            "version": version,
            "description": "Programs such as one-stop-shop software use this API with a bearer token "
            "(`flask sipas api-token`). Errors always have the shape of the Error schema.",
        },
        "servers": [{"url": "/api/v1"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": ERROR,
                "DossierLinkRequest": {
                    "type": "object",
                    "required": ["dossier_code", "center_code"],
                    "additionalProperties": False,
                    "properties": {
                        "dossier_code": {"type": "string", "minLength": 1, "maxLength": 100, "description": "mã hồ sơ"},
                        "center_code": {"type": "string", "minLength": 1, "maxLength": 32},
                        "field_code": {"type": ["string", "null"], "maxLength": 32},
                    },
                },
                "DossierLink": {
                    "type": "object",
                    "required": ["url", "expires_at", "center_code"],
                    "properties": {
                        "url": {"type": "string", "format": "uri"},
                        "expires_at": {"type": "string", "format": "date-time"},
                        "center_code": {"type": "string"},
                        "field_code": {"type": ["string", "null"]},
                    },
                },
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/dossier-links": {
                "post": {
                    "summary": "Mint a one-time survey link for one dossier",
                    "description": "The link opens the survey of the centre, pre-filled with the field; it accepts one "
                    "response and expires after DOSSIER_LINK_DAYS days. Asking again for an unanswered dossier "
                    "replaces its link; a dossier that has been answered gets 409.",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DossierLinkRequest"}}}},
                    "responses": {
                        "201": {"description": "Created", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DossierLink"}}}},
                        "400": error_response,
                        "401": error_response,
                        "403": error_response,
                        "404": error_response,
                        "409": error_response,
                        "422": error_response,
                        "429": error_response,
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": {"description": "OpenAPI document", "content": {"application/json": {"schema": {"type": "object"}}}}},
                }
            },
        },
    }
