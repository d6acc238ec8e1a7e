//! Resolution: layers → pieces → the final schedule. Internally times are `i64` nanoseconds
//! (see `zone`), people are indices, and strings are only materialised for the answer.

use jiff::Timestamp;

use super::zone::{DAY, HOUR, Zone, epoch_day, ns_to_ts, time_ns, ts_to_ns, weekday_index};
use super::{Gap, Layer, Resolution, Schedule, Shift, ShiftLength, ShiftSource};

/// A stretch of one layer: member `who` covers `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Piece {
    start: i64,
    end: i64,
    who: usize,
}

/// Who covers a stretch of the final schedule, as indices into the [`Schedule`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cover {
    Gap,
    /// `schedule.layers[layer].members[who]`.
    Layer {
        layer: usize,
        who: usize,
    },
    /// `schedule.overrides[i]`.
    Override(usize),
}

impl Schedule {
    /// The person a [`Cover`] of this schedule names (`None` for a gap).
    pub fn person(&self, cover: Cover) -> Option<&str> {
        match cover {
            Cover::Gap => None,
            Cover::Layer { layer, who } => self
                .layers
                .get(layer)
                .and_then(|l| l.members.get(who))
                .map(String::as_str),
            Cover::Override(i) => self.overrides.get(i).map(|o| o.person.as_str()),
        }
    }
}

/// A stretch of the final schedule, borrowed-free: see [`Resolver`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub start: Timestamp,
    pub end: Timestamp,
    pub cover: Cover,
}

#[derive(Clone, Copy, Debug)]
struct Seg {
    start: i64,
    end: i64,
    cover: Cover,
}

/// Longest span (ns) between two consecutive boundaries of a layer, generously.
fn max_len(layer: &Layer) -> i64 {
    match layer.shift {
        ShiftLength::Hours(h) => i64::from(h).saturating_mul(HOUR),
        other => i64::from(other.days().unwrap_or(0))
            .saturating_add(1)
            .saturating_mul(DAY),
    }
}

fn zone_margin(schedule: &Schedule) -> i64 {
    schedule
        .layers
        .iter()
        .map(max_len)
        .max()
        .unwrap_or(0)
        .saturating_mul(2)
        .saturating_add(4 * DAY)
}

fn zone_for(schedule: &Schedule, from: i64, to: i64) -> Zone {
    let margin = zone_margin(schedule);
    Zone::new(
        &schedule.time_zone,
        from.saturating_sub(margin),
        to.saturating_add(margin),
    )
}

/// The rotation of `layer` (ignoring restrictions) over `[from, to)`, clipped, appended to `out`.
fn rotation(layer: &Layer, zone: &Zone, from: i64, to: i64, out: &mut Vec<Piece>) {
    let n = layer.members.len();
    if n == 0 || layer.shift.is_zero() || from >= to {
        return;
    }
    let d0 = epoch_day(layer.start);
    let h = time_ns(layer.handoff);
    let mut emit = |i: i64, s: i64, e: i64| {
        let (s, e) = (s.max(from), e.min(to));
        if s < e {
            out.push(Piece {
                start: s,
                end: e,
                who: i.rem_euclid(n as i64) as usize,
            });
        }
    };
    match layer.shift {
        ShiftLength::Hours(hours) => {
            let period = i64::from(hours).saturating_mul(HOUR);
            let b0 = zone.resolve(d0.saturating_mul(DAY).saturating_add(h));
            if to <= b0 {
                return;
            }
            let mut i = if from <= b0 { 0 } else { (from - b0) / period };
            let mut s = b0.saturating_add(i.saturating_mul(period));
            while s < to {
                let e = s.saturating_add(period);
                emit(i, s, e);
                if e == s {
                    break;
                }
                s = e;
                i += 1;
            }
        }
        ShiftLength::Days(_) | ShiftLength::Weeks(_) => {
            let k = i64::from(layer.shift.days().unwrap_or(0));
            let boundary = |i: i64| {
                zone.resolve(
                    d0.saturating_add(i.saturating_mul(k))
                        .saturating_mul(DAY)
                        .saturating_add(h),
                )
            };
            let b0 = boundary(0);
            if to <= b0 {
                return;
            }
            let mut i = 0;
            if from > b0 {
                // jump to the shift containing `from`, then correct by whole shifts
                let day = zone.local(from).div_euclid(DAY);
                i = (day - d0).div_euclid(k).max(0);
                while i > 0 && boundary(i) > from {
                    i -= 1;
                }
                while boundary(i + 1) <= from {
                    i += 1;
                }
            }
            let mut s = boundary(i);
            while s < to {
                let e = boundary(i + 1);
                emit(i, s, e);
                if e <= s {
                    break;
                }
                s = e;
                i += 1;
            }
        }
    }
}

/// The restriction windows of `layer` intersecting `[from, to)`, clipped, sorted and merged.
fn windows(layer: &Layer, zone: &Zone, from: i64, to: i64, out: &mut Vec<(i64, i64)>) {
    let first = zone.local(from).div_euclid(DAY) - 1;
    let last = zone.local(to).div_euclid(DAY);
    let masks: Vec<(u8, i64, i64)> = layer
        .restrictions
        .iter()
        .map(|r| {
            let mask = r
                .days
                .iter()
                .fold(0u8, |m, d| m | 1 << d.to_monday_zero_offset());
            let (f, t) = (time_ns(r.from), time_ns(r.to));
            (mask, f, if t <= f { t + DAY } else { t })
        })
        .collect();
    let start_len = out.len();
    let mut day = first;
    while day <= last {
        let bit = 1u8 << weekday_index(day);
        let midnight = day.saturating_mul(DAY);
        for &(mask, f, t) in &masks {
            if mask & bit != 0 {
                let s = zone.resolve(midnight.saturating_add(f)).max(from);
                let e = zone.resolve(midnight.saturating_add(t)).min(to);
                if s < e {
                    out.push((s, e));
                }
            }
        }
        day += 1;
    }
    let ws = &mut out[start_len..];
    ws.sort_unstable();
    // merge overlapping or touching windows (config forbids overlaps; be robust anyway)
    let mut w = start_len;
    for r in start_len..out.len() {
        let cur = out[r];
        if w > start_len && out[w - 1].1 >= cur.0 {
            out[w - 1].1 = out[w - 1].1.max(cur.1);
        } else {
            out[w] = cur;
            w += 1;
        }
    }
    out.truncate(w);
}

/// Scratch buffers reused across the layers of one resolution.
#[derive(Default)]
struct Scratch {
    rotation: Vec<Piece>,
    windows: Vec<(i64, i64)>,
}

/// The pieces of one layer over `[from, to)`: rotation ∩ windows, same-member neighbours merged.
fn layer_pieces(
    layer: &Layer,
    zone: &Zone,
    from: i64,
    to: i64,
    scratch: &mut Scratch,
    out: &mut Vec<Piece>,
) {
    scratch.rotation.clear();
    rotation(layer, zone, from, to, &mut scratch.rotation);
    let push = |out: &mut Vec<Piece>, p: Piece| {
        if let Some(last) = out.last_mut()
            && last.end == p.start
            && layer.members[last.who] == layer.members[p.who]
        {
            last.end = p.end;
            return;
        }
        out.push(p);
    };
    if layer.restrictions.is_empty() {
        for &p in &scratch.rotation {
            push(out, p);
        }
        return;
    }
    scratch.windows.clear();
    windows(layer, zone, from, to, &mut scratch.windows);
    let (rot, wins) = (&scratch.rotation, &scratch.windows);
    let (mut i, mut j) = (0, 0);
    while i < rot.len() && j < wins.len() {
        let (p, (ws, we)) = (rot[i], wins[j]);
        let (s, e) = (p.start.max(ws), p.end.min(we));
        if s < e {
            push(
                out,
                Piece {
                    start: s,
                    end: e,
                    who: p.who,
                },
            );
        }
        if p.end <= we {
            i += 1;
        } else {
            j += 1;
        }
    }
}

/// Resolves schedules without allocating once warmed up: keeps its buffers between calls. For
/// hot loops (staffing simulation, benchmarks, bulk exports); [`shifts`] is the owned form.
/// Same rules and results as [`shifts`] (which is built on it).
pub struct Resolver {
    zone: Option<Zone>,
    scratch: Scratch,
    pieces: Vec<Vec<Piece>>,
    cursor: Vec<usize>,
    ovs: Vec<(usize, i64, i64)>,
    segs: Vec<Seg>,
    out: Vec<Segment>,
}

impl Default for Resolver {
    fn default() -> Self {
        Resolver::new()
    }
}

impl Resolver {
    pub fn new() -> Resolver {
        Resolver {
            zone: None,
            scratch: Scratch::default(),
            pieces: Vec::new(),
            cursor: Vec::new(),
            ovs: Vec::new(),
            segs: Vec::new(),
            out: Vec::new(),
        }
    }

    /// The final schedule over `[from, to)` as segments (gaps included), in time order, merged
    /// where person and source agree. Resolve people with [`Schedule::person`].
    pub fn resolve(&mut self, schedule: &Schedule, from: Timestamp, to: Timestamp) -> &[Segment] {
        let (from, to) = clamp_range(from, to);
        self.run(schedule, from, to);
        self.out.clear();
        self.out.extend(self.segs.iter().map(|s| Segment {
            start: ns_to_ts(s.start),
            end: ns_to_ts(s.end),
            cover: s.cover,
        }));
        &self.out
    }

    fn run(&mut self, schedule: &Schedule, from: i64, to: i64) {
        self.segs.clear();
        if from >= to {
            return;
        }
        let margin = zone_margin(schedule);
        let (lo, hi) = (from.saturating_sub(margin), to.saturating_add(margin));
        let zone = match &mut self.zone {
            Some(z) => {
                z.reset(&schedule.time_zone, lo, hi);
                z
            }
            none => none.insert(Zone::new(&schedule.time_zone, lo, hi)),
        };
        let n = schedule.layers.len();
        if self.pieces.len() < n {
            self.pieces.resize_with(n, Vec::new);
        }
        for (layer, v) in schedule.layers.iter().zip(self.pieces.iter_mut()) {
            v.clear();
            layer_pieces(layer, zone, from, to, &mut self.scratch, v);
        }
        let pieces = &self.pieces[..n];
        self.ovs.clear();
        self.ovs.extend(
            schedule
                .overrides
                .iter()
                .enumerate()
                .map(|(index, o)| (index, ts_to_ns(o.from), ts_to_ns(o.to)))
                .filter(|&(_, f, t)| f < t && f < to && t > from),
        );
        let person_of = |c: Cover| schedule.person(c);
        let same = |a: Cover, b: Cover| -> bool {
            match (a, b) {
                (Cover::Gap, Cover::Gap) => true,
                (Cover::Layer { layer: la, who: wa }, Cover::Layer { layer: lb, who: wb }) => {
                    la == lb && (wa == wb || person_of(a) == person_of(b))
                }
                (Cover::Override(x), Cover::Override(y)) => {
                    x == y
                        || (person_of(a) == person_of(b)
                            && schedule.overrides[x].id == schedule.overrides[y].id)
                }
                _ => false,
            }
        };
        self.cursor.clear();
        self.cursor.resize(n, 0);
        let out = &mut self.segs;
        let mut cur = from;
        while cur < to {
            let mut next = to;
            let mut layer_cover = Cover::Gap;
            for (l, ps) in pieces.iter().enumerate() {
                let c = &mut self.cursor[l];
                while *c < ps.len() && ps[*c].end <= cur {
                    *c += 1;
                }
                if let Some(p) = ps.get(*c) {
                    if p.start <= cur {
                        layer_cover = Cover::Layer {
                            layer: l,
                            who: p.who,
                        };
                        next = next.min(p.end);
                    } else {
                        next = next.min(p.start);
                    }
                }
            }
            let mut cover = layer_cover;
            if !self.ovs.is_empty() {
                let layer_person = person_of(layer_cover);
                for &(index, f, t) in &self.ovs {
                    if f > cur {
                        next = next.min(f);
                    } else if t > cur {
                        next = next.min(t);
                        let replaces = schedule.overrides[index].replaces.as_deref();
                        if replaces.is_none() || replaces == layer_person {
                            cover = Cover::Override(index);
                        }
                    }
                }
            }
            match out.last_mut() {
                Some(last) if last.end == cur && same(last.cover, cover) => last.end = next,
                _ => out.push(Seg {
                    start: cur,
                    end: next,
                    cover,
                }),
            }
            cur = next;
        }
    }
}

fn clamp_range(from: Timestamp, to: Timestamp) -> (i64, i64) {
    (ts_to_ns(from), ts_to_ns(to))
}

/// The final schedule over `[from, to)`: shifts clipped to the window, adjacent pieces of the same
/// person and source merged, and every uncovered stretch as a gap. Shifts and gaps are in time
/// order and together cover the window exactly.
pub fn shifts(schedule: &Schedule, from: Timestamp, to: Timestamp) -> Resolution {
    let (from, to) = clamp_range(from, to);
    let mut r = Resolver::new();
    r.run(schedule, from, to);
    let mut res = Resolution {
        shifts: Vec::with_capacity(r.segs.len()),
        gaps: Vec::new(),
    };
    for s in &r.segs {
        let (start, end) = (ns_to_ts(s.start), ns_to_ts(s.end));
        match s.cover {
            Cover::Gap => res.gaps.push(Gap { start, end }),
            Cover::Layer { layer, who } => {
                let l = &schedule.layers[layer];
                res.shifts.push(Shift {
                    person: l.members[who].clone(),
                    start,
                    end,
                    source: ShiftSource::Layer {
                        index: layer,
                        name: l.name.clone(),
                    },
                });
            }
            Cover::Override(i) => {
                let o = &schedule.overrides[i];
                res.shifts.push(Shift {
                    person: o.person.clone(),
                    start,
                    end,
                    source: ShiftSource::Override { id: o.id.clone() },
                });
            }
        }
    }
    res
}

/// One layer alone over `[from, to)` (its rotation cut by its restrictions; no other layers, no
/// overrides), clipped, adjacent shifts of the same member merged. Empty for an unknown index.
pub fn layer_shifts(
    schedule: &Schedule,
    layer: usize,
    from: Timestamp,
    to: Timestamp,
) -> Vec<Shift> {
    let Some(l) = schedule.layers.get(layer) else {
        return Vec::new();
    };
    let (from, to) = clamp_range(from, to);
    if from >= to {
        return Vec::new();
    }
    let zone = zone_for(schedule, from, to);
    let mut pieces = Vec::new();
    layer_pieces(l, &zone, from, to, &mut Scratch::default(), &mut pieces);
    pieces
        .into_iter()
        .map(|p| Shift {
            person: l.members[p.who].clone(),
            start: ns_to_ts(p.start),
            end: ns_to_ts(p.end),
            source: ShiftSource::Layer {
                index: layer,
                name: l.name.clone(),
            },
        })
        .collect()
}

/// Who is on call at `at`: the person of the final schedule (at most one), or nobody in a gap.
/// Always agrees with [`shifts`].
pub fn on_call(schedule: &Schedule, at: Timestamp) -> Vec<String> {
    let t = ts_to_ns(at);
    let mut r = Resolver::new();
    r.run(schedule, t, t.saturating_add(1));
    r.segs
        .first()
        .and_then(|s| schedule.person(s.cover))
        .map(|p| vec![p.to_string()])
        .unwrap_or_default()
}

/// The first stretch of `[from, to)` nobody covers, if any.
pub fn first_gap(schedule: &Schedule, from: Timestamp, to: Timestamp) -> Option<Gap> {
    let (from, to) = clamp_range(from, to);
    let mut r = Resolver::new();
    r.run(schedule, from, to);
    r.segs.iter().find(|s| s.cover == Cover::Gap).map(|s| Gap {
        start: ns_to_ts(s.start),
        end: ns_to_ts(s.end),
    })
}
