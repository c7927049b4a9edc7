//! Which addresses a URL input may reach. Checked on the literal URL at submission and again on
//! every resolved address and redirect by the worker that downloads it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UrlRefused {
    #[error("not a valid URL: {0}")]
    Malformed(String),
    #[error("only http and https URLs are accepted, not {0:?}")]
    Scheme(String),
    #[error("the URL has no host")]
    NoHost,
    #[error("the URL points to a loopback, private, link-local or metadata address ({0}), which is not allowed")]
    ForbiddenAddress(String),
}

/// Parses and checks a URL input. `allow_private` lifts the address restriction.
pub fn check_url(raw: &str, allow_private: bool) -> Result<Url, UrlRefused> {
    let url = Url::parse(raw).map_err(|e| UrlRefused::Malformed(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlRefused::Scheme(url.scheme().to_string()));
    }
    let host = url.host().ok_or(UrlRefused::NoHost)?;
    if !allow_private {
        let forbidden = match &host {
            Host::Ipv4(ip) => is_forbidden(IpAddr::V4(*ip)),
            Host::Ipv6(ip) => is_forbidden(IpAddr::V6(*ip)),
            Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                name == "localhost" || name.ends_with(".localhost") || name == "metadata.google.internal"
            }
        };
        if forbidden {
            return Err(UrlRefused::ForbiddenAddress(host.to_string()));
        }
    }
    Ok(url)
}

/// A resolver for reqwest that drops forbidden addresses (unless `allow_private`), so a name
/// that resolves to a private address is refused when connecting, not only at submission.
pub struct PolicyResolver {
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<std::net::SocketAddr> =
                addrs.iter().copied().filter(|a| allow_private || !is_forbidden(a.ip())).collect();
            if allowed.is_empty() && !addrs.is_empty() {
                let err: Box<dyn std::error::Error + Send + Sync> = format!(
                    "{host} resolves to a loopback, private, link-local or metadata address, which is not allowed"
                )
                .into();
                return Err(err);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// True for addresses a server-side fetch must never reach on a user's behalf.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => forbidden_v4(v4),
            None => forbidden_v6(v6),
        },
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // includes 169.254.169.254, the cloud metadata service
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local, includes fd00:ec2::254 (metadata)
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
        || ip.to_ipv4().is_some_and(forbidden_v4) // IPv4-compatible ::a.b.c.d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_internal_addresses() {
        for url in [
            "http://127.0.0.1/a.wav",
            "http://localhost:8000/a.wav",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[fd00:ec2::254]/",
            "http://[fe80::1]/",
            "http://0.0.0.0/",
            "http://100.64.0.1/",
            "http://metadata.google.internal/",
        ] {
            assert!(matches!(check_url(url, false), Err(UrlRefused::ForbiddenAddress(_))), "{url}");
            assert!(check_url(url, true).is_ok(), "{url} allowed when configured");
        }
    }

    #[tokio::test]
    async fn the_resolver_drops_private_addresses() {
        use reqwest::dns::Resolve;
        let name = || "localhost".parse::<reqwest::dns::Name>().unwrap();
        let refused = PolicyResolver { allow_private: false }.resolve(name()).await;
        assert!(refused.err().unwrap().to_string().contains("not allowed"));
        let allowed = PolicyResolver { allow_private: true }.resolve(name()).await.unwrap();
        assert!(allowed.into_iter().all(|a| a.ip().is_loopback()));
    }

    #[test]
    fn accepts_public_and_checks_scheme() {
        assert!(check_url("https://example.com/a.mp3", false).is_ok());
        assert!(check_url("http://93.184.216.34/a.mp3", false).is_ok());
        assert_eq!(check_url("ftp://example.com/a", false), Err(UrlRefused::Scheme("ftp".into())));
        assert_eq!(check_url("file:///etc/passwd", false), Err(UrlRefused::Scheme("file".into())));
        assert!(matches!(check_url("not a url", false), Err(UrlRefused::Malformed(_))));
    }
}
