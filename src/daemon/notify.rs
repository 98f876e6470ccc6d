//! POSTs each transition as JSON to the configured webhook: a bounded queue (a dead receiver
//! must not grow the daemon's memory), one sender, retries with doubling backoff.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use super::history::Transition;
use crate::config::TransitionWebhook;

/// The transition webhook's sender: a bounded queue (`daemon.webhook.max_queue`, default 1000)
/// drained by one task that POSTs each transition as JSON, retrying with doubling backoff from 1 s.
pub struct Notifier {
    tx: tokio::sync::mpsc::Sender<serde_json::Value>,
    queued: Arc<AtomicUsize>,
    /// The last transition was delivered (or none failed yet).
    ok: Arc<AtomicBool>,
}

impl Notifier {
    /// Starts the sender task (needs a running Tokio runtime).
    pub fn start(cfg: TransitionWebhook) -> Notifier {
        let cap = cfg.max_queue.unwrap_or(1000).max(1);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<serde_json::Value>(cap);
        let queued = Arc::new(AtomicUsize::new(0));
        let ok = Arc::new(AtomicBool::new(true));
        let (q, d) = (queued.clone(), ok.clone());
        let timeout = Duration::from_secs_f64(cfg.timeout_seconds.unwrap_or(5.0).max(0.1));
        let attempts = cfg.max_attempts.unwrap_or(5).max(1);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("wa-preflight/", env!("CARGO_PKG_VERSION")))
            .build();
        tokio::spawn(async move {
            let client = match client {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!("transition webhook disabled: {e}");
                    return;
                }
            };
            while let Some(body) = rx.recv().await {
                q.fetch_sub(1, Ordering::Relaxed);
                let mut backoff = Duration::from_secs(1);
                let mut sent = false;
                for attempt in 1..=attempts {
                    match client.post(&cfg.url).json(&body).send().await {
                        Ok(r) if r.status().is_success() => {
                            sent = true;
                            break;
                        }
                        Ok(r) => tracing::warn!(
                            "transition webhook answered {} (attempt {attempt}/{attempts})",
                            r.status()
                        ),
                        Err(e) => tracing::warn!(
                            "transition webhook failed (attempt {attempt}/{attempts}): {e}"
                        ),
                    }
                    if attempt < attempts {
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(60));
                    }
                }
                d.store(sent, Ordering::Relaxed);
                if !sent {
                    tracing::error!("transition webhook: gave up after {attempts} attempts");
                }
            }
        });
        Notifier { tx, queued, ok }
    }

    /// Queues a transition; when the queue is full it is dropped (logged, and `ok` goes false).
    pub fn send(&self, t: &Transition) {
        let body = serde_json::json!({
            "source": "wa-preflight",
            "host": crate::facts::kernel::hostname().ok(),
            "transition": t,
        });
        match self.tx.try_send(body) {
            Ok(()) => {
                self.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.ok.store(false, Ordering::Relaxed);
                tracing::warn!("transition webhook queue full: {} dropped", t.rule);
            }
        }
    }

    /// Transitions waiting to be POSTed (`wa_preflight_webhook_queue_length`).
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// False when the last transition could not be delivered: every attempt failed, or the queue
    /// was full (`wa_preflight_webhook_ok`).
    pub fn ok(&self) -> bool {
        self.ok.load(Ordering::Relaxed)
    }
}
