//! robots.txt rules per host, fetched once per crawl (RFC 9309).

use texting_robots::Robot;

/// What a host's robots.txt allows this crawler.
pub enum Rules {
    /// A parsed robots.txt.
    Parsed(Box<Robot>),
    /// No robots.txt (a 4xx answer): everything is allowed.
    AllowAll,
    /// robots.txt could not be read (a 5xx answer, or none at all): RFC 9309 says to
    /// assume a complete disallow.
    DisallowAll,
}

impl Rules {
    /// Rules from a robots.txt body; unparsable files allow everything.
    pub fn parse(user_agent: &str, body: &[u8]) -> Self {
        match Robot::new(user_agent, body) {
            Ok(robot) => Rules::Parsed(Box::new(robot)),
            Err(error) => {
                tracing::warn!(%error, "unparsable robots.txt; treating it as empty");
                Rules::AllowAll
            }
        }
    }

    pub fn allowed(&self, url: &str) -> bool {
        match self {
            Rules::Parsed(robot) => robot.allowed(url),
            Rules::AllowAll => true,
            Rules::DisallowAll => false,
        }
    }

    /// The Crawl-delay the host asks of this crawler, in seconds.
    pub fn crawl_delay(&self) -> Option<f32> {
        match self {
            Rules::Parsed(robot) => robot.delay,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Rules;

    #[test]
    fn disallowed_paths_and_delay() {
        let rules = Rules::parse(
            "f1ai-scraper",
            b"User-agent: *\nDisallow: /private\nCrawl-delay: 2\n",
        );
        assert!(rules.allowed("http://127.0.0.1/index.html"));
        assert!(!rules.allowed("http://127.0.0.1/private/secret.html"));
        assert_eq!(rules.crawl_delay(), Some(2.0));
        assert!(!Rules::DisallowAll.allowed("http://127.0.0.1/"));
    }
}
