"""The OpenAPI 3.1 document of the API (``/api/v1/openapi.json``), written out by hand next to
:mod:`v6scan.serve.api` (a test holds the two to each other: every route documented, nothing
documented that is not served)."""

from __future__ import annotations

from typing import Any

from v6scan import __version__
from v6scan.options import MAX_HOSTS, TIMEOUT_RANGE
from v6scan.output import FORMATS
from v6scan.registry import CHECKS
from v6scan.report.sweep_export import EXPORT_FORMATS
from v6scan.scoring import BUILTIN_POLICIES, VERDICTS

__all__ = ["openapi_document"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "400": _json(_ref("Error"), "The request's options or body are refused (``error.field`` names which)."),
    "401": _json(_ref("Error"), "No bearer token."),
    "403": _json(_ref("Error"), "A token that is not one of the server's."),
    "404": _json(_ref("Error"), "No such check, sweep or schedule."),
    "413": _json(_ref("Error"), "The body is bigger than the server takes (``--max-body``)."),
    "429": _json(_ref("Error"), "Past the token's rate (``--rate-limit``); see Retry-After."),
}


def _errors(*codes: str) -> dict[str, Any]:
    return {c: _ERRORS[c] for c in ("401", "403", "429", *codes)}


def _param(name: str, where: str, schema: dict[str, Any], description: str, required: bool = False
           ) -> dict[str, Any]:
    return {"name": name, "in": where, "schema": schema, "description": description, "required": required}


_ID = _param("id", "path", {"type": "integer"}, "The check's or sweep's id.", True)
_LANG = _param("lang", "query", {"enum": ["en", "zh-CN"], "default": "en"}, "Language of reasons and fix hints.")
_WAIT = _param("wait", "query", {"type": "number", "minimum": 0, "maximum": 60},
               "Seconds to wait for the check or sweep to finish before answering (long poll).")
_SWEEP_OPTIONS = [
    _param("policy", "query", {"enum": list(BUILTIN_POLICIES), "default": "default"}, "The policy to score with."),
    _param("checks", "query", {"type": "string"}, "Check ids, 'all' or +ID,... added to a sweep's default"
           " (as scan --checks)."),
    _param("timeout", "query", {"type": "number", "minimum": TIMEOUT_RANGE[0], "maximum": TIMEOUT_RANGE[1]},
           "Seconds for one network step."),
    _param("www", "query", {"enum": ["auto", "always", "never"]}, "Also check www.<domain>."),
]
_LIST_BODY = {"required": True, "description": "A target list: one name or URL a line, or CSV"
              " host,sector,region,organisation (UTF-8).",
              "content": {"text/csv": {"schema": {"type": "string"}}, "text/plain": {"schema": {"type": "string"}}}}


def openapi_document() -> dict[str, Any]:
    sec: list[dict[str, list[str]]] = [{"bearer": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "v6scan", "version": __version__,
                 "description": "IPv6 readiness checks and sweeps run by a v6scan server. The server's address"
                                " policy, allow-list, resolvers and self-check are its own configuration: no"
                                " request can change them."},
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["status", "message"],
                    "properties": {"status": {"type": "integer"}, "message": {"type": "string"},
                                   "field": {"type": "string"}}}}},
                "CheckRequest": {
                    "type": "object", "additionalProperties": False, "required": ["names"],
                    "properties": {
                        "names": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                                  "maxItems": MAX_HOSTS, "description": "Names or URLs (as check's HOSTS)."},
                        "policy": {"oneOf": [{"enum": list(BUILTIN_POLICIES)},
                                             {"type": "object", "description": "A policy file's JSON."}]},
                        "checks": {"type": "string", "description": f"Check ids ({', '.join(CHECKS)}),"
                                                                    " 'all', or +ID,... (as --checks)."},
                        "timeout": {"type": "number", "minimum": TIMEOUT_RANGE[0], "maximum": TIMEOUT_RANGE[1]},
                        "www": {"enum": ["auto", "always", "never"]},
                        "addresses": {"type": "array", "items": {"type": "string"},
                                      "description": "NAME=IP pins (as --address)."},
                        "lang": {"enum": ["en", "zh-CN"]}}},
                "Submitted": {"type": "object", "required": ["id", "status"],
                              "properties": {"id": {"type": "integer"}, "status": {"type": "string"},
                                             "links": {"type": "object"}}},
                "Sweep": {"type": "object", "required": ["id", "kind", "status", "targets", "done", "progress"],
                          "properties": {
                              "id": {"type": "integer"}, "kind": {"enum": ["check", "sweep", "scheduled", "scan"]},
                              "owner": {"type": ["string", "null"]},
                              "status": {"enum": ["queued", "running", "finished", "interrupted", "incomplete"]},
                              "policy": {"type": "string"}, "started": {"type": "string"},
                              "finished": {"type": ["string", "null"]}, "note": {"type": ["string", "null"]},
                              "targets": {"type": "integer"}, "done": {"type": "integer"},
                              "pending": {"type": "integer"}, "retry": {"type": "integer"},
                              "excluded": {"type": "integer"}, "progress": {"type": "number"},
                              "verdicts": {"type": "object", "propertyNames": {"enum": list(VERDICTS)},
                                           "additionalProperties": {"type": "integer"}},
                              "schedule": {"type": ["integer", "null"]}, "request": {}}},
                "Record": {"type": "object", "description": "The result record of DESIGN.md section 4"
                           " (schema v6scan.result/1), as check --format json prints it."},
                "Outcome": {"type": "object", "description": "What was measured and how it was scored"
                            " (schema v6scan.outcome/1): what check --remote renders."},
                "Schedule": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "owner": {"type": "string"}, "every": {"type": "number"},
                    "request": {"type": "object"}, "next_run": {"type": "string"},
                    "last_sweep": {"type": ["integer", "null"]}, "active": {"type": "boolean"}}},
            },
        },
        "paths": {
            "/api/v1/health": {"get": {"summary": "The server answers.", "security": [],
                                       "responses": {"200": _json({"type": "object"}, "ok, and the version.")}}},
            "/api/v1/openapi.json": {"get": {"summary": "This document.", "security": [],
                                             "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1.")}}},
            "/api/v1/selfcheck": {"get": {
                "summary": "The server's own IPv6 (self.v6).", "security": sec,
                "responses": {"200": _json({"type": "object"}, "usable, and the observation."), **_errors()}}},
            "/api/v1/checks": {"post": {
                "summary": "Check one or a few names now (as v6scan check).", "security": sec,
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("CheckRequest")}}},
                "responses": {"202": _json(_ref("Submitted"), "Queued; read it at Location."),
                              **_errors("400", "413")}}},
            "/api/v1/checks/{id}": {"get": {
                "summary": "A check's result, as check --format FORMAT prints it.", "security": sec,
                "parameters": [_ID, _WAIT, _LANG, _param("format", "query", {"enum": list(FORMATS), "default": "json"},
                                                         "Output format (as check --format).")],
                "responses": {"200": {"description": "The result (json: a Record, or a list of them).",
                                      "content": {"application/json": {"schema": {
                                          "oneOf": [_ref("Record"), {"type": "array", "items": _ref("Record")}]}},
                                          "application/xml": {}, "application/sarif+json": {}, "text/plain": {}}},
                              "202": _json(_ref("Sweep"), "Still running: its progress."),
                              **_errors("400", "404")}}},
            "/api/v1/checks/{id}/outcomes": {"get": {
                "summary": "A check's observations and verdicts (what check --remote renders).", "security": sec,
                "parameters": [_ID, _WAIT],
                "responses": {"200": _json({"allOf": [_ref("Sweep"), {"type": "object", "properties": {
                    "outcomes": {"type": "array", "items": _ref("Outcome")}}}]}, "Finished."),
                    "202": _json(_ref("Sweep"), "Still running."), **_errors("404")}}},
            "/api/v1/sweeps": {
                "post": {"summary": "Sweep a target list (as v6scan scan).", "security": sec,
                         "parameters": _SWEEP_OPTIONS, "requestBody": _LIST_BODY,
                         "responses": {"202": _json(_ref("Submitted"), "Queued; follow it at Location."),
                                       **_errors("400", "413")}},
                "get": {"summary": "Every sweep (checks included), with progress.", "security": sec,
                        "responses": {"200": _json({"type": "object", "properties": {
                            "sweeps": {"type": "array", "items": _ref("Sweep")}}}, "The sweeps."), **_errors()}}},
            "/api/v1/sweeps/{id}": {"get": {
                "summary": "A sweep's status and progress.", "security": sec, "parameters": [_ID, _WAIT],
                "responses": {"200": _json(_ref("Sweep"), "The sweep."), **_errors("404")}}},
            "/api/v1/sweeps/{id}/results": {"get": {
                "summary": "A sweep's results (as v6scan export).", "security": sec,
                "parameters": [_ID, _LANG,
                               _param("format", "query", {"enum": list(EXPORT_FORMATS), "default": "jsonl"},
                                      "Export format."),
                               _param("policy", "query", {"enum": list(BUILTIN_POLICIES)},
                                      "Verdicts under this policy (default: the sweep's).")],
                "responses": {"200": {"description": "The export.", "content": {
                    "application/x-ndjson": {}, "application/json": {}, "text/csv": {}, "text/markdown": {},
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}},
                    **_errors("400", "404")}}},
            "/api/v1/diff": {"get": {
                "summary": "What changed between two sweeps (as v6scan diff --format json).", "security": sec,
                "parameters": [_param("a", "query", {"type": "integer"}, "The earlier sweep.", True),
                               _param("b", "query", {"type": "integer"}, "The later sweep.", True),
                               _param("policy", "query", {"enum": list(BUILTIN_POLICIES)}, "Compare under it.")],
                "responses": {"200": _json({"type": "object"}, "gained, lost, changed, checks, only_a, only_b."),
                              **_errors("400", "404")}}},
            "/api/v1/schedules": {
                "post": {"summary": "Sweep a list now and then every interval; the server's webhook hears of"
                                    " sites that got worse.", "security": sec,
                         "parameters": [_param("every", "query", {"type": "string"}, "24h, 30m, 7d, 1h30m.", True),
                                        *_SWEEP_OPTIONS],
                         "requestBody": _LIST_BODY,
                         "responses": {"201": _json(_ref("Schedule"), "Scheduled."), **_errors("400", "413")}},
                "get": {"summary": "Every schedule.", "security": sec,
                        "responses": {"200": _json({"type": "object", "properties": {
                            "schedules": {"type": "array", "items": _ref("Schedule")}}}, "The schedules."),
                            **_errors()}}},
            "/api/v1/schedules/{id}": {"delete": {
                "summary": "Stop a schedule.", "security": sec, "parameters": [_ID],
                "responses": {"200": _json({"type": "object"}, "Stopped."), **_errors("404")}}},
        },
    }
