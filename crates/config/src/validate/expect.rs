//! A deadline's `expect` and `of`: a milestone, a role held, or an acknowledgement by an
//! audience (alias, schedule or person), counted from when that audience was first notified.
//!
//! ```yaml
//! deadline: { within: 1h, expect: { acknowledged_by: { alias: legal } } }   # of: notified
//! deadline: { within: 10m, of: declared, expect: { role: comms_lead } }
//! ```

use serde_saphyr::Spanned;

use super::{Kind, V, loc};
use crate::model::{Audience, Expect, NOTIFIED};
use crate::raw;

impl V<'_> {
    /// The expectation and the milestone its clock starts from (`notified` for an
    /// acknowledgement, which counts from the audience's first notification).
    pub(super) fn deadline_expect(
        &mut self,
        f: usize,
        d: &Spanned<raw::Deadline>,
    ) -> (String, Expect) {
        let v = &d.value;
        let expect = self.deadline_expectation(f, &v.expect);
        if let Expect::AcknowledgedBy(_) = expect {
            if let Some(of) = v.of.as_ref().filter(|of| of.value != NOTIFIED) {
                self.d.error(
                    loc(f, of),
                    format!(
                        "a deadline expecting an acknowledgement counts from when its audience \
                         was first notified: leave `of` out or write `of: {NOTIFIED}` (found `{}`)",
                        of.value
                    ),
                );
            }
            return (NOTIFIED.to_string(), expect);
        }
        let Some(of_s) = &v.of else {
            self.d.error(
                loc(f, d),
                "deadline needs `of`, the milestone its clock starts from",
            );
            return (String::new(), expect);
        };
        let of = self.reference(Kind::Milestone, f, of_s);
        if expect.milestone() == Some(of.as_str()) {
            self.d.error(
                loc(f, &v.expect),
                format!("deadline expects the milestone it starts from (`{of}`)"),
            );
        }
        (of, expect)
    }

    fn deadline_expectation(&mut self, f: usize, e: &Spanned<raw::Expect>) -> Expect {
        let m = match &e.value {
            raw::Expect::Milestone(id) => {
                let s = Spanned {
                    value: id.clone(),
                    referenced: e.referenced,
                    defined: e.defined,
                };
                return Expect::Milestone(self.reference(Kind::Milestone, f, &s));
            }
            raw::Expect::Typed(m) => m,
        };
        self.exactly_one(
            loc(f, e),
            "expect",
            &[
                ("milestone", m.milestone.is_some()),
                ("role", m.role.is_some()),
                ("acknowledged_by", m.acknowledged_by.is_some()),
            ],
        );
        if let Some(a) = &m.acknowledged_by {
            return Expect::AcknowledgedBy(self.audience(f, a));
        }
        if let Some(r) = &m.role {
            return Expect::Role(self.reference(Kind::Role, f, r));
        }
        match &m.milestone {
            Some(s) => Expect::Milestone(self.reference(Kind::Milestone, f, s)),
            None => Expect::Milestone(String::new()),
        }
    }

    fn audience(&mut self, f: usize, a: &Spanned<raw::Audience>) -> Audience {
        let v = &a.value;
        self.exactly_one(
            loc(f, a),
            "acknowledged_by",
            &[
                ("alias", v.alias.is_some()),
                ("schedule", v.schedule.is_some()),
                ("person", v.person.is_some()),
            ],
        );
        if let Some(s) = &v.alias {
            return Audience::Alias(self.reference(Kind::Alias, f, s));
        }
        if let Some(s) = &v.schedule {
            return Audience::Schedule(self.reference(Kind::Schedule, f, s));
        }
        match &v.person {
            Some(s) => Audience::Person(self.reference(Kind::Person, f, s)),
            None => Audience::Alias(String::new()),
        }
    }
}
