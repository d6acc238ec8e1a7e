//! Retention: settled bookkeeping older than the cutoff is pruned in batches; what is live,
//! recent, the timeline and the audit log are kept.

use muster_core::Severity;
use muster_store::Pruned;

use crate::harness::{at, declare, t0};

// Epoch milliseconds: a day before t0 (2026-03-29T03:12Z), and a minute after.
const OLD: &str = "1774667520000";
const NEW: &str = "1774753980000";

backend_tests! {
    async fn prune_removes_settled_rows_older_than_the_cutoff_in_batches(db) {
        let store = &db.store;
        let (incident, _) = declare(store, "kept whole", Severity::Sev2, &[]).await;
        store
            .create_silence("checkout", t0(), at(3600), "audited", "ops", t0())
            .await
            .unwrap();
        store.create_token("browser", muster_core::Access::Viewer, t0()).await.unwrap();
        let stmts: [String; 5] = [
            format!(
                "INSERT INTO outbox (idempotency_key, effect, payload, state, created_at, updated_at, next_attempt_at, delivered_at) VALUES \
                 ('o1','notify','{{}}','delivered',{OLD},{OLD},{OLD},{OLD}), ('o2','notify','{{}}','delivered',{OLD},{OLD},{OLD},{OLD}), \
                 ('o3','notify','{{}}','delivered',{OLD},{OLD},{OLD},{OLD}), ('o4','notify','{{}}','delivered',{OLD},{OLD},{OLD},{OLD}), \
                 ('o5','notify','{{}}','delivered',{OLD},{OLD},{OLD},{OLD}), ('o6','notify','{{}}','delivered',{OLD},{OLD},{OLD},{OLD}), \
                 ('o7','notify','{{}}','delivered',{OLD},{OLD},{OLD},{OLD}), ('o-new','notify','{{}}','delivered',{NEW},{NEW},{NEW},{NEW}), \
                 ('o-queued','notify','{{}}','queued',{OLD},{OLD},{OLD},NULL), ('o-dead','notify','{{}}','dead',{OLD},{OLD},{OLD},NULL)"
            ),
            format!(
                "INSERT INTO timers (key, due_at, payload, state, created_at, fired_at, cancelled_at) VALUES \
                 ('f1',{OLD},'{{}}','fired',{OLD},{OLD},NULL), ('f2',{OLD},'{{}}','fired',{OLD},{OLD},NULL), \
                 ('f3',{OLD},'{{}}','fired',{OLD},{OLD},NULL), ('f4',{OLD},'{{}}','fired',{OLD},{OLD},NULL), \
                 ('c1',{OLD},'{{}}','cancelled',{OLD},NULL,{OLD}), ('c2',{OLD},'{{}}','cancelled',{OLD},NULL,{OLD}), \
                 ('c3',{OLD},'{{}}','cancelled',{OLD},NULL,{OLD}), ('f-new',{NEW},'{{}}','fired',{OLD},{NEW},NULL), \
                 ('pending',{OLD},'{{}}','pending',{OLD},NULL,NULL)"
            ),
            format!(
                "INSERT INTO alerts (integration, dedup_key, group_key, status, service, severity, summary, labels, annotations, payload, count, first_seen, last_seen, resolved_at) VALUES \
                 ('am','a1','g','resolved','checkout','SEV2','s','{{}}','{{}}','{{\"big\":1}}',1,{OLD},{OLD},{OLD}), \
                 ('am','a2','g','resolved','checkout','SEV2','s','{{}}','{{}}','{{\"big\":2}}',1,{OLD},{OLD},{OLD}), \
                 ('am','a-new','g','resolved','checkout','SEV2','s','{{}}','{{}}','{{\"big\":3}}',1,{OLD},{OLD},{NEW}), \
                 ('am','a-open','g','firing','checkout','SEV2','s','{{}}','{{}}','{{\"big\":4}}',1,{OLD},{OLD},NULL)"
            ),
            format!("INSERT INTO slack_seen (key, seen_at) VALUES ('s1',{OLD}), ('s2',{OLD}), ('s3',{OLD}), ('s-new',{NEW})"),
            format!(
                "INSERT INTO web_sessions (id_hash, token_id, csrf, created_at, last_seen_at) \
                 SELECT 'w1', id, 'c', {OLD}, {OLD} FROM api_tokens WHERE name = 'browser' \
                 UNION ALL SELECT 'w-new', id, 'c', {OLD}, {NEW} FROM api_tokens WHERE name = 'browser'"
            ),
        ];
        for sql in stmts {
            // The raw connection takes static SQL; a few bytes leaked per test.
            db.raw_execute(Box::leak(sql.into_boxed_str())).await.unwrap();
        }
        let timeline = db.raw_i64("SELECT COUNT(*) FROM timeline").await;
        let audit = db.raw_i64("SELECT COUNT(*) FROM audit_log").await;
        assert!(timeline >= 1 && audit >= 1);

        let pruned = store.prune(t0(), 3).await.unwrap();
        assert_eq!(pruned, Pruned { outbox: 7, timers: 7, alert_payloads: 2, slack_seen: 3, web_sessions: 1 });
        let keys = db.raw_rows("SELECT idempotency_key FROM outbox WHERE idempotency_key LIKE 'o%' ORDER BY idempotency_key").await;
        let keys: Vec<&str> = keys.iter().map(|r| r[0].as_deref().unwrap()).collect();
        assert_eq!(keys, ["o-dead", "o-new", "o-queued"], "dead letters and undelivered items stay");
        let keys = db.raw_rows("SELECT key FROM timers WHERE key IN ('f1','f2','f3','f4','c1','c2','c3','f-new','pending') ORDER BY key").await;
        let keys: Vec<&str> = keys.iter().map(|r| r[0].as_deref().unwrap()).collect();
        assert_eq!(keys, ["f-new", "pending"]);
        let payloads = db.raw_rows("SELECT dedup_key, payload FROM alerts ORDER BY dedup_key").await;
        let payloads: Vec<(&str, &str)> = payloads
            .iter()
            .map(|r| (r[0].as_deref().unwrap(), r[1].as_deref().unwrap()))
            .collect();
        assert_eq!(
            payloads,
            [("a-new", "{\"big\":3}"), ("a-open", "{\"big\":4}"), ("a1", "{}"), ("a2", "{}")],
            "the alert rows stay; old resolved ones lose their payload"
        );
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM slack_seen").await, 1);
        let sessions = db.raw_rows("SELECT id_hash FROM web_sessions").await;
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0][0].as_deref(), Some("w-new"), "a session used recently stays");
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM timeline").await, timeline, "timeline never pruned");
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM audit_log").await, audit, "audit never pruned");
        assert!(store.incident(incident.id).await.unwrap().is_some());
        // Nothing left to do: a second run prunes nothing.
        assert_eq!(store.prune(t0(), 3).await.unwrap(), Pruned::default());
        let rows = store.retained_rows().await.unwrap();
        assert_eq!((rows.alert_payloads, rows.slack_seen), (1, 1), "{rows:?}");
        assert_eq!(rows.web_sessions, 1, "{rows:?}");
    }
}
