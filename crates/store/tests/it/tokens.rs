//! API tokens: created once, stored as a hash, authenticated, listed, revoked.

use muster_core::{Access, DomainError, Scope};
use muster_store::{StoreError, TokenOwner};
use sha2::{Digest, Sha256};

use crate::harness::{at, t0};

backend_tests! {
    async fn tokens_authenticate_their_owner_and_only_the_hash_is_stored(db) {
        let store = &db.store;
        let admin = store.create_token("first-admin", Access::Admin, t0()).await.unwrap();
        let viewer = store.create_token("grafana", Access::Viewer, t0()).await.unwrap();
        assert!(admin.starts_with("mus_"), "{admin}");
        assert_eq!(admin.len(), 4 + 64);
        assert!(admin[4..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(admin, viewer);

        assert_eq!(
            store.authenticate(&admin, t0()).await.unwrap(),
            Some(TokenOwner { name: "first-admin".into(), access: Access::Admin, scope: Scope::All })
        );
        assert_eq!(
            store.authenticate(&viewer, t0()).await.unwrap(),
            Some(TokenOwner { name: "grafana".into(), access: Access::Viewer, scope: Scope::All })
        );
        // Wrong tokens: one character off, truncated, no prefix, empty, the hash itself.
        let mut off = admin.clone().into_bytes();
        let last = off.len() - 1;
        off[last] = if off[last] == b'0' { b'1' } else { b'0' };
        let off = String::from_utf8(off).unwrap();
        let hash = hex::encode(Sha256::digest(admin.as_bytes()));
        for wrong in [off.as_str(), &admin[..admin.len() - 1], &admin[4..], "", "mus_", hash.as_str()] {
            assert_eq!(store.authenticate(wrong, t0()).await.unwrap(), None, "{wrong:?} authenticated");
        }

        // The table holds SHA-256(secret) and never the secret.
        let rows = db
            .raw_rows("SELECT name, access, token_hash FROM api_tokens ORDER BY name")
            .await;
        let stored_hash = rows
            .iter()
            .find(|r| r[0].as_deref() == Some("first-admin"))
            .and_then(|r| r[2].clone())
            .expect("first-admin row");
        assert_eq!(stored_hash, hash);
        assert_eq!(rows[0][1].as_deref(), Some("admin"));
        let secret_hex = &admin[4..];
        for row in &rows {
            for value in row.iter().flatten() {
                assert!(!value.contains(secret_hex), "the secret is stored: {value}");
            }
        }
    }

    async fn revoked_tokens_no_longer_authenticate(db) {
        let store = &db.store;
        let token = store.create_token("ci-bot", Access::Responder, t0()).await.unwrap();
        let other = store.create_token("pager", Access::Responder, t0()).await.unwrap();
        assert!(store.revoke_token("ci-bot", at(60)).await.unwrap());
        assert_eq!(store.authenticate(&token, t0()).await.unwrap(), None);
        assert!(store.authenticate(&other, t0()).await.unwrap().is_some(), "revoke hit another token");
        assert!(!store.revoke_token("ci-bot", at(61)).await.unwrap(), "revoked twice");
        assert!(!store.revoke_token("nobody", at(61)).await.unwrap());
        assert_eq!(
            db.raw_i64("SELECT COUNT(*) FROM api_tokens WHERE revoked_at IS NOT NULL").await,
            1
        );
        // The name is free again; the old secret stays dead.
        let again = store.create_token("ci-bot", Access::Viewer, at(120)).await.unwrap();
        assert_eq!(store.authenticate(&token, t0()).await.unwrap(), None);
        assert_eq!(
            store.authenticate(&again, t0()).await.unwrap(),
            Some(TokenOwner { name: "ci-bot".into(), access: Access::Viewer, scope: Scope::All })
        );
    }

    async fn token_names_are_unique_among_live_tokens_and_validated(db) {
        let store = &db.store;
        let token = store.create_token("ops", Access::Admin, t0()).await.unwrap();
        let err = store.create_token("ops", Access::Viewer, t0()).await.unwrap_err();
        assert!(matches!(err, StoreError::Domain(DomainError::Conflict(_))), "{err:?}");
        // The refused token did not replace or weaken the first one.
        assert_eq!(store.authenticate(&token, t0()).await.unwrap().map(|o| o.access), Some(Access::Admin));
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM api_tokens").await, 1);
        for bad in ["", "   ", "tab\there", &"x".repeat(101)] {
            let err = store.create_token(bad, Access::Viewer, t0()).await.unwrap_err();
            assert!(
                matches!(err, StoreError::Domain(DomainError::Invalid { ref field, .. }) if field == "name"),
                "{bad:?}: {err:?}"
            );
        }
        // Names are trimmed.
        let trimmed = store.create_token("  spaced  ", Access::Viewer, t0()).await.unwrap();
        assert_eq!(store.authenticate(&trimmed, t0()).await.unwrap().map(|o| o.name), Some("spaced".into()));
    }

    async fn tokens_are_listed_without_secrets(db) {
        let store = &db.store;
        assert!(store.list_tokens().await.unwrap().is_empty());
        store.create_token("zeta", Access::Viewer, t0()).await.unwrap();
        store.create_token("alpha", Access::Admin, at(5)).await.unwrap();
        store.create_token("gone", Access::Responder, at(6)).await.unwrap();
        store.revoke_token("gone", at(7)).await.unwrap();
        let listed = store.list_tokens().await.unwrap();
        let summary: Vec<(String, Access, muster_core::Timestamp)> =
            listed.into_iter().map(|t| (t.name, t.access, t.created_at)).collect();
        assert_eq!(
            summary,
            vec![("alpha".into(), Access::Admin, at(5)), ("zeta".into(), Access::Viewer, t0())]
        );
    }

    async fn tokens_expire_at_their_time_and_are_listed_with_it(db) {
        let store = &db.store;
        let token = store
            .create_token_expiring("temp", Access::Responder, t0(), Some(at(3600)))
            .await
            .unwrap();
        let feed = store.create_token("calendar", Access::Feed, t0()).await.unwrap();
        let owner = |name: &str, access| Some(TokenOwner { name: name.into(), access, scope: Scope::All });
        assert_eq!(store.authenticate(&token, t0()).await.unwrap(), owner("temp", Access::Responder));
        assert_eq!(store.authenticate(&token, at(3599)).await.unwrap(), owner("temp", Access::Responder));
        assert_eq!(store.authenticate(&token, at(3600)).await.unwrap(), None, "expired at its time");
        assert_eq!(store.authenticate(&token, at(90_000)).await.unwrap(), None);
        assert_eq!(store.authenticate(&feed, at(90_000)).await.unwrap(), owner("calendar", Access::Feed));
        let listed: Vec<(String, Access, Option<muster_core::Timestamp>)> = store
            .list_tokens()
            .await
            .unwrap()
            .into_iter()
            .map(|t| (t.name, t.access, t.expires_at))
            .collect();
        assert_eq!(
            listed,
            vec![
                ("calendar".into(), Access::Feed, None),
                ("temp".into(), Access::Responder, Some(at(3600))),
            ]
        );
        // An expiry that is not in the future is refused, and stores nothing.
        let err = store
            .create_token_expiring("late", Access::Viewer, at(10), Some(at(10)))
            .await
            .unwrap_err();
        match err {
            StoreError::Domain(DomainError::Invalid { field, reason }) => {
                assert_eq!((field.as_str(), reason.as_str()), ("expires_at", "must be in the future"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(store.list_tokens().await.unwrap().len(), 2);
    }

    async fn a_token_limited_to_teams_keeps_its_teams(db) {
        let store = &db.store;
        let scope = Scope::teams(["payments", "identity"]);
        let token = store
            .create_scoped_token("payments-bot", Access::Responder, t0(), None, &scope)
            .await
            .unwrap();
        let owner = store.authenticate(&token, t0()).await.unwrap().expect("owner");
        assert_eq!(owner.scope, scope);
        assert_eq!(owner.scope.to_string(), "teams identity, payments");
        let listed = store.list_tokens().await.unwrap();
        assert_eq!(listed[0].scope, scope);
        // A team id with the column's separator is refused, and nothing is stored.
        let err = store
            .create_scoped_token("odd", Access::Viewer, t0(), None, &Scope::teams(["a,b"]))
            .await
            .unwrap_err();
        match err {
            StoreError::Domain(DomainError::Invalid { field, reason }) => {
                assert_eq!((field.as_str(), reason.as_str()), ("teams", "`a,b` is not a team id"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(store.list_tokens().await.unwrap().len(), 1);
    }
}
