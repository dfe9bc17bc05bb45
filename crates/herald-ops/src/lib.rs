//! What every Herald process serves for operators: `/healthz` (the process
//! runs), `/readyz` (its database and broker answer) and `/metrics`
//! (Prometheus text format).
//!
//! The metrics registry is a few counters and gauges kept here rather than a
//! metrics framework: Herald exports a dozen series, and the text format is
//! simple enough to write directly.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, dev::ServerHandle, web};
use futures_util::future::BoxFuture;

type Series = BTreeMap<(&'static str, String), f64>;

/// Counters and gauges, each with optional labels.
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<Series>,
    gauges: Mutex<Series>,
    help: Mutex<BTreeMap<&'static str, &'static str>>,
}

fn labels(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{{{}}}", inner.join(","))
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn describe(&self, name: &'static str, help: &'static str) {
        self.help
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name, help);
    }

    pub fn add(&self, name: &'static str, pairs: &[(&str, &str)], by: u64) {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        *counters.entry((name, labels(pairs))).or_default() += by as f64;
    }

    pub fn set(&self, name: &'static str, pairs: &[(&str, &str)], value: f64) {
        self.gauges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((name, labels(pairs)), value);
    }

    pub fn counter(&self, name: &'static str, pairs: &[(&str, &str)]) -> f64 {
        let counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        counters.get(&(name, labels(pairs))).copied().unwrap_or(0.0)
    }

    pub fn render(&self) -> String {
        let help = self.help.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut out = String::new();
        for (kind, series) in [("counter", &self.counters), ("gauge", &self.gauges)] {
            let series = series.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let mut last = "";
            for ((name, labels), value) in &series {
                if *name != last {
                    if let Some(text) = help.get(name) {
                        let _ = writeln!(out, "# HELP {name} {text}");
                    }
                    let _ = writeln!(out, "# TYPE {name} {kind}");
                    last = name;
                }
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        }
        out
    }
}

/// Checks a process runs before it says it is ready.
pub type ReadinessCheck = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

pub struct OpsServer {
    pub address: SocketAddr,
    handle: ServerHandle,
}

impl OpsServer {
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// Serves the three endpoints on `listen` (port 0 picks one).
pub fn serve(
    listen: SocketAddr,
    metrics: Arc<Metrics>,
    ready: ReadinessCheck,
) -> std::io::Result<OpsServer> {
    let metrics = web::Data::from(metrics);
    let ready = web::Data::new(ready);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(tracing_actix_web::TracingLogger::default())
            .app_data(metrics.clone())
            .app_data(ready.clone())
            .route(
                "/healthz",
                web::get().to(|| async { HttpResponse::Ok().body("ok\n") }),
            )
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(render))
    })
    .workers(1)
    .disable_signals()
    .bind(listen)?;
    let address = server.addrs().first().copied().unwrap_or(listen);
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(OpsServer { address, handle })
}

async fn readyz(ready: web::Data<ReadinessCheck>) -> HttpResponse {
    match (ready.get_ref())().await {
        Ok(()) => HttpResponse::Ok().body("ready\n"),
        Err(problem) => HttpResponse::ServiceUnavailable().body(format!("not ready: {problem}\n")),
    }
}

async fn render(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let metrics = Metrics::new();
        metrics.describe("herald_sends_total", "Sends by outcome.");
        metrics.add("herald_sends_total", &[("outcome", "delivered")], 3);
        metrics.add("herald_sends_total", &[("outcome", "delivered")], 2);
        metrics.set("herald_send_rate", &[], 48.5);
        let text = metrics.render();
        assert!(text.contains("# HELP herald_sends_total Sends by outcome.\n# TYPE herald_sends_total counter\nherald_sends_total{outcome=\"delivered\"} 5\n"), "{text}");
        assert!(
            text.contains("# TYPE herald_send_rate gauge\nherald_send_rate 48.5\n"),
            "{text}"
        );
    }
}
