//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of every route this crate serves
//! (heartbeat, health, metrics and the read API), written by hand; the schemas of locations,
//! outages and availability rows come from [`outage_core::view`].
//!
//! A test walks the mounted routers and checks that each route and method appears here.

use outage_core::view::{AvailabilityView, LocationView, OutageView};
use salvo::http::StatusCode;
use salvo::http::header::{CACHE_CONTROL, HeaderValue};
use salvo::{Depot, FlowCtrl, Handler, Request, Response, async_trait};
use serde_json::{Value, json};

use crate::reply;

/// Serves [`document`] (computed once).
pub(crate) struct OpenApiHandler {
    doc: Value,
}

impl OpenApiHandler {
    pub(crate) fn new() -> Self {
        Self { doc: document() }
    }
}

#[async_trait]
impl Handler for OpenApiHandler {
    async fn handle(
        &self,
        _req: &mut Request,
        _depot: &mut Depot,
        res: &mut Response,
        _ctrl: &mut FlowCtrl,
    ) {
        res.headers_mut().insert(
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        );
        reply::json(res, StatusCode::OK, &self.doc);
    }
}

/// `{"$ref": "#/components/responses/<name>"}`.
fn response(name: &str) -> Value {
    json!({ "$ref": format!("#/components/responses/{name}") })
}

/// `{"$ref": "#/components/schemas/<name>"}`.
fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// A JSON response with a schema.
fn json_response(description: &str, schema: Value) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": schema } }
    })
}

/// A plain-text response.
fn text_response(description: &str, content_type: &str) -> Value {
    json!({
        "description": description,
        "content": { content_type: { "schema": { "type": "string" } } }
    })
}

/// The errors every read-API route can answer.
fn read_errors(mut responses: Value, with_id: bool) -> Value {
    if let Some(o) = responses.as_object_mut() {
        o.insert("401".into(), response("Unauthorized"));
        o.insert("503".into(), response("Unavailable"));
        if with_id {
            o.insert("400".into(), response("BadRequest"));
            o.insert("404".into(), response("NotFound"));
        }
    }
    responses
}

/// A response with `ETag` and `Cache-Control`, plus `304` for a matching `If-None-Match`.
fn cached(mut responses: Value) -> Value {
    if let Some(o) = responses.as_object_mut() {
        if let Some(ok) = o.get_mut("200").and_then(Value::as_object_mut) {
            ok.insert(
                "headers".into(),
                json!({
                    "ETag": { "$ref": "#/components/headers/ETag" },
                    "Cache-Control": { "$ref": "#/components/headers/Cache-Control" }
                }),
            );
        }
        o.insert("304".into(), response("NotModified"));
    }
    responses
}

fn query_param(name: &str, description: &str, schema: Value) -> Value {
    json!({
        "name": name,
        "in": "query",
        "required": false,
        "description": description,
        "schema": schema
    })
}

/// `POST` of the heartbeat; `legacy` for the classic design's deprecated `/api/heartbeat/`,
/// which takes any body type (a body that is not JSON is ignored) and so never answers 415.
fn heartbeat_operation(legacy: bool) -> Value {
    let mut op = json!({
        "post": {
            "operationId": "postHeartbeat",
            "summary": "Report that a location still has power",
            "tags": ["ingest"],
            "security": [{ "locationKey": [] }, { "locationKeyHeader": [] }],
            "requestBody": {
                "required": false,
                "description": "Optional device facts, at most 1 KiB. Unknown fields are ignored; null counts as absent. An empty body is a beat without facts.",
                "content": { "application/json": { "schema": schema("HeartbeatFacts") } }
            },
            "responses": {
                "200": json_response("Beat accepted", schema("HeartbeatAck")),
                "400": response("BadRequest"),
                "401": response("Unauthorized"),
                "403": json_response("The location is disabled", schema("Error")),
                "408": json_response("The body was not received in time", schema("Error")),
                "413": json_response("Body larger than 1 KiB", schema("Error")),
                "415": json_response("A body that is not application/json", schema("Error")),
                "503": response("Unavailable")
            }
        }
    });
    if legacy {
        let post = &mut op["post"];
        post["operationId"] = json!("postHeartbeatLegacy");
        post["deprecated"] = json!(true);
        post["summary"] = json!("Heartbeat at the classic design's path (deprecated alias)");
        post["description"] = json!(
            "Kept so devices flashed for the classic Django design work unchanged: the same keys and headers as /api/v1/heartbeat (also `Authorization: Api-Key <key>` or `Token <key>`). A body that is not application/json is ignored. Move devices to /api/v1/heartbeat when they are next flashed."
        );
        if let Some(responses) = post["responses"].as_object_mut() {
            responses.remove("415");
        }
    }
    op
}

/// The whole document.
pub fn document() -> Value {
    let id = json!({ "$ref": "#/components/parameters/LocationId" });
    let if_none_match = json!({ "$ref": "#/components/parameters/IfNoneMatch" });
    let from = query_param(
        "from",
        "Start: an RFC 3339 time, or a local date (YYYY-MM-DD, monitor time zone) meaning its midnight.",
        schema("TimeOrDate"),
    );
    let to = query_param(
        "to",
        "End: an RFC 3339 time (exclusive), or a local date (YYYY-MM-DD) whose whole day is included.",
        schema("TimeOrDate"),
    );
    let read = json!([{ "apiToken": [] }]);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "outage-monitor",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "Self-hosted power-outage monitor: heartbeat ingest and read API.",
            "description": "Devices post heartbeats with their location key; dashboards and scripts read locations, outages, availability and weekly diagrams with an API token made by `outage-monitor token create`. Every error body is `{\"error\": \"...\"}`; a client's mistake never gets a 5xx.",
            "license": { "name": "MIT", "identifier": "MIT" }
        },
        "paths": {
            "/api/v1/heartbeat": heartbeat_operation(false),
            "/api/heartbeat/": heartbeat_operation(true),
            "/healthz": {
                "get": {
                    "operationId": "getHealthz",
                    "summary": "Liveness: 200 while the process runs",
                    "tags": ["operations"],
                    "responses": { "200": text_response("ok", "text/plain") }
                },
                "head": {
                    "operationId": "headHealthz",
                    "summary": "Liveness without a body",
                    "tags": ["operations"],
                    "responses": { "200": { "description": "alive" } }
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "getReadyz",
                    "summary": "Readiness: the engine is loaded and the store answers",
                    "tags": ["operations"],
                    "responses": {
                        "200": text_response("ok", "text/plain"),
                        "503": response("Unavailable")
                    }
                },
                "head": {
                    "operationId": "headReadyz",
                    "summary": "Readiness without a body",
                    "tags": ["operations"],
                    "responses": {
                        "200": { "description": "ready" },
                        "503": { "description": "not ready" }
                    }
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "getMetrics",
                    "summary": "Prometheus metrics (text format 0.0.4)",
                    "tags": ["operations"],
                    "responses": { "200": text_response("Metrics", "text/plain") }
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "getOpenApi",
                    "summary": "This document",
                    "tags": ["read"],
                    "responses": { "200": json_response("OpenAPI 3.1 document", json!({ "type": "object" })) }
                }
            },
            "/api/v1/locations": {
                "get": {
                    "operationId": "listLocations",
                    "summary": "Every location with its status",
                    "tags": ["read"],
                    "security": read,
                    "responses": read_errors(json!({
                        "200": json_response("Locations, by id", json!({ "type": "array", "items": schema("Location") }))
                    }), false)
                }
            },
            "/api/v1/locations/{id}": {
                "get": {
                    "operationId": "getLocation",
                    "summary": "One location with its status",
                    "tags": ["read"],
                    "security": read,
                    "parameters": [id],
                    "responses": read_errors(json!({
                        "200": json_response("The location", schema("Location"))
                    }), true)
                }
            },
            "/api/v1/locations/{id}/events": {
                "get": {
                    "operationId": "listEvents",
                    "summary": "Outages of a location that overlap from..to, newest first",
                    "tags": ["read"],
                    "security": read,
                    "parameters": [
                        id,
                        from,
                        to,
                        query_param("limit", "At most this many (default 1000).", json!({ "type": "integer", "minimum": 1, "maximum": crate::config::MAX_EVENTS }))
                    ],
                    "responses": read_errors(json!({
                        "200": json_response("Outages", json!({ "type": "array", "items": schema("Event") }))
                    }), true)
                }
            },
            "/api/v1/locations/{id}/availability": {
                "get": {
                    "operationId": "getAvailability",
                    "summary": "Availability per local day, ISO week or month",
                    "description": "Whole periods overlapping the local dates from..to (default: the last 7 days, 4 weeks or 3 months up to today). Times given as RFC 3339 are read as their local date.",
                    "tags": ["read"],
                    "security": read,
                    "parameters": [
                        id,
                        query_param("from", "First local date (YYYY-MM-DD) or an RFC 3339 time.", schema("TimeOrDate")),
                        query_param("to", "Last local date, inclusive (default: today).", schema("TimeOrDate")),
                        query_param("period", "Period length (default day).", json!({ "type": "string", "enum": ["day", "week", "month"] })),
                        if_none_match
                    ],
                    "responses": read_errors(cached(json!({
                        "200": json_response("One row per period", json!({ "type": "array", "items": schema("AvailabilityRow") }))
                    })), true)
                }
            },
            "/api/v1/locations/{id}/diagram.svg": {
                "get": {
                    "operationId": "getDiagramSvg",
                    "summary": "Weekly diagram as SVG",
                    "tags": ["read"],
                    "security": read,
                    "parameters": [id, { "$ref": "#/components/parameters/Week" }, { "$ref": "#/components/parameters/IfNoneMatch" }],
                    "responses": read_errors(cached(json!({
                        "200": text_response("The diagram", "image/svg+xml"),
                        "500": json_response("Rendering failed", schema("Error"))
                    })), true)
                }
            },
            "/api/v1/locations/{id}/diagram.png": {
                "get": {
                    "operationId": "getDiagramPng",
                    "summary": "Weekly diagram as PNG",
                    "tags": ["read"],
                    "security": read,
                    "parameters": [id, { "$ref": "#/components/parameters/Week" }, { "$ref": "#/components/parameters/IfNoneMatch" }],
                    "responses": read_errors(cached(json!({
                        "200": {
                            "description": "The diagram",
                            "content": { "image/png": { "schema": { "type": "string", "contentMediaType": "image/png" } } }
                        },
                        "500": json_response("Rendering failed", schema("Error"))
                    })), true)
                }
            }
        },
        "components": {
            "securitySchemes": {
                "apiToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A read-API token (omt_…) made with `outage-monitor token create`."
                },
                "locationKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The location's device key (om_…) from `outage-monitor location add`."
                },
                "locationKeyHeader": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-API-Key",
                    "description": "The location's device key, for devices that cannot send Authorization."
                }
            },
            "parameters": {
                "LocationId": {
                    "name": "id",
                    "in": "path",
                    "required": true,
                    "description": "Location id (see GET /api/v1/locations).",
                    "schema": { "type": "integer", "format": "int64" }
                },
                "Week": {
                    "name": "week",
                    "in": "query",
                    "required": false,
                    "description": "ISO week YYYY-Www in the monitor's time zone (default: the current week).",
                    "schema": { "type": "string", "pattern": "^[0-9]{4}-?[Ww][0-9]{2}$", "examples": ["2026-W13"] }
                },
                "IfNoneMatch": {
                    "name": "If-None-Match",
                    "in": "header",
                    "required": false,
                    "description": "An ETag from an earlier answer: 304 when unchanged.",
                    "schema": { "type": "string" }
                }
            },
            "headers": {
                "ETag": {
                    "description": "Strong tag of the body (a hash of its bytes).",
                    "schema": { "type": "string" }
                },
                "Cache-Control": {
                    "description": "`private, max-age=60` while the period goes on, `private, max-age=86400` once it is over.",
                    "schema": { "type": "string" }
                }
            },
            "responses": {
                "BadRequest": json_response("A malformed parameter or body; the message names it", schema("Error")),
                "Unauthorized": {
                    "description": "Missing, malformed, unknown or revoked token or key",
                    "headers": { "WWW-Authenticate": { "schema": { "type": "string", "const": "Bearer" } } },
                    "content": { "application/json": { "schema": schema("Error") } }
                },
                "NotFound": json_response("No such location", schema("Error")),
                "NotModified": {
                    "description": "Unchanged since the ETag given in If-None-Match",
                    "headers": {
                        "ETag": { "$ref": "#/components/headers/ETag" },
                        "Cache-Control": { "$ref": "#/components/headers/Cache-Control" }
                    }
                },
                "Unavailable": json_response("The monitor is unwell (e.g. its database does not answer)", schema("Error"))
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": { "error": { "type": "string" } }
                },
                "TimeOrDate": {
                    "type": "string",
                    "description": "RFC 3339 time (2026-03-01T00:00:00Z) or local date (2026-03-01).",
                    "examples": ["2026-03-01", "2026-03-01T00:00:00Z"]
                },
                "HeartbeatFacts": {
                    "type": "object",
                    "properties": {
                        "boot_id": { "type": ["string", "null"], "maxLength": 64 },
                        "uptime_s": { "type": ["integer", "null"], "minimum": 0 },
                        "seq": { "type": ["integer", "null"], "minimum": 0 },
                        "fw": { "type": ["string", "null"], "maxLength": 64 },
                        "rssi": { "type": ["integer", "null"], "format": "int32" }
                    }
                },
                "HeartbeatAck": {
                    "type": "object",
                    "required": ["status", "next_in_s"],
                    "properties": {
                        "status": { "type": "string", "enum": ["up", "down", "unknown", "paused"] },
                        "next_in_s": { "type": "integer", "minimum": 0 }
                    }
                },
                "Location": LocationView::schema(),
                "Event": OutageView::schema(),
                "AvailabilityRow": AvailabilityView::schema()
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The document's schemas are the shared views' own (whose tests check them against what
    /// the views serialize), not copies.
    #[test]
    fn the_schemas_are_the_views() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["Location"], LocationView::schema());
        assert_eq!(schemas["Event"], OutageView::schema());
        assert_eq!(schemas["AvailabilityRow"], AvailabilityView::schema());
    }

    /// Every `$ref` points at something that exists.
    #[test]
    fn references_resolve() {
        fn walk(v: &Value, doc: &Value, bad: &mut Vec<String>) {
            match v {
                Value::Object(o) => {
                    if let Some(Value::String(r)) = o.get("$ref") {
                        let ptr = r.trim_start_matches('#');
                        if doc.pointer(ptr).is_none() {
                            bad.push(r.clone());
                        }
                    }
                    o.values().for_each(|c| walk(c, doc, bad));
                }
                Value::Array(a) => a.iter().for_each(|c| walk(c, doc, bad)),
                _ => {}
            }
        }
        let doc = document();
        let mut bad = Vec::new();
        walk(&doc, &doc, &mut bad);
        assert!(bad.is_empty(), "dangling references: {bad:?}");
        assert_eq!(doc["openapi"], "3.1.0");
    }
}
