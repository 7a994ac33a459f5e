//! Parsers for flag values that need more than their type: each refuses a value outside its
//! range with a message that names the range, so a mistyped flag stops the start instead of
//! quietly running a server that misbehaves (sessions that end at once, no rate limit).

use std::net::IpAddr;

/// At least one (seconds, sessions, days).
pub fn at_least_one(value: &str) -> Result<u64, String> {
    match value.trim().parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        Ok(_) => Err("must be at least 1".into()),
        Err(_) => Err(format!("'{value}' is not a whole number (at least 1)")),
    }
}

/// A count of sessions: at least one.
pub fn sessions(value: &str) -> Result<usize, String> {
    at_least_one(value).and_then(|n| usize::try_from(n).map_err(|_| "too large".into()))
}

/// Days of history: at least one.
pub fn days(value: &str) -> Result<i64, String> {
    at_least_one(value).and_then(|n| i64::try_from(n).map_err(|_| "too large".into()))
}

/// Requests per second per client: 0 (no limit) or more, a finite number.
pub fn rate(value: &str) -> Result<f64, String> {
    match value.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r >= 0.0 => Ok(r),
        _ => Err(format!(
            "'{value}' is not a rate: give requests per second, 0 or more (0 turns the limit off)"
        )),
    }
}

/// An `http` or `https` URL with a host.
pub fn http_url(value: &str) -> Result<String, String> {
    match url::Url::parse(value.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            Ok(value.trim().to_owned())
        }
        _ => Err(format!(
            "'{value}' is not an http(s) URL, e.g. https://coda.io/apis/v1"
        )),
    }
}

/// A running server's MCP endpoint, e.g. `http://127.0.0.1:8080/mcp`.
pub fn mcp_url(value: &str) -> Result<String, String> {
    http_url(value).map_err(|_| {
        format!("'{value}' is not an http(s) URL; give the running server's MCP endpoint, e.g. http://127.0.0.1:8080/mcp")
    })
}

/// An on/off switch from the environment (`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`);
/// empty or a placeholder a launcher left unsubstituted (`${user_config.demo}`) is off.
pub fn switch(value: &str) -> Result<bool, String> {
    let v = value.trim().to_ascii_lowercase();
    match v.as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ if v.starts_with("${") && v.ends_with('}') => Ok(false),
        _ => Err(format!("'{value}' is not a switch: use true or false")),
    }
}

/// An address to listen on; `localhost` means 127.0.0.1.
pub fn host(value: &str) -> Result<IpAddr, String> {
    if value.trim().eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::from([127, 0, 0, 1]));
    }
    value.trim().parse().map_err(|_| {
        format!("'{value}' is not an IP address: use 127.0.0.1 (the default), ::1 or localhost")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_outside_their_range_are_refused_with_the_range() {
        assert!(at_least_one("0").unwrap_err().contains("at least 1"));
        assert_eq!(at_least_one("300"), Ok(300));
        assert!(days("-1").unwrap_err().contains("at least 1"));
        assert!(rate("-1").unwrap_err().contains("0 or more"));
        assert!(rate("NaN").is_err() && rate("inf").is_err());
        assert_eq!(rate("0"), Ok(0.0));
        assert!(http_url("notaurl").unwrap_err().contains("http(s) URL"));
        assert!(http_url("ftp://x.example").is_err());
        assert_eq!(
            http_url("http://127.0.0.1:9/apis/v1").unwrap(),
            "http://127.0.0.1:9/apis/v1"
        );
        assert!(mcp_url("notaurl")
            .unwrap_err()
            .contains("127.0.0.1:8080/mcp"));
        assert_eq!(switch("TRUE"), Ok(true));
        assert_eq!(switch("${user_config.demo}"), Ok(false));
        assert!(switch("maybe").is_err());
        assert_eq!(host("localhost"), Ok(IpAddr::from([127, 0, 0, 1])));
        assert!(host("example.com")
            .unwrap_err()
            .contains("not an IP address"));
    }
}
