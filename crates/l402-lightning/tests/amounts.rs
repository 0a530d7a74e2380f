//! Sat-priced configuration converts to millisatoshis once (decision 0200).

use l402_lightning::{sat_to_msat, Error};
use proptest::prelude::*;

#[test]
fn sat_prices_convert_to_msat() {
    assert_eq!(sat_to_msat(21), Ok(21_000));
    assert_eq!(sat_to_msat(0), Err(Error::AmountRequired));
    assert_eq!(sat_to_msat(u64::MAX).map_err(|e| e.code()), Err("config"));
}

proptest! {
    #[test]
    fn conversion_is_exact_or_refused(sat in any::<u64>()) {
        match sat_to_msat(sat) {
            Ok(msat) => prop_assert_eq!(msat / 1000, sat),
            Err(e) => prop_assert!(sat == 0 || sat > u64::MAX / 1000, "{e}"),
        }
    }
}
