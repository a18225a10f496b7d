//! The scraper against real HTTP targets on loopback: labels, `up`, staleness, bad targets.

use std::time::Duration;

use rollgate::prom::labels::Labels;
use rollgate::prom::scrape::{ScrapeConfig, ScrapeError, Scraper};
use rollgate::prom::store::is_stale;

use super::target::TestTarget;

fn config(urls: &[String], interval_ms: u64, timeout_ms: Option<u64>) -> ScrapeConfig {
    ScrapeConfig::new(
        urls,
        "test",
        Duration::from_millis(interval_ms),
        timeout_ms.map(Duration::from_millis),
    )
    .expect("config")
}

fn last_value(scraper: &Scraper, labels: &Labels) -> f64 {
    let s = scraper
        .store()
        .get(labels)
        .unwrap_or_else(|| panic!("no series {labels}"));
    s.value(s.len() - 1)
}

fn with_target(name: &str, instance: &str, extra: &[(&str, &str)]) -> Labels {
    let mut pairs = vec![("__name__", name), ("job", "test"), ("instance", instance)];
    pairs.extend_from_slice(extra);
    Labels::from_pairs(pairs)
}

#[tokio::test]
async fn a_targets_own_labels_go_on_its_samples_and_on_up() {
    let target = TestTarget::start("b 1.5\n").await;
    let mut scraper = Scraper::new(
        config(std::slice::from_ref(&target.url), 1000, None).with_label(0, "variant", "canary"),
    )
    .expect("scraper");
    let outcome = scraper.scrape_round().await[0].clone();
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let instance = target
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_string();
    let side = [("variant", "canary")];
    assert_eq!(
        last_value(&scraper, &with_target("b", &instance, &side)),
        1.5
    );
    for report in ["up", "scrape_duration_seconds", "scrape_samples_scraped"] {
        scraper
            .store()
            .get(&with_target(report, &instance, &side))
            .unwrap_or_else(|| panic!("no {report} with the target's variant label"));
    }
}

#[tokio::test]
async fn scrapes_label_and_record_up_duration_and_sample_count() {
    let target = TestTarget::start("a_total{job=\"inner\"} 3\nb 1.5\n").await;
    let mut scraper =
        Scraper::new(config(std::slice::from_ref(&target.url), 1000, None)).expect("scraper");
    let outcome = scraper.scrape_round().await[0].clone();
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.samples, 2);
    let instance = target
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_string();
    let a = with_target("a_total", &instance, &[("exported_job", "inner")]);
    assert_eq!(last_value(&scraper, &a), 3.0);
    assert_eq!(
        last_value(&scraper, &with_target("up", &instance, &[])),
        1.0
    );
    assert_eq!(
        last_value(
            &scraper,
            &with_target("scrape_samples_scraped", &instance, &[])
        ),
        2.0
    );
    assert!(
        last_value(
            &scraper,
            &with_target("scrape_duration_seconds", &instance, &[])
        ) > 0.0
    );
}

#[tokio::test]
async fn malformed_lines_are_counted_and_the_rest_stored() {
    let target = TestTarget::start("good 1\nbad{ 2\nalso_good 3\n").await;
    let mut scraper =
        Scraper::new(config(std::slice::from_ref(&target.url), 1000, None)).expect("scraper");
    let outcome = scraper.scrape_round().await[0].clone();
    assert!(outcome.error.is_none());
    assert_eq!(outcome.samples, 2);
    assert_eq!(outcome.line_errors.len(), 1);
    assert_eq!(outcome.line_errors[0].line, 2);
    let instance = target
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_string();
    assert_eq!(
        last_value(
            &scraper,
            &with_target("rollgate_scrape_parse_errors", &instance, &[])
        ),
        1.0
    );
    assert_eq!(
        last_value(&scraper, &with_target("up", &instance, &[])),
        1.0
    );
}

#[tokio::test]
async fn non_200_means_down_and_stale_series() {
    let target = TestTarget::start("x_total 1\n").await;
    let mut scraper =
        Scraper::new(config(std::slice::from_ref(&target.url), 1000, None)).expect("scraper");
    scraper.scrape_round().await;
    target.set(|r| r.status = 503);
    tokio::time::sleep(Duration::from_millis(5)).await; // distinct timestamps
    let outcome = scraper.scrape_round().await[0].clone();
    match &outcome.error {
        Some(ScrapeError::Status { url, status }) => {
            assert_eq!(*status, 503);
            assert_eq!(url, &target.url);
        }
        other => panic!("{other:?}"),
    }
    let instance = target
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_string();
    assert_eq!(
        last_value(&scraper, &with_target("up", &instance, &[])),
        0.0
    );
    assert!(is_stale(last_value(
        &scraper,
        &with_target("x_total", &instance, &[])
    )));
}

#[tokio::test]
async fn unreachable_target_is_named() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/metrics", listener.local_addr().expect("addr"));
    drop(listener);
    let mut scraper =
        Scraper::new(config(std::slice::from_ref(&url), 1000, None)).expect("scraper");
    let outcome = scraper.scrape_round().await[0].clone();
    let err = outcome.error.expect("error");
    assert!(matches!(err, ScrapeError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains(&url), "{err}");
}

#[tokio::test]
async fn slow_target_times_out() {
    let target = TestTarget::start("x 1\n").await;
    target.set(|r| r.delay = Duration::from_secs(3));
    let mut scraper =
        Scraper::new(config(std::slice::from_ref(&target.url), 1000, Some(300))).expect("scraper");
    let outcome = scraper.scrape_round().await[0].clone();
    assert!(
        matches!(outcome.error, Some(ScrapeError::Timeout { .. })),
        "{:?}",
        outcome.error
    );
}

#[tokio::test]
async fn bad_configurations_are_refused() {
    let url = vec!["http://127.0.0.1:9/metrics".to_string()];
    let err =
        ScrapeConfig::new(&url, "j", Duration::from_millis(100), None).expect_err("too short");
    assert!(err.to_string().contains("minimum"), "{err}");
    let err = ScrapeConfig::new(
        &["ftp://x/metrics".to_string()],
        "j",
        Duration::from_secs(1),
        None,
    )
    .expect_err("scheme");
    assert!(err.to_string().contains("ftp://x/metrics"), "{err}");
    let err = ScrapeConfig::new(
        &url,
        "j",
        Duration::from_secs(1),
        Some(Duration::from_secs(2)),
    )
    .expect_err("timeout");
    assert!(
        err.to_string().contains("not longer than the interval"),
        "{err}"
    );
    let ok = ScrapeConfig::new(&url, "j", Duration::from_secs(15), None).expect("defaults");
    assert_eq!(ok.interval(), Duration::from_secs(15));
}

#[tokio::test]
async fn run_for_scrapes_repeatedly_at_short_intervals() {
    let target = TestTarget::start("x 1\n").await;
    let mut scraper =
        Scraper::new(config(std::slice::from_ref(&target.url), 250, None)).expect("scraper");
    scraper.run_for(Duration::from_millis(900)).await;
    let rounds = scraper.log().len();
    assert!((1..=4).contains(&rounds), "{rounds}");
    let times: Vec<i64> = scraper.log().iter().map(|o| o.timestamp_ms).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]));
}

#[tokio::test]
async fn several_targets_are_scraped_in_one_round_with_their_own_instance() {
    let a = TestTarget::start("x_total 1\n").await;
    let b = TestTarget::start("x_total 2\n").await;
    let urls = vec![a.url.clone(), b.url.clone()];
    let mut scraper = Scraper::new(config(&urls, 1000, None)).expect("scraper");
    let outcomes = scraper.scrape_round().await.to_vec();
    assert_eq!(outcomes.len(), 2);
    for (target, value) in [(&a, 1.0), (&b, 2.0)] {
        let instance = target
            .url
            .trim_start_matches("http://")
            .trim_end_matches("/metrics")
            .to_string();
        assert_eq!(
            last_value(&scraper, &with_target("x_total", &instance, &[])),
            value
        );
        assert_eq!(
            last_value(&scraper, &with_target("up", &instance, &[])),
            1.0
        );
    }
}
