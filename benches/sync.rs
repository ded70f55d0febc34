//! Sync benchmark: generates tenants of named sizes in the loopback fake, runs the real release binary
//! against each, and prints one table row per size.
//!
//! `cargo bench --bench sync -- [SIZE...] [--latency-ms N] [--runs N] [--wrap CMD] [--log-level L]`,
//! where SIZE is `demo`, `small`, `medium`, `large`, `xl`, `sso-large` or `sso-xl` (default: `demo medium
//! large`). `--latency-ms` delays every response of the fake by N ms so the cost of round trips shows.
//! `--runs` runs each size N times and shows the fastest run. `--wrap` runs the binary under CMD (split on
//! spaces), e.g. `"heaptrack -o /tmp/xl"`. `--log-level debug` lets the binary log each write phase with
//! its duration (on stderr; default `warn`). `--keep PATH` copies the last artifact to PATH. The fake's own serving time is reported separately; the
//! decoded size is the SQLite database the file decompresses to, which Baton readers cap.

use baton_c1z::reader::{C1zFile, DecodeLimits};
use elastic_fake::{FakeElastic, Fault, FaultAction, Tenant, TenantSpec};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

struct Options {
    sizes: Vec<String>,
    latency: Duration,
    runs: usize,
    /// A command (split on spaces) the binary runs under, such as a profiler.
    wrap: Vec<String>,
    log_level: String,
    /// Where to copy the last artifact written, to look at it afterwards.
    keep: Option<std::path::PathBuf>,
}

fn parse_options() -> Options {
    let mut sizes = Vec::new();
    let mut latency = Duration::ZERO;
    let mut runs = 1;
    let mut wrap = Vec::new();
    let mut log_level = "warn".to_owned();
    let mut keep = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--latency-ms" => {
                let ms = args.next().and_then(|v| v.parse().ok()).unwrap_or(0);
                latency = Duration::from_millis(ms);
            }
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).unwrap_or(1),
            "--wrap" => {
                wrap = args
                    .next()
                    .map(|v| v.split_whitespace().map(str::to_owned).collect())
                    .unwrap_or_default();
            }
            "--log-level" => log_level = args.next().unwrap_or(log_level),
            "--keep" => keep = args.next().map(std::path::PathBuf::from),
            "--bench" => {}
            other if other.starts_with('-') => {}
            size => sizes.push(size.to_owned()),
        }
    }
    if sizes.is_empty() {
        sizes = vec!["demo".into(), "medium".into(), "large".into()];
    }
    Options {
        sizes,
        latency,
        runs: runs.max(1),
        wrap,
        log_level,
        keep,
    }
}

fn tenant(size: &str) -> Option<Tenant> {
    if size == "demo" {
        return Tenant::demo().ok();
    }
    TenantSpec::named(size).map(|spec| Tenant::generate(&spec))
}

/// Peak resident set (VmHWM) of a running process, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

struct Row {
    wall: Duration,
    requests: usize,
    downloaded: u64,
    fake_time: Duration,
    peak_rss_kib: u64,
    rows: u64,
    artifact: u64,
    decoded: u64,
    grants: u64,
}

fn count_rows(path: &Path) -> (u64, u64) {
    let file = match C1zFile::open(path, &DecodeLimits::default()) {
        Ok(f) => f,
        Err(e) => panic!("cannot read {}: {e:#}", path.display()),
    };
    let sync = match file.default_sync() {
        Ok(Some(s)) => s.sync_id,
        _ => panic!("no finished sync in {}", path.display()),
    };
    let mut rows = 0;
    let mut grants = 0;
    for table in [
        "v1_resource_types",
        "v1_resources",
        "v1_entitlements",
        "v1_grants",
    ] {
        let n: i64 = file
            .connection()
            .query_row(
                &format!("select count(*) from {table} where sync_id = ?1"),
                [&sync],
                |r| r.get(0),
            )
            .unwrap_or(0);
        rows += n as u64;
        if table == "v1_grants" {
            grants = n as u64;
        }
    }
    (rows, grants)
}

fn run_once(tenant: &Tenant, latency: Duration, options: &Options) -> Row {
    let wrap = &options.wrap;
    let fake = FakeElastic::start(tenant.clone()).expect("fake starts");
    if !latency.is_zero() {
        fake.inject(Fault {
            method: None,
            path_prefix: "/".into(),
            times: usize::MAX,
            skip: 0,
            action: FaultAction::Delay(latency),
        });
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bench.c1z");
    let started = Instant::now();
    let binary = env!("CARGO_BIN_EXE_baton-elastic");
    let mut command = match wrap.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(binary);
            command
        }
        None => Command::new(binary),
    };
    let mut child = command
        .args([
            "--cloud-url",
            &fake.url(),
            "--api-key",
            &tenant.cloud_api_key,
        ])
        .args(["--deployment-endpoint", &fake.url()])
        .args(["--deployment-api-key", &tenant.deployment_api_key])
        .args(["--log-level", &options.log_level, "-f"])
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("binary starts");
    let pid = child.id();
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("wait failed: {e}"),
        }
    };
    let wall = started.elapsed();
    assert!(status.success(), "sync failed: {status}");
    let artifact = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let decoded = decoded_size(&path);
    if let Some(keep) = &options.keep {
        std::fs::copy(&path, keep).expect("artifact copied");
    }
    let (rows, grants) = count_rows(&path);
    Row {
        wall,
        requests: fake.request_count(),
        downloaded: fake.bytes_served(),
        fake_time: fake.serving_time(),
        peak_rss_kib: peak,
        rows,
        artifact,
        decoded,
        grants,
    }
}

/// The content size in the zstd frame header: what the file decodes to.
fn decoded_size(path: &Path) -> u64 {
    let mut head = [0u8; 32];
    let n = std::io::Read::read(
        &mut std::fs::File::open(path).expect("artifact opens"),
        &mut head,
    )
    .expect("artifact reads");
    baton_c1z::reader::parse_frame_header(&head[5..n])
        .and_then(|h| h.content_size)
        .unwrap_or(0)
}

fn main() {
    let options = parse_options();
    println!(
        "latency per request: {} ms; runs per size: {} (the fastest run is shown)",
        options.latency.as_millis(),
        options.runs
    );
    println!(
        "| size | wall s | API requests | downloaded MB | fake serving s | peak RSS MB | rows | rows/s | artifact MB | bytes/grant | decoded MB | decoded bytes/grant |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for size in &options.sizes {
        let Some(tenant) = tenant(size) else {
            eprintln!(
                "unknown size {size}; use demo, small, medium, large, xl, sso-large or sso-xl"
            );
            continue;
        };
        let mut rows: Vec<Row> = (0..options.runs)
            .map(|_| run_once(&tenant, options.latency, &options))
            .collect();
        rows.sort_by_key(|r| r.wall);
        let r = &rows[0];
        let mb = |b: u64| b as f64 / 1e6;
        println!(
            "| {size} | {:.3} | {} | {:.2} | {:.3} | {:.1} | {} | {:.0} | {:.3} | {:.1} | {:.1} | {:.0} |",
            r.wall.as_secs_f64(),
            r.requests,
            mb(r.downloaded),
            r.fake_time.as_secs_f64(),
            r.peak_rss_kib as f64 / 1024.0,
            r.rows,
            r.rows as f64 / r.wall.as_secs_f64(),
            mb(r.artifact),
            r.artifact as f64 / r.grants.max(1) as f64,
            mb(r.decoded),
            r.decoded as f64 / r.grants.max(1) as f64,
        );
    }
}
