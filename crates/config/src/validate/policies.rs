//! Policies and playbooks: when a policy applies, its trigger (deadline, on-event, cadence,
//! solo responder), its recipients and actions, and a playbook's match, notifications and
//! checklist, checked against the rest of the configuration.

use serde_saphyr::Spanned;

use super::*;

impl V<'_> {
    pub(super) fn conditions(&mut self, f: usize, c: &raw::Conditions) -> Conditions {
        let severity = c
            .severity
            .iter()
            .flatten()
            .filter_map(|s| self.parse::<Severity>(f, s))
            .collect();
        let services = self.references(Kind::Service, f, c.services.as_deref().unwrap_or(&[]));
        let status = c
            .status
            .iter()
            .flatten()
            .filter_map(|s| self.status(f, s))
            .collect();
        Conditions {
            severity,
            services,
            status,
            incident_type: c.incident_type.0.clone(),
            labels: c.labels.clone(),
        }
    }

    pub(super) fn status(&mut self, f: usize, s: &S) -> Option<Status> {
        self.word(
            f,
            s,
            "status",
            &[
                ("triage", Status::Triage),
                ("investigating", Status::Investigating),
                ("identified", Status::Identified),
                ("mitigated", Status::Mitigated),
                ("resolved", Status::Resolved),
            ],
        )
    }

    pub(super) fn policy(&mut self, f: usize, x: raw::Policy) -> Policy {
        let id_loc = loc(f, &x.id);
        let when = self.conditions(f, &x.when);
        let given: Vec<(&str, Loc)> = [
            ("deadline", x.deadline.as_ref().map(|t| loc(f, t))),
            ("on_event", x.on_event.as_ref().map(|t| loc(f, t))),
            ("cadence", x.cadence.as_ref().map(|t| loc(f, t))),
            (
                "solo_responder",
                x.solo_responder.as_ref().map(|t| loc(f, t)),
            ),
        ]
        .into_iter()
        .filter_map(|(n, l)| l.map(|l| (n, l)))
        .collect();
        match given.as_slice() {
            [] => self.d.error(
                id_loc,
                format!(
                    "policy `{}` has no trigger (expected one of `deadline`, `on_event`, `cadence` or `solo_responder`)",
                    x.id.value
                ),
            ),
            [_] => {}
            [(first, _), (second, l), ..] => self.d.error(
                *l,
                format!(
                    "policy `{}` has several triggers (`{first}` and `{second}`); give exactly one, or split it into two policies",
                    x.id.value
                ),
            ),
        }

        let mut trigger = Trigger::SoloResponder {
            for_: Duration::ZERO,
        };
        if let Some(s) = &x.solo_responder {
            trigger = Trigger::SoloResponder {
                for_: self.positive_duration(f, &s.value.for_, "solo_responder.for"),
            };
        }
        if let Some(c) = &x.cadence {
            trigger = self.cadence(f, c);
        }
        if let Some(e) = &x.on_event {
            trigger = self.on_event(f, e);
        }
        let is_deadline = x.deadline.is_some();
        if let Some(d) = &x.deadline {
            trigger = self.deadline(
                f,
                d,
                x.on_warn.as_ref().is_some_and(|w| !w.value.is_empty()),
                &x.on_warn,
            );
        }

        let on_warn = self.actions(f, x.on_warn.as_ref());
        let on_missed = self.actions(f, x.on_missed.as_ref());
        let actions = self.actions(f, x.actions.as_ref());
        if !given.is_empty() {
            if is_deadline {
                if let Some(a) = x.actions.as_ref().filter(|a| !a.value.is_empty()) {
                    self.d.error(
                        loc(f, a),
                        "a deadline policy runs `on_warn` and `on_missed`, not `actions`",
                    );
                }
                if on_missed.is_empty() && on_warn.is_empty() {
                    self.d.warning(
                        id_loc,
                        format!(
                            "policy `{}` does nothing (no on_warn or on_missed actions)",
                            x.id.value
                        ),
                    );
                }
            } else {
                for (name, list) in [("on_warn", &x.on_warn), ("on_missed", &x.on_missed)] {
                    if let Some(a) = list.as_ref().filter(|a| !a.value.is_empty()) {
                        self.d.error(
                            loc(f, a),
                            format!("`{name}` is only for deadline policies (use `actions`)"),
                        );
                    }
                }
                if actions.is_empty() {
                    self.d.warning(
                        id_loc,
                        format!("policy `{}` does nothing (no actions)", x.id.value),
                    );
                }
            }
        }
        Policy {
            id: x.id.value,
            description: x.description,
            when,
            trigger,
            on_warn,
            on_missed,
            actions,
            source: SourceLocation {
                path: self.d.rel_path(f),
                line: id_loc.line,
                col: id_loc.col,
            },
        }
    }

    pub(super) fn deadline(
        &mut self,
        f: usize,
        d: &Spanned<raw::Deadline>,
        has_on_warn: bool,
        on_warn: &Option<Spanned<Vec<Spanned<raw::Action>>>>,
    ) -> Trigger {
        let v = &d.value;
        let within = self.positive_duration(f, &v.within, "deadline.within");
        let (of, expect) = self.deadline_expect(f, d);
        let warn_before = v.warn_before.as_ref().map(|w| {
            let wb = self.duration(f, w);
            if w.value.parse::<Duration>().is_ok() && wb >= within && !within.is_zero() {
                self.d.error(
                    loc(f, w),
                    format!("warn_before ({wb}) must be shorter than within ({within})"),
                );
            }
            wb
        });
        match (&v.warn_before, on_warn) {
            (None, Some(w)) if has_on_warn => self
                .d
                .error(loc(f, w), "`on_warn` needs `warn_before` in the deadline"),
            (Some(w), _) if !has_on_warn => self.d.warning(
                loc(f, w),
                "warn_before is set but `on_warn` is empty: nobody is warned",
            ),
            _ => {}
        }
        Trigger::Deadline {
            within,
            of,
            expect,
            warn_before,
        }
    }

    pub(super) fn on_event(&mut self, f: usize, e: &Spanned<raw::OnEvent>) -> Trigger {
        let v = &e.value;
        self.exactly_one(
            loc(f, e),
            "on_event",
            &[
                ("milestone", v.milestone.is_some()),
                ("status", v.status.is_some()),
                ("severity_changed", v.severity_changed.is_some()),
            ],
        );
        let mut event = Event::SeverityChanged;
        if let Some(sc) = &v.severity_changed
            && !sc.value
        {
            self.d.error(
                loc(f, sc),
                "`severity_changed: false` never fires (use `true`)",
            );
        }
        if let Some(s) = &v.status {
            event = Event::Status(self.status(f, s).unwrap_or(Status::Triage));
        }
        if let Some(m) = &v.milestone {
            event = Event::Milestone(self.reference(Kind::Milestone, f, m));
        }
        Trigger::OnEvent(event)
    }

    pub(super) fn cadence(&mut self, f: usize, c: &Spanned<raw::Cadence>) -> Trigger {
        let v = &c.value;
        let every = self.positive_duration(f, &v.every, "cadence.every");
        let reset_on = v
            .reset_on
            .as_ref()
            .map(|m| self.reference(Kind::Milestone, f, m));
        let while_ = self.conditions(f, &v.while_);
        let escalate_after = v
            .escalate_after
            .as_ref()
            .map(|d| self.positive_duration(f, d, "escalate_after"));
        let escalate_to = v.escalate_to.as_ref().and_then(|r| self.recipient(f, r));
        match (&v.escalate_after, &v.escalate_to) {
            (Some(a), None) => self
                .d
                .error(loc(f, a), "`escalate_after` needs `escalate_to`"),
            (None, Some(t)) => self
                .d
                .error(loc(f, t), "`escalate_to` needs `escalate_after`"),
            _ => {}
        }
        Trigger::Cadence {
            every,
            reset_on,
            while_,
            escalate_after,
            escalate_to,
        }
    }

    pub(super) fn recipient(&mut self, f: usize, r: &Spanned<raw::Recipient>) -> Option<Recipient> {
        let v = &r.value;
        let ok = self.exactly_one(
            loc(f, r),
            "escalate_to",
            &[
                ("role", v.role.is_some()),
                ("schedule", v.schedule.is_some()),
                ("person", v.person.is_some()),
                ("alias", v.alias.is_some()),
                ("escalation_policy", v.escalation_policy.is_some()),
            ],
        );
        let mut out = None;
        if let Some(s) = &v.role {
            out = Some(Recipient::Role(self.reference(Kind::Role, f, s)));
        }
        if let Some(s) = &v.schedule {
            out = Some(Recipient::Schedule(self.reference(Kind::Schedule, f, s)));
        }
        if let Some(s) = &v.person {
            out = Some(Recipient::Person(self.reference(Kind::Person, f, s)));
        }
        if let Some(s) = &v.alias {
            out = Some(Recipient::Alias(self.reference(Kind::Alias, f, s)));
        }
        if let Some(s) = &v.escalation_policy {
            out = Some(Recipient::EscalationPolicy(self.reference(
                Kind::EscalationPolicy,
                f,
                s,
            )));
        }
        out.filter(|_| ok)
    }

    pub(super) fn actions(
        &mut self,
        f: usize,
        list: Option<&Spanned<Vec<Spanned<raw::Action>>>>,
    ) -> Vec<Action> {
        let Some(list) = list else {
            return Vec::new();
        };
        list.value
            .iter()
            .filter_map(|a| self.action(f, a))
            .collect()
    }

    pub(super) fn action(&mut self, f: usize, a: &Spanned<raw::Action>) -> Option<Action> {
        let v = &a.value;
        let ok = self.exactly_one(
            loc(f, a),
            "an action",
            &[
                ("page", v.page.is_some()),
                ("notify", v.notify.is_some()),
                ("nudge", v.nudge.is_some()),
                ("assign_role", v.assign_role.is_some()),
                ("create_task", v.create_task.is_some()),
                ("draft_status_update", v.draft_status_update.is_some()),
            ],
        );
        let mut out = None;
        if let Some(p) = &v.page {
            out = self.page(f, p).map(|target| Action::Page { target });
        }
        if let Some(n) = &v.notify {
            out = Some(Action::Notify {
                alias: self.reference(Kind::Alias, f, &n.value.alias),
                template: self.reference(Kind::Template, f, &n.value.template),
            });
        }
        if let Some(n) = &v.nudge {
            out = Some(Action::Nudge {
                role: self.reference(Kind::Role, f, &n.value.role),
                template: n
                    .value
                    .template
                    .as_ref()
                    .map(|t| self.reference(Kind::Template, f, t)),
            });
        }
        if let Some(r) = &v.assign_role {
            let role = self.reference(Kind::Role, f, &r.value.role);
            let one = self.exactly_one(
                loc(f, r),
                "assign_role",
                &[
                    ("schedule", r.value.schedule.is_some()),
                    ("person", r.value.person.is_some()),
                ],
            );
            let mut to = None;
            if let Some(s) = &r.value.schedule {
                to = Some(Assignee::Schedule(self.reference(Kind::Schedule, f, s)));
            }
            if let Some(s) = &r.value.person {
                to = Some(Assignee::Person(self.reference(Kind::Person, f, s)));
            }
            out = to.filter(|_| one).map(|to| Action::AssignRole { role, to });
        }
        if let Some(t) = &v.create_task {
            if t.value.title.value.trim().is_empty() {
                self.d.error(loc(f, &t.value.title), "task title is empty");
            }
            out = Some(Action::CreateTask {
                title: t.value.title.value.clone(),
            });
        }
        if let Some(d) = &v.draft_status_update {
            out = Some(Action::DraftStatusUpdate {
                template: d
                    .value
                    .template
                    .as_ref()
                    .map(|t| self.reference(Kind::Template, f, t)),
            });
        }
        out.filter(|_| ok)
    }

    pub(super) fn page(&mut self, f: usize, p: &Spanned<raw::PageTarget>) -> Option<PageTarget> {
        let v = &p.value;
        let ok = self.exactly_one(
            loc(f, p),
            "page",
            &[
                ("schedule", v.schedule.is_some()),
                ("escalation_policy", v.escalation_policy.is_some()),
                ("person", v.person.is_some()),
                ("alias", v.alias.is_some()),
            ],
        );
        let mut out = None;
        if let Some(s) = &v.schedule {
            out = Some(PageTarget::Schedule(self.reference(Kind::Schedule, f, s)));
        }
        if let Some(s) = &v.escalation_policy {
            out = Some(PageTarget::EscalationPolicy(self.reference(
                Kind::EscalationPolicy,
                f,
                s,
            )));
        }
        if let Some(s) = &v.person {
            out = Some(PageTarget::Person(self.reference(Kind::Person, f, s)));
        }
        if let Some(s) = &v.alias {
            out = Some(PageTarget::Alias(self.reference(Kind::Alias, f, s)));
        }
        out.filter(|_| ok)
    }

    // ------------------------------------------------------------ playbooks

    pub(super) fn playbook(&mut self, f: usize, x: raw::Playbook) -> Playbook {
        let matches = self.conditions(f, &x.matches);
        let notify = x
            .notify
            .iter()
            .map(|n| Notification {
                alias: self.reference(Kind::Alias, f, &n.alias),
                template: self.reference(Kind::Template, f, &n.template),
            })
            .collect();
        let links = x
            .links
            .iter()
            .map(|l| {
                self.url(f, &l.url);
                Link {
                    title: l.title.clone(),
                    url: l.url.value.clone(),
                }
            })
            .collect();
        Playbook {
            id: x.id.value,
            description: x.description,
            matches,
            notify,
            tasks: self.tasks(f, &x.tasks),
            links,
        }
    }

    /// A playbook's checklist: titles as written, none blank.
    pub(super) fn tasks(&mut self, f: usize, list: &[S]) -> Vec<String> {
        let mut out = Vec::new();
        for t in list {
            if t.value.trim().is_empty() {
                self.d.error(loc(f, t), "a playbook task needs a title");
            } else {
                out.push(t.value.trim().to_string());
            }
        }
        out
    }
}
