//! The embedded dev node and its wallet. **NOT FOR REAL MONEY.**
//!
//! [`DevNode`] is an [`InvoiceBackend`](crate::InvoiceBackend) that signs real regtest BOLT 11
//! invoices and settles them the moment its paired [`DevPayer`] (a [`Payer`](crate::Payer))
//! pays. In one process, pair them directly with [`DevPayer::new`]. Across processes (a proxy
//! in one terminal, `l402 get` in another), the node's owner calls
//! [`DevNode::serve_pairing`] with a data directory, and the other process calls
//! [`DevPayer::connect`] with the same directory (decision 0201).

mod node;
mod pairing;
mod payer;

pub use node::{DevNode, DevNodeBuilder};
pub use pairing::{Pairing, PairingServer, PAIRING_FILE};
pub use payer::DevPayer;

/// The data directory the proxy and the client agree on when neither is told otherwise:
/// `$L402_DEV_DIR`, else `$HOME/.l402/dev`, else `l402-dev` in the system temp directory.
pub fn default_dir() -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os("L402_DEV_DIR").filter(|d| !d.is_empty()) {
        return dir.into();
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => std::path::PathBuf::from(home).join(".l402").join("dev"),
        None => std::env::temp_dir().join("l402-dev"),
    }
}
