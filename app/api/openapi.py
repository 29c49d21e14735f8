"""The OpenAPI 3 document of ``/api/v1``."""

from __future__ import annotations

from surveys import available_instruments

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
                **ANALYSIS_SCHEMAS,
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
            **analysis_paths(error_response),
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


# Analysis (issue 5) ----------------------------------------------------------------------------

KEY_COLUMNS_PATTERN = r"^((center_code|commune_code|district_code|province_code|level|field_code|channel|period)(,(center_code|commune_code|district_code|province_code|level|field_code|channel|period))*)?$"

NULLABLE_NUMBER = {"type": ["number", "null"]}

ANALYSIS_SCHEMAS = {
    "IndexRow": {
        "type": "object",
        "description": "One row of interfaces.md §4 Results; the by-columns of the request are added.",
        "required": ["index", "kind", "estimate", "se", "ci_low", "ci_high", "n", "n_eff", "deff", "flag", "small_cell"],
        "properties": {
            "index": {"type": "string"},
            "kind": {"type": "string", "enum": ["overall", "element", "item"]},
            "estimate": NULLABLE_NUMBER,
            "se": NULLABLE_NUMBER,
            "ci_low": NULLABLE_NUMBER,
            "ci_high": NULLABLE_NUMBER,
            "n": {"type": "integer"},
            "n_eff": NULLABLE_NUMBER,
            "deff": NULLABLE_NUMBER,
            "flag": {"type": "string"},
            "small_cell": {"type": "boolean", "description": "fewer answers than SMALL_CELL_MINIMUM; figures removed for centre staff"},
        },
        "additionalProperties": {"type": "string"},
    },
    "Indices": {
        "type": "object",
        "required": ["meta", "results"],
        "properties": {
            "meta": {"type": "object"},
            "results": {"type": "array", "items": {"$ref": "#/components/schemas/IndexRow"}},
        },
    },
    "Center": {
        "type": "object",
        "required": ["code", "name_vi", "name_en", "level", "active", "valid_from"],
        "properties": {
            "code": {"type": "string"},
            "name_vi": {"type": "string"},
            "name_en": {"type": "string"},
            "level": {"type": "string", "enum": ["province", "district", "commune"]},
            "unit_code": {"type": ["string", "null"]},
            "commune_code": {"type": ["string", "null"]},
            "district_code": {"type": ["string", "null"]},
            "province_code": {"type": ["string", "null"]},
            "active": {"type": "boolean"},
            "instrument": {"type": ["string", "null"]},
            "valid_from": {"type": "string", "format": "date"},
            "valid_to": {"type": ["string", "null"], "format": "date"},
        },
    },
    "Unit": {
        "type": "object",
        "required": ["code", "name", "level", "valid_from"],
        "properties": {
            "code": {"type": "string"},
            "name": {"type": "string"},
            "level": {"type": "string", "enum": ["province", "district", "commune"]},
            "parent_code": {"type": ["string", "null"]},
            "valid_from": {"type": "string", "format": "date"},
            "valid_to": {"type": ["string", "null"], "format": "date"},
        },
    },
    "Field": {
        "type": "object",
        "required": ["code", "name_vi", "name_en", "active"],
        "properties": {"code": {"type": "string"}, "name_vi": {"type": "string"}, "name_en": {"type": "string"}, "active": {"type": "boolean"}},
    },
}


def _query(name: str, description: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def analysis_paths(error_response: dict) -> dict:
    def listing(summary: str, key: str, schema: str) -> dict:
        return {
            "get": {
                "summary": summary,
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {"application/json": {"schema": {"type": "object", "required": [key], "properties": {key: {"type": "array", "items": {"$ref": f"#/components/schemas/{schema}"}}}}}},
                    },
                    "401": error_response,
                },
            }
        }

    dates = [
        _query("since", "first Vietnam day (inclusive)", {"type": "string", "format": "date"}),
        _query("until", "last Vietnam day (inclusive)", {"type": "string", "format": "date"}),
    ]
    return {
        "/indices": {
            "get": {
                "summary": "SIPAS, element and item indices, as `python -m analysis indices` computes them",
                "description": "The options are the command's (interfaces.md §3); the filters choose the stored responses. "
                "The answer is the command's JSON output, each row with `small_cell`. Analysts and administrators see every "
                "figure; centre staff see their centres only, without figures from fewer than SMALL_CELL_MINIMUM answers. "
                "`weighting` uses the totals uploaded per period in the analyst's workspace and needs `period`.",
                "parameters": [
                    _query("instrument", "instrument key, e.g. sipas-dvhcc-2023@1 (default: the platform's)", {"type": "string", "enum": list(available_instruments())}),
                    _query("by", "domain columns, comma-separated", {"type": "string", "pattern": KEY_COLUMNS_PATTERN}),
                    _query("strata", "design strata columns, comma-separated", {"type": "string", "pattern": KEY_COLUMNS_PATTERN}),
                    _query("period", "adds the period column (Asia/Ho_Chi_Minh time)", {"type": "string", "enum": ["month", "quarter", "year"]}),
                    _query("ci", "interval method", {"type": "string", "enum": ["korn-graubard", "logit", "wald"], "default": "korn-graubard"}),
                    _query("level", "confidence level", {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "default": 0.95}),
                    _query("weighting", "weighting to uploaded totals", {"type": "string", "enum": ["none", "poststrat", "rake"], "default": "none"}),
                    _query("exclude_flagged", "leave out flagged responses unless an analyst included them", {"type": "boolean", "default": False}),
                    *dates,
                    _query("center_code", "one centre", {"type": "string", "maxLength": 32}),
                    _query("unit_code", "one administrative unit (commune, district or province code)", {"type": "string", "maxLength": 16}),
                    _query("center_level", "centres of one level", {"type": "string", "enum": ["province", "district", "commune"]}),
                    _query("field_code", "one field of procedures", {"type": "string", "maxLength": 32}),
                    _query("channel", "one channel", {"type": "string", "enum": ["direct", "online", "postal"]}),
                ],
                "responses": {
                    "200": {"description": "Results", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Indices"}}}},
                    "401": error_response,
                    "403": error_response,
                    "404": error_response,
                    "422": error_response,
                },
            }
        },
        "/centers": listing("Service centres", "centers", "Center"),
        "/units": listing("Administrative units, with their validity dates", "units", "Unit"),
        "/fields": listing("Fields of procedures", "fields", "Field"),
        "/responses": {
            "get": {
                "summary": "The responses CSV of interfaces.md §4 (analysts and administrators)",
                "description": "UTF-8 with BOM, streamed; comments with phone numbers, e-mails and ID numbers masked.",
                "parameters": [
                    *dates,
                    _query("instrument", "only this instrument version", {"type": "string", "enum": list(available_instruments())}),
                    _query("center_code", "one centre", {"type": "string", "maxLength": 32}),
                    _query("exclude_flagged", "leave out flagged responses unless an analyst included them", {"type": "boolean", "default": False}),
                ],
                "responses": {
                    "200": {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
                    "401": error_response,
                    "403": error_response,
                    "422": error_response,
                },
            }
        },
    }
