//! The retry policy: which failures are worth another attempt, for which requests, and how long to wait.
//!
//! Transient failures (429, 500, 502, 503, 504, refused or reset connections, timeouts, cut-off bodies) are
//! retried for requests that are safe to repeat: reads (including the POST reads such as `_suggest` and
//! `_query`) and full-replace `PUT` writes. A request that never reached the server is repeated whatever
//! its method. The wait before the next attempt ([`wait_before_retry`]) is what the server asks for
//! (`Retry-After` in seconds or as an HTTP date in any of its three formats; or, on a 429 with
//! `x-ratelimit-remaining: 0`, until `x-ratelimit-reset` or for one `x-ratelimit-interval`), otherwise an
//! exponential backoff with jitter; never longer than [`HttpOptions::max_wait`].

use crate::error::ApiErrorKind;
use crate::HttpOptions;
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use std::time::Duration;
use url::Url;

/// Statuses that say "try again later": rate limited, or a server or gateway failing for now.
pub(crate) const RETRIED_STATUSES: [u16; 5] = [429, 500, 502, 503, 504];

/// Path segments of the Elasticsearch APIs that are read with POST.
const POST_READS: [&str; 5] = [
    "_suggest",
    "_query",
    "_search",
    "_has_privileges",
    "_authenticate",
];

/// Whether sending the same request again cannot change anything beyond what one success would:
/// reads, and `PUT` (every write this client sends is a full replacement). A `POST` counts when it
/// is one of the read APIs.
pub(crate) fn repeatable(method: &Method, url: &Url) -> bool {
    match *method {
        Method::GET | Method::HEAD | Method::PUT => true,
        Method::POST => url
            .path_segments()
            .is_some_and(|mut segments| segments.any(|s| POST_READS.contains(&s))),
        _ => false,
    }
}

/// Whether a failed attempt may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Retrying cannot help (a client error, a bad certificate, an unknown host).
    Never,
    /// Transient, but the server may have acted on the request: retry only if it is repeatable.
    IfRepeatable,
    /// The request never reached the server: retry whatever it is.
    Always,
}

/// A failed attempt.
#[derive(Debug)]
pub(crate) struct Failed {
    pub(crate) kind: ApiErrorKind,
    pub(crate) retry: Retry,
    /// Short cause for the retry log line.
    pub(crate) cause: String,
    /// How long the server asked us to wait, if it said.
    pub(crate) server_wait: Option<Duration>,
}

impl Failed {
    pub(crate) fn transport(message: String, retry: Retry) -> Failed {
        Failed {
            cause: message.clone(),
            kind: ApiErrorKind::Transport(message),
            retry,
            server_wait: None,
        }
    }
}

/// The final error after the last of several attempts says so.
pub(crate) fn gave_up(kind: ApiErrorKind, attempts: u32) -> ApiErrorKind {
    let suffix = format!(" (gave up after {attempts} attempts)");
    match kind {
        ApiErrorKind::Status {
            status,
            detail,
            codes,
        } => ApiErrorKind::Status {
            status,
            detail: detail + &suffix,
            codes,
        },
        ApiErrorKind::Transport(message) => ApiErrorKind::Transport(message + &suffix),
        other => other,
    }
}

/// How long to wait after the `attempt`-th failure: what the server asked for (`server_wait`, see
/// [`server_wait`]) or else the backoff for that attempt with jitter drawn from `random`, and never
/// longer than [`HttpOptions::max_wait`]. Pure: the caller supplies the randomness.
pub fn wait_before_retry(
    server_wait: Option<Duration>,
    attempt: u32,
    options: &HttpOptions,
    random: u64,
) -> Duration {
    server_wait
        .unwrap_or_else(|| backoff(options.retry_base, attempt, random))
        .min(options.max_wait)
}

/// A random number for [`wait_before_retry`]'s jitter.
pub(crate) fn jitter() -> u64 {
    getrandom::u64().unwrap_or(u64::MAX / 2)
}

/// Exponential backoff with "equal jitter": for the `attempt`-th failure, a wait between half and all
/// of `base × 2^(attempt-1)`, placed by `random` (0 gives half, `u64::MAX` nearly all).
fn backoff(base: Duration, attempt: u32, random: u64) -> Duration {
    let full = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let half = full / 2;
    let fraction = (random >> 11) as f64 / (1u64 << 53) as f64;
    half + half.mul_f64(fraction)
}

/// How long the server asks the client to wait before trying again, if it says: `Retry-After` (seconds
/// or an HTTP date), or on a 429 with `x-ratelimit-remaining: 0` the Elastic Cloud window headers.
pub fn server_wait(
    status: StatusCode,
    headers: &HeaderMap,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Duration> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(wait) = text(RETRY_AFTER.as_str()).and_then(|v| parse_retry_after(v, now)) {
        return Some(wait);
    }
    if status != StatusCode::TOO_MANY_REQUESTS
        || text("x-ratelimit-remaining").and_then(leading_integer) != Some(0)
    {
        return None;
    }
    if let Some(reset) = text("x-ratelimit-reset").and_then(leading_integer) {
        // Seconds from now, or a Unix time when it is that large.
        let now_secs = u64::try_from(now.timestamp()).unwrap_or(0);
        return Some(Duration::from_secs(if reset > 1_000_000_000 {
            reset.saturating_sub(now_secs)
        } else {
            reset
        }));
    }
    text("x-ratelimit-interval").and_then(parse_interval)
}

/// A `Retry-After` value: whole seconds, or an HTTP date in any of the three formats a recipient must
/// accept (IMF-fixdate, and the obsolete RFC 850 and asctime forms); a date in the past means now.
fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let date = match chrono::DateTime::parse_from_rfc2822(value) {
        Ok(date) => date.with_timezone(&chrono::Utc),
        Err(_) => ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
            .iter()
            .find_map(|format| chrono::NaiveDateTime::parse_from_str(value, format).ok())?
            .and_utc(),
    };
    Some(
        date.signed_duration_since(now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// The leading whole number of a header such as `297` or `300, 300;w=60`.
fn leading_integer(value: &str) -> Option<u64> {
    let digits: String = value
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// A window length such as `1m`, `60s`, `60`, `500ms` or `1h`.
fn parse_interval(value: &str) -> Option<Duration> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let number: u64 = value[..split].parse().ok()?;
    match value[split..].trim() {
        "" | "s" => Some(Duration::from_secs(number)),
        "ms" => Some(Duration::from_millis(number)),
        "m" => Some(Duration::from_secs(number.saturating_mul(60))),
        "h" => Some(Duration::from_secs(number.saturating_mul(3600))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::Utc
            .with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
            .single()
            .expect("valid date")
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        assert_eq!(parse_retry_after("7", now()), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now()), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 01 Mar 2026 12:00:30 GMT", now()),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now()),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(parse_retry_after("soon", now()), None);
        assert_eq!(parse_retry_after("-5", now()), None);
    }

    #[test]
    fn retry_after_accepts_the_obsolete_http_date_formats() {
        // RFC 850 and asctime dates, which HTTP recipients must still accept.
        assert_eq!(
            parse_retry_after("Sunday, 01-Mar-26 12:00:30 GMT", now()),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun Mar  1 12:00:45 2026", now()),
            Some(Duration::from_secs(45))
        );
        assert_eq!(
            parse_retry_after("Sun Mar 1 11:00:00 2026", now()),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("Sunday, 01-Mar-26 12:00:30", now()), None);
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn rate_limit_headers_set_the_wait_only_when_the_window_is_spent() {
        let spent = headers(&[
            ("x-ratelimit-interval", "1m"),
            ("x-ratelimit-limit", "300"),
            ("x-ratelimit-remaining", "0"),
        ]);
        let too_many = StatusCode::TOO_MANY_REQUESTS;
        assert_eq!(
            server_wait(too_many, &spent, now()),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            server_wait(StatusCode::SERVICE_UNAVAILABLE, &spent, now()),
            None
        );
        let left = headers(&[
            ("x-ratelimit-interval", "1m"),
            ("x-ratelimit-remaining", "12"),
        ]);
        assert_eq!(server_wait(too_many, &left, now()), None, "backoff instead");
        let reset = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "9")]);
        assert_eq!(
            server_wait(too_many, &reset, now()),
            Some(Duration::from_secs(9))
        );
        let epoch = format!("{}", now().timestamp() + 20);
        let mut absolute = headers(&[("x-ratelimit-remaining", "0")]);
        absolute.insert(
            "x-ratelimit-reset",
            HeaderValue::from_str(&epoch).expect("value"),
        );
        assert_eq!(
            server_wait(too_many, &absolute, now()),
            Some(Duration::from_secs(20))
        );
        let both = headers(&[("retry-after", "3"), ("x-ratelimit-remaining", "0")]);
        assert_eq!(
            server_wait(StatusCode::SERVICE_UNAVAILABLE, &both, now()),
            Some(Duration::from_secs(3)),
            "Retry-After wins"
        );
        assert_eq!(parse_interval("60s"), Some(Duration::from_secs(60)));
        assert_eq!(parse_interval("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_interval("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_interval("15"), Some(Duration::from_secs(15)));
        assert_eq!(parse_interval("a while"), None);
        assert_eq!(leading_integer("500, 500;w=1"), Some(500));
    }

    #[test]
    fn backoff_doubles_with_jitter() {
        let base = Duration::from_millis(100);
        for attempt in 1..=4 {
            let full = base * (1 << (attempt - 1));
            for _ in 0..20 {
                let wait = backoff(base, attempt, jitter());
                assert!(wait >= full / 2 && wait <= full, "{attempt}: {wait:?}");
            }
            assert_eq!(backoff(base, attempt, 0), full / 2);
            assert!(backoff(base, attempt, u64::MAX) <= full);
        }
        assert!(backoff(Duration::from_secs(1), 40, jitter()) >= Duration::from_secs(1 << 19));
    }

    #[test]
    fn the_wait_is_the_servers_or_the_backoff_and_never_over_the_cap() {
        let options = HttpOptions {
            retry_base: Duration::from_millis(100),
            max_wait: Duration::from_secs(2),
            ..HttpOptions::default()
        };
        assert_eq!(
            wait_before_retry(Some(Duration::from_secs(1)), 1, &options, 0),
            Duration::from_secs(1)
        );
        assert_eq!(
            wait_before_retry(Some(Duration::from_secs(3600)), 1, &options, 0),
            Duration::from_secs(2),
            "an hour's Retry-After is capped"
        );
        assert_eq!(
            wait_before_retry(None, 3, &options, 0),
            Duration::from_millis(200)
        );
        assert_eq!(
            wait_before_retry(None, 10, &options, u64::MAX),
            Duration::from_secs(2),
            "a long backoff is capped"
        );
        let spent = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "9")]);
        let asked = server_wait(StatusCode::TOO_MANY_REQUESTS, &spent, now());
        assert_eq!(
            wait_before_retry(asked, 1, &options, 0),
            Duration::from_secs(2)
        );
    }
}
