//! Which SFTP hosts a guild admin may point the bot at.
//!
//! A bot that connects wherever an admin says can be turned against the operator's own
//! network. Loopback, private, link-local (cloud metadata at 169.254.169.254 among them),
//! carrier-grade NAT, unspecified, multicast and documentation ranges are refused unless
//! the operator allows them in `[sftp]`. The check is made on the resolved addresses, and
//! the connection then goes to the checked address, never to a second lookup.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::Deserialize;

/// What the operator allows beyond public addresses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AddressPolicy {
    /// 127.0.0.0/8 and ::1 (the tests and the sandbox need this).
    pub allow_loopback: bool,
    /// 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7 (a game server on the same LAN).
    pub allow_private: bool,
}

/// Why a host was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("{host} could not be resolved: {reason}")]
    Unresolved { host: String, reason: String },
    #[error("{host} resolves to {addr}, a {range} address, which this bot does not connect to")]
    Refused {
        host: String,
        addr: IpAddr,
        range: &'static str,
    },
}

/// The range an address falls in when it is not a public one.
pub fn special_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_range(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4_range(v4),
            None => v6_range(v6),
        },
    }
}

fn v4_range(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    Some(match o {
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_link_local() => "link-local (cloud metadata)",
        _ if ip.is_private() => "private",
        [100, b, ..] if (64..128).contains(&b) => "private",
        _ if ip.is_multicast() || ip.is_broadcast() => "multicast/broadcast",
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "documentation",
        [0, ..] | [240..=255, ..] => "reserved",
        _ => return None,
    })
}

fn v6_range(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    Some(match first {
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_multicast() => "multicast/broadcast",
        f if f & 0xfe00 == 0xfc00 => "private",
        f if f & 0xffc0 == 0xfe80 => "link-local (cloud metadata)",
        0x2001 if ip.segments()[1] == 0x0db8 => "documentation",
        _ => return None,
    })
}

impl AddressPolicy {
    pub fn allows(&self, ip: IpAddr) -> Result<(), &'static str> {
        match special_range(ip) {
            None => Ok(()),
            Some("loopback") if self.allow_loopback => Ok(()),
            Some("private") if self.allow_private => Ok(()),
            Some(range) => Err(range),
        }
    }

    /// Resolves `host:port` and returns the first address the policy allows; refuses when
    /// any resolved address is refused (a name must not mix public and internal answers).
    pub async fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, AddressError> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| AddressError::Unresolved {
                host: host.to_owned(),
                reason: e.to_string(),
            })?
            .collect();
        for addr in &addrs {
            self.allows(addr.ip())
                .map_err(|range| AddressError::Refused {
                    host: host.to_owned(),
                    addr: addr.ip(),
                    range,
                })?;
        }
        addrs
            .first()
            .copied()
            .ok_or_else(|| AddressError::Unresolved {
                host: host.to_owned(),
                reason: "no addresses".to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn internal_ranges_are_refused_by_default() {
        let policy = AddressPolicy::default();
        for (addr, range) in [
            ("127.0.0.1", "loopback"),
            ("::1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.20.0.1", "private"),
            ("192.168.1.10", "private"),
            ("100.64.0.1", "private"),
            ("169.254.169.254", "link-local (cloud metadata)"),
            ("fe80::1", "link-local (cloud metadata)"),
            ("fd00::1", "private"),
            ("0.0.0.0", "unspecified"),
            ("::ffff:127.0.0.1", "loopback"),
            ("224.0.0.1", "multicast/broadcast"),
        ] {
            assert_eq!(policy.allows(ip(addr)), Err(range), "{addr}");
        }
        assert_eq!(policy.allows(ip("8.8.8.8")), Ok(()));
        assert_eq!(policy.allows(ip("2a00:1450:4001::1")), Ok(()));
    }

    #[test]
    fn the_operator_can_allow_loopback_or_private() {
        let loopback = AddressPolicy {
            allow_loopback: true,
            allow_private: false,
        };
        assert_eq!(loopback.allows(ip("127.0.0.1")), Ok(()));
        assert!(loopback.allows(ip("10.0.0.1")).is_err());
        assert!(loopback.allows(ip("169.254.169.254")).is_err());
        let private = AddressPolicy {
            allow_loopback: false,
            allow_private: true,
        };
        assert_eq!(private.allows(ip("192.168.0.2")), Ok(()));
        assert!(private.allows(ip("127.0.0.1")).is_err());
    }

    #[tokio::test]
    async fn names_are_checked_after_resolving() {
        let policy = AddressPolicy::default();
        let refused = policy.resolve("localhost", 22).await;
        assert!(
            matches!(
                refused,
                Err(AddressError::Refused {
                    range: "loopback",
                    ..
                })
            ),
            "{refused:?}"
        );
        let allowed = AddressPolicy {
            allow_loopback: true,
            ..policy
        }
        .resolve("127.0.0.1", 22)
        .await;
        assert_eq!(allowed, Ok(SocketAddr::from(([127, 0, 0, 1], 22))));
    }
}
