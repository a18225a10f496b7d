//! The supervisor over the WebSocket in write_only mode (the checklist's phase 1): sticky
//! follow-up, cross-agent switch, explicit handoff.

use std::time::Duration;

use rollgate::assistant::mode::Mode;
use serde_json::json;

use super::support::{config, start, turn, Ws};
use super::zep;

#[tokio::test]
async fn sticky_follow_up_cross_agent_switch_and_handoff() {
    let fake = zep::start().await;
    let assistant = start(config(&fake.url(), Mode::WriteOnly)).await;
    let mut ws = Ws::connect(&assistant).await;

    let (tokens, listings) = ws.turn(&turn("t1", "2BR in Girne", "m1")).await;
    assert!(tokens.concat().contains("listings in Girne"), "{tokens:?}");
    assert_eq!(listings["agent"], "real_estate");
    assert_eq!(listings["routing"]["reason"], "classified");
    assert_eq!(listings["routing"]["awaiting_clarification"], true);

    let (tokens, follow) = ws.turn(&turn("t1", "show me", "m2")).await;
    assert_eq!(follow["agent"], "real_estate", "no router flip");
    assert_eq!(follow["routing"]["reason"], "sticky_followup");
    assert_eq!(follow["routing"]["awaiting_clarification"], true);
    assert!(
        tokens
            .concat()
            .contains("details of the first 2-bedroom listing in Girne"),
        "{tokens:?}"
    );

    let (tokens, switched) = ws.turn(&turn("t1", "nearest pharmacy", "m3")).await;
    assert_eq!(switched["agent"], "local_info");
    assert_eq!(switched["routing"]["reason"], "classified");
    assert_eq!(
        switched["memory"],
        json!({ "used": true, "mode": "write_only", "source": "zep" })
    );
    assert!(
        tokens
            .concat()
            .contains("nearest pharmacy to the centre of Girne"),
        "{tokens:?}"
    );

    ws.turn(&turn("t1", "2BR in Girne", "m4")).await;
    let (_, handed) = ws
        .turn(&turn("t1", "what's the neighbourhood like?", "m5"))
        .await;
    assert_eq!(handed["agent"], "local_info");
    assert_eq!(handed["routing"]["reason"], "handoff");
    assert_eq!(handed["routing"]["handoff_from"], "real_estate");

    assert_eq!(
        zep::wait_stored(&fake, "t1", 10).await,
        10,
        "every turn written"
    );
    assistant.shutdown(Duration::from_secs(2)).await;
    fake.shutdown().await;
}
