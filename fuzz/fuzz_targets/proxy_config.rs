#![no_main]
//! The proxy's TOML configuration with environment overrides: never panics on any text, nor
//! does printing the result (the redacting `Debug`, the error that quotes no source).
//! The input is split at the first NUL into the file and one `L402_PROXY__…` override.

use l402_proxy::Config;
use libfuzzer_sys::fuzz_target;

fn do_test(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let (file, env) = s.split_once('\0').unwrap_or((s, ""));
    let env = env.split_once('=').map(|(k, v)| (format!("L402_PROXY__{k}"), v.to_owned()));
    match Config::from_toml_str(file, env) {
        Ok(config) => drop(format!("{config:?}")),
        Err(e) => drop(e.to_string()),
    }
}

fuzz_target!(|data: &[u8]| do_test(data));
