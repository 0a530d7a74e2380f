//! Header hygiene between the client and the upstream.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded in either direction.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
];

/// Removes hop-by-hop headers, including every header the `Connection` field names. `Upgrade`
/// is removed too unless `keep_upgrade` (a WebSocket handshake carries it end to end, and the
/// caller puts `Connection: upgrade` back). `TE: trailers` survives: gRPC needs it.
pub(crate) fn remove_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    let te_trailers = headers.get_all(header::TE).iter().any(|v| {
        v.to_str().is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case("trailers")))
    });
    for name in named {
        if keep_upgrade && name == header::UPGRADE {
            continue;
        }
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    if !keep_upgrade {
        headers.remove(header::UPGRADE);
    }
    if te_trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
}

/// Removes the L402 credential in all its forms, so the preimage never reaches the upstream:
/// `Authorization` values of the L402/LSAT schemes, `Macaroon`, `Grpc-Metadata-Macaroon` and
/// the gRPC `token` metadata. Other `Authorization` schemes (the upstream's own auth) stay.
pub(crate) fn strip_credentials(headers: &mut HeaderMap) {
    let kept: Vec<HeaderValue> = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter(|v| !is_l402_authorization(v))
        .cloned()
        .collect();
    headers.remove(header::AUTHORIZATION);
    for v in kept {
        headers.append(header::AUTHORIZATION, v);
    }
    headers.remove(l402_http::MACAROON);
    headers.remove(l402_http::GRPC_METADATA_MACAROON);
    headers.remove(l402_http::TOKEN);
}

fn is_l402_authorization(v: &HeaderValue) -> bool {
    let bytes = v.as_bytes();
    let scheme_end = bytes.iter().position(|b| *b == b' ').unwrap_or(bytes.len());
    let scheme = bytes.get(..scheme_end).unwrap_or_default();
    scheme.eq_ignore_ascii_case(b"L402") || scheme.eq_ignore_ascii_case(b"LSAT")
}

/// Adds `X-Forwarded-For` (appending to any earlier hops), `X-Forwarded-Proto` and
/// `X-Forwarded-Host`.
pub(crate) fn add_forwarded(
    headers: &mut HeaderMap,
    client: IpAddr,
    tls: bool,
    host: Option<&str>,
) {
    let xff = HeaderName::from_static("x-forwarded-for");
    let prior: Vec<String> =
        headers.get_all(&xff).iter().filter_map(|v| v.to_str().ok().map(str::to_owned)).collect();
    let mut chain = prior.join(", ");
    if !chain.is_empty() {
        chain.push_str(", ");
    }
    chain.push_str(&client.to_string());
    if let Ok(v) = HeaderValue::from_str(&chain) {
        headers.insert(xff, v);
    }
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(if tls { "https" } else { "http" }),
    );
    if let Some(v) = host.and_then(|h| HeaderValue::from_str(h).ok()) {
        headers.insert(HeaderName::from_static("x-forwarded-host"), v);
    }
}

/// Whether the request asks to switch protocols (a WebSocket handshake, for instance).
pub(crate) fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers.get_all(header::CONNECTION).iter().any(|v| {
            v.to_str().is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade")))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_connection_named_headers_go() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("keep-alive, x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("te", HeaderValue::from_static("trailers, deflate"));
        h.insert("upgrade", HeaderValue::from_static("websocket"));
        h.insert("x-keep", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut h, false);
        let names: Vec<_> = h.keys().map(|k| k.as_str().to_owned()).collect();
        assert_eq!(h.get("te").map(|v| v.as_bytes()), Some(&b"trailers"[..]));
        assert!(names.iter().all(|n| n == "x-keep" || n == "te"), "{names:?}");
    }

    #[test]
    fn credentials_are_stripped_but_other_auth_stays() {
        let mut h = HeaderMap::new();
        h.append("authorization", HeaderValue::from_static("LSAT abc:00"));
        h.append("authorization", HeaderValue::from_static("l402 abc:00"));
        h.append("authorization", HeaderValue::from_static("Bearer upstream"));
        h.insert("macaroon", HeaderValue::from_static("00"));
        h.insert("grpc-metadata-macaroon", HeaderValue::from_static("00"));
        strip_credentials(&mut h);
        let auth: Vec<_> = h.get_all("authorization").iter().collect();
        assert_eq!(auth, vec![&HeaderValue::from_static("Bearer upstream")]);
        assert!(!h.contains_key("macaroon") && !h.contains_key("grpc-metadata-macaroon"));
    }
}
