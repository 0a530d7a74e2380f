//! One module per command group.

pub(crate) mod cacert;
pub(crate) mod demo;
pub(crate) mod get;
pub(crate) mod header;
pub(crate) mod invoice;
pub(crate) mod proxy;
pub(crate) mod spend;
pub(crate) mod tls;
pub(crate) mod token;
pub(crate) mod tokens;
pub(crate) mod wallet;

/// Reads an argument, or standard input when it is `-`, trimmed of surrounding whitespace.
pub(crate) fn arg_or_stdin(arg: &str) -> std::io::Result<String> {
    if arg == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
        Ok(s.trim().to_owned())
    } else {
        Ok(arg.to_owned())
    }
}
