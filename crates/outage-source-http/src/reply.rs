//! Writing answers: every error is `{"error": "..."}` with `Content-Type: application/json`.

use salvo::http::header::{CONTENT_TYPE, HeaderValue};
use salvo::http::{ResBody, StatusCode};
use salvo::{Depot, FlowCtrl, Handler, Request, Response, async_trait};

/// Content type of JSON answers.
const JSON: &str = "application/json; charset=utf-8";

/// Writes `value` as a JSON body with `status`.
pub(crate) fn json(res: &mut Response, status: StatusCode, value: &serde_json::Value) {
    // Serializing a `serde_json::Value` cannot fail; fall back to an empty object regardless.
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    res.status_code(status);
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    res.replace_body(ResBody::Once(body.into()));
}

/// Writes `{"error": message}` with `status`.
pub(crate) fn error(res: &mut Response, status: StatusCode, message: impl Into<String>) {
    json(res, status, &serde_json::json!({ "error": message.into() }));
}

/// Writes a plain-text body with `status` and `content_type`.
pub(crate) fn text(
    res: &mut Response,
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<String>,
) {
    res.status_code(status);
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    res.replace_body(ResBody::Once(body.into().into_bytes().into()));
}

/// Catcher goal: an error status that no handler gave a body (unknown path, wrong method,
/// ...) gets a JSON `{"error": ...}` body instead of salvo's HTML page.
pub(crate) struct JsonErrorGoal;

#[async_trait]
impl Handler for JsonErrorGoal {
    async fn handle(
        &self,
        req: &mut Request,
        _depot: &mut Depot,
        res: &mut Response,
        _ctrl: &mut FlowCtrl,
    ) {
        let status = res.status_code.unwrap_or(StatusCode::NOT_FOUND);
        if !(status.is_client_error() || status.is_server_error()) {
            return;
        }
        if !(res.body.is_none() || res.body.is_error()) {
            return;
        }
        let message = match status {
            StatusCode::NOT_FOUND => format!("not found: {}", sanitize(req.uri().path())),
            StatusCode::METHOD_NOT_ALLOWED => format!(
                "method {} not allowed on {}",
                sanitize(req.method().as_str()),
                sanitize(req.uri().path())
            ),
            other => other
                .canonical_reason()
                .unwrap_or("request failed")
                .to_lowercase(),
        };
        error(res, status, message);
    }
}

/// Echoes at most 200 characters of client input back into a message, control characters and
/// line breaks replaced by `?`.
pub(crate) fn sanitize(s: &str) -> String {
    s.chars()
        .take(200)
        .map(|c| {
            // Printable text (Cyrillic included) and plain spaces stay; control characters,
            // newlines and other whitespace that could break a log line or a header do not.
            if c == ' ' || !(c.is_control() || c.is_whitespace()) {
                c
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_bounds_and_cleans_echoed_input() {
        assert_eq!(sanitize("/a b\n"), "/a b?");
        assert_eq!(sanitize("тиждень\t\r\u{0}x"), "тиждень???x");
        assert_eq!(sanitize(&"x".repeat(500)).len(), 200);
    }
}
