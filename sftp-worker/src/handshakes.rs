//! How many SSH handshakes a worker runs at once: per game host and in all.
//!
//! OpenSSH's sshd drops new connections at random once 10 are unauthenticated at once
//! (`MaxStartups 10:30:100`, its default), and a game host often serves many servers, of
//! several guilds. A worker that starts, or takes over a dead worker's servers, would
//! otherwise open hundreds of connections at the same moment: many to one host, refused,
//! retried after a backoff. Handshakes wait here instead, in the order they came
//! ([`HOST_HANDSHAKES`] per host, [`ALL_HANDSHAKES`] in all); an open connection holds
//! nothing here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Handshakes at once to one host: under sshd's default `MaxStartups` of 10.
pub const HOST_HANDSHAKES: usize = 8;
/// Handshakes at once in all (each costs a key exchange on this worker's CPU).
pub const ALL_HANDSHAKES: usize = 64;

/// The right to run one handshake; released when dropped (once logged in, or failed).
pub struct Handshake {
    _host: OwnedSemaphorePermit,
    _all: OwnedSemaphorePermit,
}

pub struct Handshakes {
    all: Arc<Semaphore>,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Default for Handshakes {
    fn default() -> Self {
        Self {
            all: Arc::new(Semaphore::new(ALL_HANDSHAKES)),
            hosts: Mutex::new(HashMap::new()),
        }
    }
}

impl Handshakes {
    /// Waits for a turn to connect to `host` (its name as configured, lowercased).
    pub async fn turn(&self, host: &str) -> Option<Handshake> {
        let per_host = {
            let mut hosts = self.hosts.lock().ok()?;
            // Hosts with nobody connecting or waiting are forgotten (every turn holds a
            // clone of its host's semaphore): the map stays as small as the handshakes in
            // progress, and a host is never given a second semaphore while one is in use.
            hosts.retain(|_, s| Arc::strong_count(s) > 1);
            Arc::clone(
                hosts
                    .entry(host.to_ascii_lowercase())
                    .or_insert_with(|| Arc::new(Semaphore::new(HOST_HANDSHAKES))),
            )
        };
        let host = per_host.acquire_owned().await.ok()?;
        let all = Arc::clone(&self.all).acquire_owned().await.ok()?;
        Some(Handshake {
            _host: host,
            _all: all,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_host_gets_at_most_its_share_and_others_are_not_held_up() {
        let gate = Handshakes::default();
        let mut held = Vec::new();
        for _ in 0..HOST_HANDSHAKES {
            held.push(gate.turn("Game.Example").await);
        }
        assert!(held.iter().all(Option::is_some));
        let next = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            gate.turn("game.example"),
        )
        .await;
        assert!(next.is_err(), "a ninth handshake to one host waits");
        assert!(
            gate.turn("other.example").await.is_some(),
            "another host does not"
        );
        held.pop();
        assert!(
            gate.turn("game.example").await.is_some(),
            "a turn given back is taken"
        );
    }
}
