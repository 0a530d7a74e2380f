//! What the server knows about the request being judged.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// The request a token is judged against. Every field is optional: a caveat whose check needs
/// an absent field is not checked and is listed in [`crate::Verdict::unchecked`], except a
/// non-empty capabilities caveat of the judged service, which refuses a request that names no
/// capability (`missing-capability`, decision 0306: Aperture skips it, so a narrowing would be
/// silently ignored).
///
/// Build it with the `with_*` methods:
///
/// ```
/// use l402_caveats::Context;
/// let ctx = Context::new().with_service("weather").with_now(1_700_000_000).with_method("GET");
/// assert_eq!(ctx.service.as_deref(), Some("weather"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Context {
    /// The service the request is for (Aperture's target service name).
    pub service: Option<String>,
    /// The capability the request needs, if the server maps requests to capabilities.
    pub capability: Option<String>,
    /// Now, in Unix seconds.
    pub now: Option<i64>,
    /// The HTTP method, as sent (methods are case-sensitive).
    pub method: Option<String>,
    /// The request path, already normalised by the server (no `..`, no percent-decoding
    /// surprises): prefixes are compared byte for byte.
    pub path: Option<String>,
    /// The client's address.
    pub client: Option<IpAddr>,
    /// How many requests this token has already made, from the server's store.
    pub prior_uses: Option<u64>,
    /// Room for server-specific fields, read by custom satisfiers.
    pub custom: BTreeMap<String, String>,
}

impl Context {
    /// An empty context: nothing about the request is known.
    pub fn new() -> Context {
        Context::default()
    }

    /// Sets the target service.
    pub fn with_service(mut self, service: impl Into<String>) -> Context {
        self.service = Some(service.into());
        self
    }

    /// Sets the capability.
    pub fn with_capability(mut self, capability: impl Into<String>) -> Context {
        self.capability = Some(capability.into());
        self
    }

    /// Sets now (Unix seconds).
    pub fn with_now(mut self, unix: i64) -> Context {
        self.now = Some(unix);
        self
    }

    /// Sets the HTTP method.
    pub fn with_method(mut self, method: impl Into<String>) -> Context {
        self.method = Some(method.into());
        self
    }

    /// Sets the request path.
    pub fn with_path(mut self, path: impl Into<String>) -> Context {
        self.path = Some(path.into());
        self
    }

    /// Sets the client address.
    pub fn with_client(mut self, client: IpAddr) -> Context {
        self.client = Some(client);
        self
    }

    /// Sets the number of prior uses.
    pub fn with_prior_uses(mut self, uses: u64) -> Context {
        self.prior_uses = Some(uses);
        self
    }

    /// Sets a custom field.
    pub fn with_custom(mut self, key: impl Into<String>, value: impl Into<String>) -> Context {
        self.custom.insert(key.into(), value.into());
        self
    }
}
