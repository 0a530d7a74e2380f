//! A token bought at a dynamic price is bound to the path and method priced (decision 0814):
//! the resource names it is minted under, and the caveats it carries.
#![allow(clippy::indexing_slicing, reason = "tests: a wrong index fails the test, as it should")]

use l402_caveats::{Caveat, Context, ServiceTier, Verifier};
use l402_server::tower::Disposition;
use l402_server::{Price, Route};
use proptest::prelude::*;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn dynamic() -> Price {
    Price::dynamic(|_| Box::pin(async { Ok(1_000) }))
}

fn request(method: &str, path: &str) -> http::request::Parts {
    let (parts, ()) =
        http::Request::builder().method(method).uri(path).body(()).unwrap_or_default().into_parts();
    parts
}

#[test]
fn a_fixed_price_keeps_the_service_name_a_dynamic_one_names_the_path() -> Result {
    let get = request("GET", "/priced/cheap?x=1");
    assert_eq!(Route::new("quotes", Price::msat(5)).resource(&get), "quotes");
    assert_eq!(Route::new("quotes", dynamic()).resource(&get), "quotes/priced/cheap");
    assert_eq!(
        Route::new("quotes", dynamic()).resource(&request("GET", "/a:b,c=d%41")),
        "quotes/a%3Ab%2Cc%3Dd%2541"
    );
    // A fixed price mints what it always did.
    let fixed = Route::new("quotes", Price::msat(5)).max_uses(2);
    assert_eq!(fixed.caveats_for(&get, 0)?, fixed.caveats_at(0)?);
    Ok(())
}

#[test]
fn a_dynamic_token_names_its_resource_and_method() -> Result {
    let route = Route::new("quotes", dynamic())
        .capabilities(&["read"])
        .valid_for(core::time::Duration::from_secs(60))
        .caveat(Caveat::Methods(vec!["GET".into(), "POST".into()]));
    let caveats = route.caveats_for(&request("POST", "/priced/cheap"), 100)?;
    let resource = "quotes/priced/cheap".to_owned();
    assert_eq!(
        caveats,
        vec![
            Caveat::Services(vec![ServiceTier::new(resource.clone(), 0)]),
            Caveat::Capabilities { service: resource.clone(), capabilities: vec!["read".into()] },
            Caveat::Methods(vec!["GET".into(), "POST".into()]),
            Caveat::Methods(vec!["POST".into()]),
            Caveat::ValidUntil { service: resource, unix: 160 },
        ]
    );
    // Judged as the paywall does: the request's own resource name and method.
    let bytes: Vec<Vec<u8>> = caveats.iter().map(Caveat::encode).collect();
    let judge = |method: &str, path: &str| {
        let ctx = Context::new()
            .with_service(route.resource(&request(method, path)).into_owned())
            .with_capability("read")
            .with_method(method)
            .with_now(100);
        Verifier::new().verify_caveats(bytes.iter().map(Vec::as_slice), &ctx).map_err(|e| e.code())
    };
    assert!(judge("POST", "/priced/cheap").is_ok());
    assert_eq!(judge("POST", "/priced/expensive").err(), Some("wrong-service"));
    assert_eq!(judge("GET", "/priced/cheap").err(), Some("wrong-method"));
    // A method the route does not sell gets no token.
    let refused = route.caveats_for(&request("DELETE", "/priced/cheap"), 100);
    assert_eq!(refused.err().map(|e| e.code()), Some("method-not-sold"));
    Ok(())
}

/// A fixed price is no different: a method the route's `methods` caveat does not sell gets
/// no token (it used to mint one that could never be used).
#[test]
fn a_fixed_price_route_sells_only_its_methods() -> Result {
    let route =
        Route::new("weather", Price::msat(1_000)).caveat(Caveat::Methods(vec!["GET".into()]));
    assert!(route.sells(&request("GET", "/w")).is_ok());
    assert!(route.caveats_for(&request("GET", "/w"), 100).is_ok());
    let refused = route.caveats_for(&request("POST", "/w"), 100);
    assert_eq!(refused.err().map(|e| e.code()), Some("method-not-sold"));
    let e = route.sells(&request("POST", "/w")).err();
    assert_eq!(e.as_ref().map(|e| e.code()), Some("method-not-sold"));
    assert_eq!(
        e.map(|e| Disposition::from(&e).status()),
        Some(http::StatusCode::METHOD_NOT_ALLOWED)
    );
    Ok(())
}

proptest! {
    /// Every path gives a name that is one `services` entry and one per-service condition,
    /// printed back byte for byte; two paths never share a name.
    #[test]
    fn resource_names_are_single_entries_and_distinct(
        a in "/[a-zA-Z0-9%:,=;@!$&'()*+._~/-]{0,24}",
        b in "/[a-zA-Z0-9%:,=;@!$&'()*+._~/-]{0,24}",
    ) {
        let route = Route::new("quotes", dynamic());
        let (Ok(ra), Ok(rb)) = (
            http::Request::get(a.as_str()).body(()),
            http::Request::get(b.as_str()).body(()),
        ) else {
            return Ok(()); // Not a request target http accepts: nothing to name.
        };
        let (pa, pb) = (ra.into_parts().0, rb.into_parts().0);
        let (na, nb) = (route.resource(&pa).into_owned(), route.resource(&pb).into_owned());
        prop_assert_eq!(pa.uri.path() == pb.uri.path(), na == nb);
        let services = Caveat::Services(vec![ServiceTier::new(na.clone(), 0)]);
        prop_assert_eq!(Caveat::parse(&services.encode()).ok(), Some(services));
        let caps = Caveat::Capabilities { service: na.clone(), capabilities: vec!["x".into()] };
        prop_assert_eq!(Caveat::parse(&caps.encode()).ok(), Some(caps));
        let until = Caveat::ValidUntil { service: na, unix: 5 };
        prop_assert_eq!(Caveat::parse(&until.encode()).ok(), Some(until));
    }
}
