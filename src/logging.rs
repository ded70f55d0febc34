//! Structured logs on stderr: one JSON object per line (`level`, `ts`, `msg`, fields) or a console line.
//!
//! Callers pass only values that are safe to show; no API key is ever handed to a log call. The
//! libraries of this workspace (`baton_c1z`, `elastic_api`) log through the `log` facade; [`init`]
//! installs a logger that writes their records in the same format. Other crates' records are dropped.

use clap::ValueEnum;
use serde_json::Value;
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

/// `--log-level` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// `--log-format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Console,
}

static CONFIG: OnceLock<(LogLevel, LogFormat)> = OnceLock::new();

/// Sets the level and format for the rest of the process (the first call wins), and routes the
/// workspace libraries' `log` records here.
pub fn init(level: LogLevel, format: LogFormat) {
    let _ = CONFIG.set((level, format));
    if log::set_logger(&FACADE).is_ok() {
        log::set_max_level(log::LevelFilter::Debug);
    }
}

/// The crates whose `log` records are written (their targets start with these module paths).
const LOGGING_CRATES: [&str; 2] = ["baton_c1z", "elastic_api"];

struct Facade;

static FACADE: Facade = Facade;

fn from_log_level(level: log::Level) -> LogLevel {
    match level {
        log::Level::Error => LogLevel::Error,
        log::Level::Warn => LogLevel::Warn,
        log::Level::Info => LogLevel::Info,
        log::Level::Debug | log::Level::Trace => LogLevel::Debug,
    }
}

/// Collects a record's key-value pairs in order, as JSON values.
#[derive(Default)]
struct Fields(Vec<(String, Value)>);

impl<'kvs> log::kv::VisitSource<'kvs> for Fields {
    fn visit_pair(
        &mut self,
        key: log::kv::Key<'kvs>,
        value: log::kv::Value<'kvs>,
    ) -> Result<(), log::kv::Error> {
        let json = if let Some(v) = value.to_u64() {
            Value::from(v)
        } else if let Some(v) = value.to_i64() {
            Value::from(v)
        } else if let Some(v) = value.to_bool() {
            Value::from(v)
        } else if let Some(v) = value.to_f64() {
            Value::from(v)
        } else if let Some(v) = value.to_borrowed_str() {
            Value::from(v)
        } else {
            Value::from(value.to_string())
        };
        self.0.push((key.as_str().to_owned(), json));
        Ok(())
    }
}

impl log::Log for Facade {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        let target = metadata.target();
        LOGGING_CRATES.iter().any(|c| {
            target == *c
                || target
                    .strip_prefix(c)
                    .is_some_and(|rest| rest.starts_with("::"))
        }) && enabled(from_log_level(metadata.level()))
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut fields = Fields::default();
        let _ = record.key_values().visit(&mut fields);
        let fields: Vec<(&str, Value)> = fields
            .0
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let msg = record.args().to_string();
        log(from_log_level(record.level()), &msg, &fields);
    }

    fn flush(&self) {}
}

/// The configuration; before [`init`] (an error in the config file, say), the defaults: info, and console
/// when stderr is a terminal, json otherwise.
fn config() -> (LogLevel, LogFormat) {
    CONFIG.get().copied().unwrap_or_else(|| {
        let format = if std::io::stderr().is_terminal() {
            LogFormat::Console
        } else {
            LogFormat::Json
        };
        (LogLevel::Info, format)
    })
}

/// Whether messages at `level` are written.
pub fn enabled(level: LogLevel) -> bool {
    level >= config().0
}

/// The configured format.
pub fn format() -> LogFormat {
    config().1
}

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    }
}

/// Renders one log line (without the newline).
pub fn render(level: LogLevel, format: LogFormat, msg: &str, fields: &[(&str, Value)]) -> String {
    let now = baton_c1z::clock::now();
    match format {
        LogFormat::Json => {
            let ts = now.timestamp() as f64 + f64::from(now.timestamp_subsec_micros()) / 1e6;
            let mut line = format!(
                "{{\"level\":{},\"ts\":{},\"msg\":{}",
                Value::from(level_name(level)),
                Value::from(ts),
                Value::from(msg)
            );
            for (key, value) in fields {
                line.push(',');
                line.push_str(&Value::from(*key).to_string());
                line.push(':');
                line.push_str(&value.to_string());
            }
            line.push('}');
            line
        }
        LogFormat::Console => {
            let mut line = format!(
                "{} {:<5} ",
                now.format("%Y-%m-%dT%H:%M:%S%.3f%z"),
                level_name(level).to_uppercase()
            );
            push_escaped(&mut line, msg);
            for (key, value) in fields {
                line.push(' ');
                push_escaped(&mut line, key);
                line.push('=');
                match value {
                    Value::String(s) => push_escaped(&mut line, s),
                    other => push_escaped(&mut line, &other.to_string()),
                }
            }
            line
        }
    }
}

/// Appends `text` with its control characters escaped (`\n`, `\r`, `\t`, `\u{1b}`…), so that a
/// value such as a username can neither start a forged log line nor send terminal escape sequences.
fn push_escaped(line: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            '\t' => line.push_str("\\t"),
            c if c.is_control() => line.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => line.push(c),
        }
    }
}

thread_local! {
    /// Fields every line logged on this thread carries (see [`with_field`]).
    static THREAD_FIELDS: std::cell::RefCell<Vec<(&'static str, Value)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with `key = value` added to every line it logs on this thread, e.g. the deployment a
/// worker thread reads.
pub fn with_field<T>(key: &'static str, value: Value, f: impl FnOnce() -> T) -> T {
    THREAD_FIELDS.with(|fields| fields.borrow_mut().push((key, value)));
    let result = f();
    THREAD_FIELDS.with(|fields| fields.borrow_mut().pop());
    result
}

/// Writes one log line at `level` when enabled.
pub fn log(level: LogLevel, msg: &str, fields: &[(&str, Value)]) {
    if !enabled(level) {
        return;
    }
    let line = THREAD_FIELDS.with(|extra| {
        let extra = extra.borrow();
        if extra.is_empty() {
            render(level, format(), msg, fields)
        } else {
            let all: Vec<(&str, Value)> = extra
                .iter()
                .map(|(k, v)| (*k, v.clone()))
                .chain(fields.iter().cloned())
                .collect();
            render(level, format(), msg, &all)
        }
    });
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
}

/// Logs at debug level.
pub fn debug(msg: &str, fields: &[(&str, Value)]) {
    log(LogLevel::Debug, msg, fields);
}

/// Logs at info level.
pub fn info(msg: &str, fields: &[(&str, Value)]) {
    log(LogLevel::Info, msg, fields);
}

/// Logs at warn level.
pub fn warn(msg: &str, fields: &[(&str, Value)]) {
    log(LogLevel::Warn, msg, fields);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_carry_level_ts_msg_and_fields() {
        let line = render(
            LogLevel::Warn,
            LogFormat::Json,
            "retrying",
            &[
                ("path", Value::from("/_security/user")),
                ("status", Value::from(429)),
            ],
        );
        let v: Value = serde_json::from_str(&line).expect("json");
        assert_eq!(v["level"], "warn");
        assert_eq!(v["msg"], "retrying");
        assert_eq!(v["status"], 429);
        assert!(v["ts"].as_f64().expect("ts") > 1.7e9);
        assert!(line.starts_with(r#"{"level":"warn","ts":"#), "{line}");
    }

    #[test]
    fn console_lines_are_readable() {
        let line = render(
            LogLevel::Info,
            LogFormat::Console,
            "synced",
            &[("count", Value::from(3)), ("type", Value::from("role"))],
        );
        assert!(line.contains("INFO  synced count=3 type=role"), "{line}");
    }

    #[test]
    fn console_lines_escape_control_characters() {
        let line = render(
            LogLevel::Info,
            LogFormat::Console,
            "granted\nERROR forged",
            &[(
                "principal",
                Value::from("alice\n2026-01-01 ERROR root\u{1b}[2J\t\r"),
            )],
        );
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert!(
            line.ends_with(
                r"INFO  granted\nERROR forged principal=alice\n2026-01-01 ERROR root\u{1b}[2J\t\r"
            ),
            "{line}"
        );
    }
}
