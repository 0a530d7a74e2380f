//! The connection table of one listener: how many client connections are open, in all and
//! per client, what each is doing, and which one to shed when the listener is full
//! (decision 0811).
//!
//! A connection holds its [`Slot`] for as long as its socket lives (the slot sits inside the
//! socket wrapper, so a WebSocket tunnel that outlives its HTTP connection still counts).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use l402_caveats::IpNet;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Who a connection counts against for the per-client limit: an IPv4 address (an
/// IPv4-mapped IPv6 address is its IPv4 address), or an IPv6 /64, the smallest network a
/// single host is usually given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ClientKey {
    V4([u8; 4]),
    V6([u8; 8]),
}

impl ClientKey {
    pub(crate) fn of(ip: IpAddr) -> ClientKey {
        match ip {
            IpAddr::V4(v4) => ClientKey::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey::V4(v4.octets()),
                None => {
                    let o = v6.octets();
                    let mut net = [0u8; 8];
                    for (d, s) in net.iter_mut().zip(o.iter()) {
                        *d = *s;
                    }
                    ClientKey::V6(net)
                }
            },
        }
    }
}

/// What a connection is doing, which decides its deadline and whether it may be shed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Accepted, TLS handshake under way: bounded by `tls_handshake_ms`.
    Handshake(Instant),
    /// Ready for its first request, whose head is not complete: `header_read_ms`.
    Fresh(Instant),
    /// Between requests, nothing of the next one received: `idle_ms`.
    Idle(Instant),
    /// HTTP/1.1: the first bytes of the next request head are in: `header_read_ms`.
    Head(Instant),
    /// Requests (HTTP/2: streams) in flight: no connection deadline.
    Busy(usize),
    /// Upgraded to a tunnel (WebSocket): no deadline, never shed.
    Tunnel,
}

impl Phase {
    /// Since when the connection has been waiting for a request head, if it is.
    fn waiting_since(self) -> Option<Instant> {
        match self {
            Phase::Handshake(t) | Phase::Fresh(t) | Phase::Idle(t) | Phase::Head(t) => Some(t),
            Phase::Busy(_) | Phase::Tunnel => None,
        }
    }
}

pub(crate) struct State {
    pub(crate) phase: Phase,
    /// The connection speaks HTTP/2 (known from its first request).
    pub(crate) http2: bool,
    /// The table asked it to close, to make room.
    pub(crate) shed: bool,
    /// Since when a write to the client has been waiting for it to read (`send_ms`).
    pub(crate) send_blocked: Option<Instant>,
}

/// One open connection.
pub(crate) struct Entry {
    id: u64,
    key: Option<ClientKey>,
    state: Mutex<State>,
    /// Woken when the table sheds this connection. Other changes of state do not wake the
    /// watchdog: it looks again often enough by itself (see `conn::watchdog`).
    pub(crate) shed: Notify,
    /// The table's, woken when this connection can be shed again (a full listener waits
    /// on it).
    sheddable: Arc<Notify>,
}

impl Entry {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.state());
    }

    /// The TLS handshake begins.
    pub(crate) fn handshaking(&self) {
        self.update(|s| s.phase = Phase::Handshake(Instant::now()));
    }

    /// The TLS handshake is done (or there was none): the first request head is awaited.
    pub(crate) fn ready(&self) {
        self.update(|s| s.phase = Phase::Fresh(Instant::now()));
    }

    /// A request head is complete.
    pub(crate) fn request_started(&self, http2: bool) {
        self.update(|s| {
            s.http2 |= http2;
            s.phase = match s.phase {
                Phase::Busy(n) => Phase::Busy(n.saturating_add(1)),
                Phase::Tunnel => Phase::Tunnel,
                _ => Phase::Busy(1),
            };
        });
    }

    /// A response has been sent (or its request abandoned).
    pub(crate) fn request_finished(&self) {
        self.update(|s| {
            s.phase = match s.phase {
                Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
                Phase::Busy(_) => Phase::Idle(Instant::now()),
                other => other,
            };
        });
        self.sheddable.notify_waiters();
    }

    /// Bytes arrived: on an idle HTTP/1.1 connection they start the next request head.
    /// (HTTP/2 frames between streams, PINGs say, do not: only a new stream ends idleness.)
    pub(crate) fn bytes_read(&self) {
        let mut s = self.state();
        if let (Phase::Idle(_), false) = (s.phase, s.http2) {
            s.phase = Phase::Head(Instant::now());
        }
    }

    /// A write to the client could not go on: the socket's buffer is full. Called on every
    /// such write; only the first since the last progress starts the clock.
    pub(crate) fn send_blocked(&self) {
        let mut s = self.state();
        if s.send_blocked.is_none() {
            s.send_blocked = Some(Instant::now());
        }
    }

    /// A write to the client went through: its clock stops.
    pub(crate) fn send_progressed(&self) {
        self.state().send_blocked = None;
    }

    /// The HTTP connection handed its socket to a tunnel.
    pub(crate) fn tunnel(&self) {
        self.update(|s| s.phase = Phase::Tunnel);
    }
}

/// Why a connection was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The client already has `max_connections_per_client` open.
    PerClient,
}

#[derive(Default)]
struct Inner {
    open: BTreeMap<u64, Arc<Entry>>,
    per_client: HashMap<ClientKey, usize>,
    /// Connections asked to close that have not closed yet.
    shedding: usize,
}

/// One listener's connections.
pub(crate) struct Table {
    max: usize,
    per_client: usize,
    exempt: Vec<IpNet>,
    inner: Mutex<Inner>,
    next_id: AtomicU64,
    /// Woken whenever a connection closes or can be shed again.
    released: Arc<Notify>,
    /// Told the number of open connections whenever it changes (the gauge).
    on_change: Box<dyn Fn(usize) + Send + Sync>,
}

/// A connection's place in the table, released when dropped.
pub(crate) struct Slot {
    table: Arc<Table>,
    pub(crate) entry: Arc<Entry>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.table.release(&self.entry);
    }
}

impl Table {
    /// `max` connections in all, `per_client` from one client; peers in `exempt` (trusted
    /// load balancers, which carry many clients) are held to `max` only.
    pub(crate) fn new(
        max: usize,
        per_client: usize,
        exempt: Vec<IpNet>,
        on_change: Box<dyn Fn(usize) + Send + Sync>,
    ) -> Arc<Table> {
        Arc::new(Table {
            max,
            per_client,
            exempt,
            inner: Mutex::new(Inner::default()),
            next_id: AtomicU64::new(0),
            released: Arc::new(Notify::new()),
            on_change,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a place for a connection from `peer`, which has just been accepted.
    pub(crate) fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Refusal> {
        let key = (!self.exempt.iter().any(|n| n.contains(&peer))).then(|| ClientKey::of(peer));
        let mut inner = self.lock();
        if let Some(k) = key {
            let n = inner.per_client.entry(k).or_insert(0);
            if *n >= self.per_client {
                return Err(Refusal::PerClient);
            }
            *n += 1;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(Entry {
            id,
            key,
            state: Mutex::new(State {
                phase: Phase::Handshake(Instant::now()),
                http2: false,
                shed: false,
                send_blocked: None,
            }),
            shed: Notify::new(),
            sheddable: Arc::clone(&self.released),
        });
        inner.open.insert(id, Arc::clone(&entry));
        let open = inner.open.len();
        drop(inner);
        (self.on_change)(open);
        Ok(Slot { table: Arc::clone(self), entry })
    }

    fn release(&self, entry: &Entry) {
        let mut inner = self.lock();
        if inner.open.remove(&entry.id).is_none() {
            return;
        }
        if entry.state().shed {
            inner.shedding = inner.shedding.saturating_sub(1);
        }
        if let Some(k) = entry.key {
            if let Some(n) = inner.per_client.get_mut(&k) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    inner.per_client.remove(&k);
                }
            }
        }
        let open = inner.open.len();
        drop(inner);
        (self.on_change)(open);
        self.released.notify_waiters();
    }

    /// Asks the connection that has waited longest for a request head (other than
    /// `except`) to close. Returns false when every connection is busy (or already closing).
    pub(crate) fn shed_oldest(&self, except: Option<u64>) -> bool {
        let mut inner = self.lock();
        let victim = inner
            .open
            .values()
            .filter_map(|e| {
                if Some(e.id) == except {
                    return None;
                }
                let s = e.state();
                if s.shed {
                    return None;
                }
                s.phase.waiting_since().map(|t| (t, e.id, Arc::clone(e)))
            })
            .min_by_key(|(t, id, _)| (*t, *id));
        let Some((_, _, entry)) = victim else { return false };
        inner.shedding += 1;
        drop(inner);
        entry.update(|s| s.shed = true);
        entry.shed.notify_one();
        true
    }

    /// Waits until the table is within its limit again after admitting `new`: asks the
    /// connection waiting longest for a request head to close and waits for it; when every
    /// other connection is busy, waits for one to close. `on_full` is called each time
    /// nothing could be asked to close.
    pub(crate) async fn room(&self, new: &Slot, mut on_full: impl FnMut()) {
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            let (open, closing) = {
                let inner = self.lock();
                (inner.open.len(), inner.shedding)
            };
            if open <= self.max {
                return;
            }
            // Connections already closing count towards the room needed.
            let wanted = open.saturating_sub(closing) > self.max;
            if wanted && !self.shed_oldest(Some(new.entry.id)) && closing == 0 {
                on_full();
            }
            released.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    #[test]
    fn ipv6_clients_count_by_slash_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8::1".parse().unwrap_or(IpAddr::V6(Ipv6Addr::LOCALHOST));
        let b: IpAddr = "2001:db8::ffff:2".parse().unwrap_or(IpAddr::V6(Ipv6Addr::LOCALHOST));
        let c: IpAddr = "2001:db8:0:1::1".parse().unwrap_or(IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(ClientKey::of(a), ClientKey::of(b));
        assert_ne!(ClientKey::of(a), ClientKey::of(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap_or(IpAddr::V6(Ipv6Addr::LOCALHOST));
        let v4: IpAddr = "10.0.0.1".parse().unwrap_or(IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(ClientKey::of(mapped), ClientKey::of(v4));
    }
}
