//! Which SFTP hosts a guild admin may point the bot at.
//!
//! A bot that connects wherever an admin says can be turned against the operator's own
//! network. Loopback, private, link-local (cloud metadata at 169.254.169.254 among them),
//! carrier-grade NAT, unspecified, multicast and documentation ranges are refused unless
//! the operator allows them in `[sftp]`. The check is made on the resolved addresses, and
//! the connection then goes to the checked address, never to a second lookup.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::Deserialize;

/// What the operator allows beyond public addresses on the allowed ports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AddressPolicy {
    /// 127.0.0.0/8 and ::1 (the tests and the sandbox need this).
    pub allow_loopback: bool,
    /// 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7, fec0::/10 (a game server on the
    /// same LAN).
    pub allow_private: bool,
    /// The ports an SFTP host may name; by default 22 and 1024–65535, so an admin cannot
    /// probe a mail or web port on someone else's host.
    pub allowed_ports: PortPolicy,
}

/// A set of port ranges, written `"22,1024-65535"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortPolicy(Vec<(u16, u16)>);

impl Default for PortPolicy {
    fn default() -> Self {
        Self(vec![(22, 22), (1024, 65535)])
    }
}

impl PortPolicy {
    pub fn allows(&self, port: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| (lo..=hi).contains(&port))
    }

    /// Every port (a test or an operator who wants no port policy).
    pub fn any() -> Self {
        Self(vec![(1, 65535)])
    }
}

impl std::str::FromStr for PortPolicy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let port = |p: &str| {
            p.trim()
                .parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| format!("`{}` is not a port (1-65535)", p.trim()))
        };
        let mut ranges = Vec::new();
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            let range = match part.split_once('-') {
                Some((lo, hi)) => (port(lo)?, port(hi)?),
                None => (port(part)?, port(part)?),
            };
            if range.0 > range.1 {
                return Err(format!("`{}` is an empty port range", part.trim()));
            }
            ranges.push(range);
        }
        if ranges.is_empty() {
            return Err("no port is allowed; write e.g. \"22,1024-65535\"".to_owned());
        }
        Ok(Self(ranges))
    }
}

impl fmt::Display for PortPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(lo, hi)) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            if lo == hi {
                write!(f, "{sep}{lo}")?;
            } else {
                write!(f, "{sep}{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for PortPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
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
    /// Checked before any lookup or connection, so what is listening there is never told.
    #[error("port {port} is not allowed for SFTP hosts on this bot (allowed: {allowed})")]
    PortRefused { port: u16, allowed: String },
}

/// The range an address falls in when it is not a public one. Addresses that carry an IPv4
/// address inside (IPv4-mapped and -compatible, NAT64, 6to4) are judged by that address.
pub fn special_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_range(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => v4_range(v4),
            None => v6_range(v6),
        },
    }
}

/// The IPv4 address an IPv6 address stands for, where it stands for one.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated); ::1 and :: are
        // IPv6's own loopback and unspecified.
        [0, 0, 0, 0, 0, 0xffff, ..] => Some(low),
        [0, 0, 0, 0, 0, 0, ..] if !ip.is_loopback() && !ip.is_unspecified() => Some(low),
        // NAT64 well-known prefix 64:ff9b::/96.
        [0x64, 0xff9b, 0, 0, 0, 0, ..] => Some(low),
        // 6to4 2002:V4ADDR::/48.
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

/// IANA's IPv4 special-purpose registry, plus multicast and the reserved 240/4.
fn v4_range(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    Some(match o {
        _ if ip.is_loopback() => "loopback",
        [0, ..] => "unspecified",
        [169, 254, ..] => "link-local (cloud metadata)",
        _ if ip.is_private() => "private",
        [100, b, ..] if (64..128).contains(&b) => "private",
        [224..=239, ..] | [255, 255, 255, 255] => "multicast/broadcast",
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "documentation",
        [198, 18 | 19, ..] => "benchmarking",
        [192, 0, 0, _] => "IETF protocol assignment",
        [192, 88, 99, _] => "6to4 relay",
        [192, 31, 196, _] | [192, 175, 48, _] | [192, 52, 193, _] => "special-purpose",
        [240..=255, ..] => "reserved",
        _ => return None,
    })
}

/// IANA's IPv6 special-purpose registry, plus multicast and the deprecated site-local range.
fn v6_range(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    Some(match s {
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_unspecified() => "unspecified",
        [f, ..] if f & 0xff00 == 0xff00 => "multicast/broadcast",
        [f, ..] if f & 0xfe00 == 0xfc00 => "private",
        [f, ..] if f & 0xffc0 == 0xfec0 => "private",
        [f, ..] if f & 0xffc0 == 0xfe80 => "link-local (cloud metadata)",
        [0x64, 0xff9b, 1, ..] => "NAT64 (local use)",
        [0x0100, 0, 0, 0, ..] => "discard-only",
        [0x2001, 0x0db8, ..] => "documentation",
        [f, ..] if f & 0xfff0 == 0x3ff0 => "documentation",
        [0x2001, b, ..] if b < 0x0200 => "IETF protocol assignment",
        [0x5f00, ..] => "segment routing",
        // Everything outside 2000::/3 is unassigned or reserved.
        [f, ..] if f & 0xe000 != 0x2000 => "reserved",
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
    /// A port outside the policy is refused before anything is looked up.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, AddressError> {
        if !self.allowed_ports.allows(port) {
            return Err(AddressError::PortRefused {
                port,
                allowed: self.allowed_ports.to_string(),
            });
        }
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

    fn ok<T, E: std::fmt::Debug>(r: Result<T, E>) -> T {
        r.unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// Every special-purpose range of IANA's IPv4 and IPv6 registries, and the IPv6 forms
    /// that carry an IPv4 address, with an address at each end where the range is wide.
    const REFUSED: &[(&str, &str)] = &[
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.20.0.1", "private"),
        ("192.168.1.10", "private"),
        ("100.64.0.1", "private"),
        ("100.127.255.254", "private"),
        ("169.254.169.254", "link-local (cloud metadata)"),
        ("fe80::1", "link-local (cloud metadata)"),
        ("fd00::1", "private"),
        ("fc00::1", "private"),
        ("fec0::1", "private"),
        ("feff:ffff::1", "private"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast/broadcast"),
        ("239.255.255.255", "multicast/broadcast"),
        ("255.255.255.255", "multicast/broadcast"),
        ("ff02::1", "multicast/broadcast"),
        ("192.0.2.1", "documentation"),
        ("198.51.100.7", "documentation"),
        ("203.0.113.9", "documentation"),
        ("2001:db8::1", "documentation"),
        ("3fff::1", "documentation"),
        ("3fff:fff::1", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("198.19.255.254", "benchmarking"),
        ("192.0.0.8", "IETF protocol assignment"),
        ("192.0.0.170", "IETF protocol assignment"),
        ("192.88.99.1", "6to4 relay"),
        ("192.31.196.1", "special-purpose"),
        ("192.52.193.1", "special-purpose"),
        ("192.175.48.1", "special-purpose"),
        ("240.0.0.1", "reserved"),
        ("2001::1", "IETF protocol assignment"),
        ("2001:2::1", "IETF protocol assignment"),
        ("2001:10::1", "IETF protocol assignment"),
        ("2001:1ff::1", "IETF protocol assignment"),
        ("100::1", "discard-only"),
        ("64:ff9b:1::a00:1", "NAT64 (local use)"),
        ("5f00::1", "segment routing"),
        ("4000::1", "reserved"),
        ("1::1", "reserved"),
        // IPv6 that stands for an internal IPv4 address.
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local (cloud metadata)"),
        ("::127.0.0.1", "loopback"),
        ("::10.0.0.1", "private"),
        ("64:ff9b::7f00:1", "loopback"),
        ("64:ff9b::169.254.169.254", "link-local (cloud metadata)"),
        ("64:ff9b::10.0.0.1", "private"),
        ("2002:7f00:1::", "loopback"),
        ("2002:a9fe:a9fe::1", "link-local (cloud metadata)"),
        ("2002:c0a8:101::1", "private"),
    ];

    const PUBLIC: &[&str] = &[
        "8.8.8.8",
        "1.1.1.1",
        "100.63.255.255",
        "100.128.0.1",
        "198.17.255.255",
        "198.20.0.1",
        "192.0.3.1",
        "223.255.255.254",
        "2a00:1450:4001::1",
        "2001:200::1",
        "2606:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::8.8.8.8",
        "2002:808:808::1",
    ];

    #[test]
    fn internal_ranges_are_refused_by_default() {
        let policy = AddressPolicy::default();
        for &(addr, range) in REFUSED {
            assert_eq!(policy.allows(ip(addr)), Err(range), "{addr}");
        }
        for addr in PUBLIC {
            assert_eq!(policy.allows(ip(addr)), Ok(()), "{addr}");
        }
    }

    #[test]
    fn the_operator_can_allow_loopback_or_private() {
        let loopback = AddressPolicy {
            allow_loopback: true,
            ..AddressPolicy::default()
        };
        assert_eq!(loopback.allows(ip("127.0.0.1")), Ok(()));
        assert_eq!(loopback.allows(ip("2002:7f00:1::")), Ok(()));
        assert!(loopback.allows(ip("10.0.0.1")).is_err());
        assert!(loopback.allows(ip("169.254.169.254")).is_err());
        assert!(loopback.allows(ip("64:ff9b::169.254.169.254")).is_err());
        let private = AddressPolicy {
            allow_private: true,
            ..AddressPolicy::default()
        };
        assert_eq!(private.allows(ip("192.168.0.2")), Ok(()));
        assert_eq!(private.allows(ip("fec0::2")), Ok(()));
        assert!(private.allows(ip("127.0.0.1")).is_err());
        assert!(private.allows(ip("198.18.0.1")).is_err());
    }

    #[test]
    fn ports_follow_the_policy() {
        let default = PortPolicy::default();
        assert_eq!(default.to_string(), "22,1024-65535");
        for (port, allowed) in [
            (22, true),
            (1024, true),
            (2022, true),
            (65535, true),
            (21, false),
            (23, false),
            (25, false),
            (80, false),
            (443, false),
            (1023, false),
        ] {
            assert_eq!(default.allows(port), allowed, "{port}");
        }
        let custom: PortPolicy = ok(" 22, 2200-2299 ,8022".parse());
        assert!(custom.allows(2250) && custom.allows(8022) && !custom.allows(1024));
        assert_eq!(custom.to_string(), "22,2200-2299,8022");
        for bad in ["", "0", "22-21", "http", "70000"] {
            assert!(bad.parse::<PortPolicy>().is_err(), "{bad:?}");
        }
    }

    /// A refused port gives one answer whatever listens there: nothing is looked up or
    /// connected to, so `/test_sftp host:25` cannot tell open, closed and filtered apart.
    #[tokio::test]
    async fn refused_ports_are_refused_before_connecting() {
        let listener = ok(tokio::net::TcpListener::bind("127.0.0.1:0").await);
        let open = ok(listener.local_addr()).port();
        let policy = AddressPolicy {
            allow_loopback: true,
            allowed_ports: ok("22".parse()),
            ..AddressPolicy::default()
        };
        let on_open = policy.resolve("127.0.0.1", open).await;
        let on_closed = policy.resolve("127.0.0.1", 25).await;
        let on_unresolvable = policy.resolve("no-such-host.invalid", 25).await;
        for (result, port) in [(&on_open, open), (&on_closed, 25), (&on_unresolvable, 25)] {
            assert_eq!(
                result,
                &Err(AddressError::PortRefused {
                    port,
                    allowed: "22".to_owned()
                })
            );
        }
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
