//! Which host a request names. HTTP/1.1 has `Host` and, in an absolute-form target
//! (`GET http://a.example/ HTTP/1.1`), a second authority; HTTP/2 has `:authority` and may
//! carry `host` too. Routing reads one and an upstream or cache behind us may read the
//! other, so when they disagree, or `Host` comes twice, the request is refused (RFC 9112
//! §3.2, RFC 9113 §8.3.1; decision 0809).

use core::fmt;

use http::header::HOST;
use http::uri::{Authority, Scheme};
use http::{HeaderMap, Uri};

/// Why a request's host was refused (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum HostError {
    /// More than one `Host` header. Code `host-duplicate`.
    Duplicate,
    /// The target's authority (absolute form, or `:authority`) names another host or port
    /// than `Host`. Code `host-mismatch`.
    Mismatch,
    /// `Host` is not a `host[:port]` authority. Code `host-invalid`.
    Invalid,
}

impl HostError {
    /// A stable code.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            HostError::Duplicate => "host-duplicate",
            HostError::Mismatch => "host-mismatch",
            HostError::Invalid => "host-invalid",
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HostError::Duplicate => "more than one Host header",
            HostError::Mismatch => "the request target's authority differs from Host",
            HostError::Invalid => "the Host header is not host[:port]",
        })
    }
}

impl std::error::Error for HostError {}

/// The host the request names: `Host`, else the target's authority; refused when both are
/// present and differ (names compared without case, a missing port read as the scheme's
/// default), or when `Host` is repeated.
pub(crate) fn request_host(uri: &Uri, headers: &HeaderMap) -> Result<Option<String>, HostError> {
    let mut hosts = headers.get_all(HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(HostError::Duplicate);
    }
    let Some(host) = host else {
        return Ok(uri.authority().map(|a| a.as_str().to_owned()));
    };
    let text = host.to_str().map_err(|_| HostError::Invalid)?;
    let named: Authority = text.parse().map_err(|_| HostError::Invalid)?;
    if named.as_str().contains('@') {
        return Err(HostError::Invalid);
    }
    if let Some(target) = uri.authority() {
        let default = if uri.scheme() == Some(&Scheme::HTTPS) { 443 } else { 80 };
        let port = |a: &Authority| a.port_u16().unwrap_or(default);
        if !named.host().eq_ignore_ascii_case(target.host()) || port(&named) != port(target) {
            return Err(HostError::Mismatch);
        }
    }
    Ok(Some(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(target: &str, hosts: &[&str]) -> Result<Option<String>, HostError> {
        let uri: Uri = target.parse().unwrap();
        let mut headers = HeaderMap::new();
        for h in hosts {
            headers.append(HOST, h.parse().unwrap());
        }
        request_host(&uri, &headers)
    }

    #[test]
    fn one_host_or_the_same_twice() {
        assert_eq!(check("/x", &["a.example"]), Ok(Some("a.example".into())));
        assert_eq!(check("/x", &[]), Ok(None));
        assert_eq!(check("http://a.example/x", &[]), Ok(Some("a.example".into())));
        assert_eq!(check("http://A.example/x", &["a.EXAMPLE"]), Ok(Some("a.EXAMPLE".into())));
        assert_eq!(check("http://a.example:80/x", &["a.example"]), Ok(Some("a.example".into())));
        assert_eq!(
            check("https://a.example/x", &["a.example:443"]),
            Ok(Some("a.example:443".into()))
        );
        assert_eq!(check("http://[::1]:8080/", &["[::1]:8080"]), Ok(Some("[::1]:8080".into())));
    }

    #[test]
    fn disagreements_are_refused() {
        assert_eq!(check("/x", &["a.example", "b.example"]), Err(HostError::Duplicate));
        assert_eq!(check("/x", &["a.example", "a.example"]), Err(HostError::Duplicate));
        assert_eq!(check("http://b.example/x", &["a.example"]), Err(HostError::Mismatch));
        assert_eq!(check("http://a.example:81/x", &["a.example"]), Err(HostError::Mismatch));
        assert_eq!(check("https://a.example/x", &["a.example:80"]), Err(HostError::Mismatch));
        assert_eq!(check("http://a.example/x", &["a.example/"]), Err(HostError::Invalid));
        assert_eq!(check("/x", &["a example"]), Err(HostError::Invalid));
        assert_eq!(check("/x", &["user@a.example"]), Err(HostError::Invalid));
        assert_eq!(HostError::Duplicate.code(), "host-duplicate");
        assert_eq!(HostError::Mismatch.code(), "host-mismatch");
    }
}
