//! The `status_page` section: title, component groups and components (each mapped to the
//! internal services whose incidents affect it), and whether public updates need approval.

use std::collections::BTreeMap;

use serde_saphyr::Spanned;

use super::{Kind, V, loc};
use crate::diagnostic::Loc;
use crate::model::{Component, ComponentGroup, Config, StatusPage};
use crate::raw;

impl V<'_> {
    /// Validates one `status_page` section into `config`; a second one anywhere is an error.
    pub(super) fn status_page_section(
        &mut self,
        f: usize,
        x: Spanned<raw::StatusPage>,
        config: &mut Config,
    ) {
        let l = loc(f, &x);
        if config.status_page.is_some() {
            self.d.error(
                l,
                "duplicate status_page section (a configuration has one status page)",
            );
            return;
        }
        config.status_page = Some(self.status_page(f, x.value));
    }

    fn status_page(&mut self, f: usize, x: raw::StatusPage) -> StatusPage {
        if x.title.value.trim().is_empty() {
            self.d
                .error(loc(f, &x.title), "status_page title must not be empty");
        }
        if let Some(url) = &x.url {
            self.url(f, url);
        }
        let time_zone = match &x.time_zone {
            Some(tz) => self.time_zone(f, tz),
            None => "Etc/UTC".to_string(),
        };
        // Groups and components share one id space: Statuspage lists both as components.
        let mut seen: BTreeMap<String, Loc> = BTreeMap::new();
        let groups: Vec<ComponentGroup> = x
            .groups
            .into_iter()
            .filter_map(|g| {
                self.public_id(f, &g.id, "component group", &mut seen)
                    .then(|| ComponentGroup {
                        name: g.name.unwrap_or_else(|| g.id.value.clone()),
                        id: g.id.value,
                        description: g.description,
                    })
            })
            .collect();
        let components = x
            .components
            .into_iter()
            .filter_map(|c| {
                let fresh = self.public_id(f, &c.id, "component", &mut seen);
                let group = c.group.as_ref().map(|g| self.group_ref(f, g, &groups));
                let services = self.references(Kind::Service, f, &c.services);
                fresh.then(|| Component {
                    name: c.name.unwrap_or_else(|| c.id.value.clone()),
                    id: c.id.value,
                    description: c.description,
                    group,
                    services,
                })
            })
            .collect();
        StatusPage {
            title: x.title.value,
            url: x.url.map(|u| u.value.trim_end_matches('/').to_string()),
            time_zone,
            require_approval: x.require_approval.is_none_or(|b| b.value),
            groups,
            components,
        }
    }

    /// Checks id syntax and uniqueness among the page's groups and components.
    fn public_id(
        &mut self,
        f: usize,
        id: &raw::S,
        noun: &str,
        seen: &mut BTreeMap<String, Loc>,
    ) -> bool {
        let l = loc(f, id);
        if !super::is_valid_id(&id.value) {
            self.d.error(
                l,
                format!(
                    "invalid {noun} id `{}` (expected lower-case letters, digits, `-` or `_`, starting with a letter or digit)",
                    id.value
                ),
            );
        }
        if let Some(first) = seen.get(&id.value) {
            let first = self.d.short(*first);
            self.d.error(
                l,
                format!(
                    "duplicate status page id `{}` (first defined at {first}; groups and components share ids)",
                    id.value
                ),
            );
            return false;
        }
        seen.insert(id.value.clone(), l);
        true
    }

    fn group_ref(&mut self, f: usize, g: &raw::S, groups: &[ComponentGroup]) -> String {
        if !groups.iter().any(|x| x.id == g.value) {
            let known: Vec<&str> = groups.iter().map(|x| x.id.as_str()).collect();
            let hint = if known.is_empty() {
                "no groups are defined in status_page.groups".to_string()
            } else {
                format!("expected one of {}", known.join(", "))
            };
            self.d.error(
                loc(f, g),
                format!("unknown component group `{}` ({hint})", g.value),
            );
        }
        g.value.clone()
    }
}
