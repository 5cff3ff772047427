//! Per-host pacing: at most one request per host per delay.
//!
//! Hand-written rather than governor's keyed limiter because each host gets its own
//! delay (its robots.txt Crawl-delay), which one shared quota cannot express.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// When each host may next be asked for a page.
#[derive(Debug, Default)]
pub struct HostPacer {
    next: HashMap<String, Instant>,
}

impl HostPacer {
    /// Waits until `host` may be asked again, then books the following slot `delay` on.
    pub async fn wait(&mut self, host: &str, delay: Duration) {
        if let Some(&at) = self.next.get(host) {
            tokio::time::sleep_until(at).await;
        }
        self.next.insert(host.to_string(), Instant::now() + delay);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn same_host_waits_other_host_does_not() {
        let mut pacer = HostPacer::default();
        let start = Instant::now();
        pacer.wait("a", Duration::from_secs(2)).await;
        pacer.wait("b", Duration::from_secs(2)).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        pacer.wait("a", Duration::from_secs(2)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }
}
