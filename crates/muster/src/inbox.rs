//! `muster inbox`: notifications no configured provider could carry, newest first.

use clap::Args;
use reqwest::Method;
use serde_json::Value;

use crate::client::{Api, Connection, s, urlencode};
use crate::table;

#[derive(Args, Debug)]
pub struct InboxArgs {
    /// Only entries for this person id.
    #[arg(long)]
    pub person: Option<String>,
    /// Only entries of this incident, e.g. INC-42.
    #[arg(long)]
    pub incident: Option<String>,
    /// At most this many (default 100, max 1000).
    #[arg(long)]
    pub limit: Option<u32>,
}

fn path(args: &InboxArgs) -> String {
    let mut query: Vec<String> = Vec::new();
    if let Some(v) = &args.person {
        query.push(format!("person={}", urlencode(v)));
    }
    if let Some(v) = &args.incident {
        query.push(format!("incident={}", urlencode(v)));
    }
    if let Some(v) = args.limit {
        query.push(format!("limit={v}"));
    }
    if query.is_empty() {
        "/api/v1/inbox".into()
    } else {
        format!("/api/v1/inbox?{}", query.join("&"))
    }
}

fn rows(list: &[Value]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|e| {
            vec![
                s(e, "created_at"),
                s(e, "recipient"),
                s(e, "incident"),
                s(e, "subject"),
                s(e, "reason"),
            ]
        })
        .collect();
    table::render(
        &["TIME", "RECIPIENT", "INCIDENT", "SUBJECT", "REASON"],
        &rows,
    )
}

pub async fn run(conn: Connection, args: InboxArgs) -> anyhow::Result<()> {
    let api = Api::new(&conn)?;
    let result = api.call(Method::GET, &path(&args), None).await?;
    if conn.json {
        println!("{result}");
    } else {
        print!("{}", rows(result.as_array().map_or(&[], |v| v)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_an_encoded_query() {
        let none = InboxArgs {
            person: None,
            incident: None,
            limit: None,
        };
        assert_eq!(path(&none), "/api/v1/inbox");
        let all = InboxArgs {
            person: Some("ann marie".into()),
            incident: Some("INC-7".into()),
            limit: Some(5),
        };
        assert_eq!(
            path(&all),
            "/api/v1/inbox?person=ann%20marie&incident=INC-7&limit=5"
        );
    }
}
