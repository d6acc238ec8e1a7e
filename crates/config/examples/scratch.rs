use serde::Deserialize;
use serde_saphyr::Spanned;
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct T { id: Spanned<String>, name: String, n: Option<Vec<Spanned<A>>> }
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct A { page: Option<Spanned<In>>, nudge: Option<Spanned<In>> }
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct In { a: Option<String>, b: Option<String> }
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct F { people: Option<Vec<T>> }
fn main() {
    for y in [
        "people:\n  - id: a\n    x: 1\n",
        "people:\n  - id: a\n    name: b\n    n:\n      - page: { a: x }\n      - nudge:\n          b: y\n",
        "people:\n  - id: a\n\n    name: b\n    n: [ {page: {a: 1}, nudge: {b: 2}} ]\n",
        "people:\n  - id: a\n    name: b\n    n: [ ]\n---\npeople: []\n",
        "people:\n  - id: a\n    name: 'b\n",
        "people:\n\t- id: a\n",
        "people:\n  - id: a\n    name: b\n    n: 3\n",
        "people: [{id: 'a', name: x, n: [{page: null}]}]\n",
    ] {
        let r: Result<Option<F>, _> = serde_saphyr::from_str(y);
        match r {
            Ok(v) => println!("OK {v:?}"),
            Err(e) => {
                use serde_saphyr::MessageFormatter; println!("ERR loc={:?} user={:?}", e.location().map(|l| (l.line(), l.column())), serde_saphyr::UserMessageFormatter.format_message(e.without_snippet()));
            }
        }
    }
}
