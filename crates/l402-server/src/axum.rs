//! The axum extractor for the verified token.

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;

use crate::verify::VerifiedToken;

/// The request reached a handler that extracts a [`VerifiedToken`] without passing through an
/// [`L402Layer`](crate::tower::L402Layer): a server wiring bug, answered with 500 and code
/// `not-protected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotProtected;

impl core::fmt::Display for NotProtected {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("route is not behind the l402 layer")
    }
}

impl std::error::Error for NotProtected {}

impl IntoResponse for NotProtected {
    fn into_response(self) -> Response {
        let body = r#"{"type":"about:blank","title":"Internal Server Error","status":500,"code":"not-protected"}"#;
        (
            http::StatusCode::INTERNAL_SERVER_ERROR,
            [(http::header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for VerifiedToken {
    type Rejection = NotProtected;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<VerifiedToken>().cloned().ok_or(NotProtected)
    }
}
