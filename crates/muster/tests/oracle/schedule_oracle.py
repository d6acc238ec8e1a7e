#!/usr/bin/env python3
"""Independent oracle for Muster's schedule resolution (issue 4).

Written from the documented rules, not from the Rust code, with different tools and a different
algorithm: calendar stepping with dateutil.rrule, time zones with the standard library's zoneinfo,
and a brute-force sweep over elementary intervals (no jumping, no offset tables).

Usage:
  schedule_oracle.py shifts < cases.json   ->  {"case": {"shifts": [...], "gaps": [...]}, ...}
  schedule_oracle.py ical   < feed.ics     ->  [{"uid","summary","start","end","sequence"}, ...]

Case format (times are epoch seconds; local times "HH:MM"; dates "YYYY-MM-DD"; days 0=Mon):
  {"name", "zone", "from", "to",
   "layers": [{"members": [...], "unit": "hours"|"days"|"weeks", "n": N, "handoff", "start",
               "restrictions": [{"days": [...], "from", "to"}]}],
   "overrides": [{"id", "person", "replaces"|null, "from", "to"}]}
"""

import json
import sys
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from dateutil import rrule

UTC = timezone.utc


def epoch(dt_utc):
    return int(dt_utc.timestamp())


def wall(u, tz):
    """Naive local wall-clock time of epoch second u."""
    return datetime.fromtimestamp(u, UTC).astimezone(tz).replace(tzinfo=None)


def resolve(naive, tz):
    """Epoch second of a local wall-clock time: first occurrence in a fold, and in a gap the first
    instant whose wall-clock time is at or after `naive` (the end of the gap)."""
    u = epoch(naive.replace(tzinfo=tz, fold=0))
    if wall(u, tz) == naive:
        return u  # exists (fold=0 is the first occurrence when it happens twice)
    # a gap: search the first second whose wall time is >= naive
    lo, hi = u - 6 * 3600, u + 6 * 3600
    while wall(lo, tz) >= naive:
        lo -= 3600
    while wall(hi, tz) < naive:
        hi += 3600
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if wall(mid, tz) >= naive:
            hi = mid
        else:
            lo = mid
    return hi


def hm(s):
    h, m = s.split(":")
    return time(int(h), int(m))


def rotation(layer, tz, t_from, t_to):
    """[(start, end, member)] of the rotation, stepping from the first hand-off (no jumping)."""
    members = layer["members"]
    start = datetime.combine(date.fromisoformat(layer["start"]), hm(layer["handoff"]))
    out = []
    if layer["unit"] == "hours":
        b0 = resolve(start, tz)
        step = layer["n"] * 3600
        i = 0
        while b0 + i * step < t_to:
            out.append((b0 + i * step, b0 + (i + 1) * step, members[i % len(members)]))
            i += 1
        return out
    days = layer["n"] * (7 if layer["unit"] == "weeks" else 1)
    local_boundaries = rrule.rrule(rrule.DAILY, interval=days, dtstart=start)
    prev = None
    for i, naive in enumerate(local_boundaries):
        b = resolve(naive, tz)
        if prev is not None:
            out.append((prev, b, members[(i - 1) % len(members)]))
        if b >= t_to:
            break
        prev = b
    return out


def windows(layer, tz, t_from, t_to):
    """[(start, end)] of the restriction windows, from dateutil's weekly recurrences."""
    out = []
    first = wall(t_from, tz).date() - timedelta(days=2)
    last = wall(t_to, tz).date() + timedelta(days=1)
    for r in layer["restrictions"]:
        if not r["days"]:
            continue
        f, t = hm(r["from"]), hm(r["to"])
        rule = rrule.rrule(
            rrule.WEEKLY,
            byweekday=[rrule.weekdays[d] for d in r["days"]],
            dtstart=datetime.combine(first, f),
            until=datetime.combine(last, f),
        )
        for naive_start in rule:
            end_day = naive_start.date() + timedelta(days=1 if t <= f else 0)
            out.append((resolve(naive_start, tz), resolve(datetime.combine(end_day, t), tz)))
    return out


def covers(spans, t):
    return any(s <= t < e for s, e, *_ in spans)


def solve(case):
    tz = ZoneInfo(case["zone"])
    t_from, t_to = case["from"], case["to"]
    layers = []
    cuts = {t_from, t_to}
    for layer in case["layers"]:
        rot = rotation(layer, tz, t_from, t_to)
        win = windows(layer, tz, t_from, t_to) if layer["restrictions"] else None
        layers.append((rot, win))
        for s, e, _ in rot:
            cuts.update((s, e))
        for s, e in win or []:
            cuts.update((s, e))
    for o in case["overrides"]:
        cuts.update((o["from"], o["to"]))
    cuts = sorted(c for c in cuts if t_from <= c <= t_to)

    pieces = []  # (start, end, person or None, source)
    for a, b in zip(cuts, cuts[1:]):
        who, source = None, None
        for index, (rot, win) in enumerate(layers):
            if win is not None and not covers(win, a):
                continue
            for s, e, member in rot:
                if s <= a < e:
                    who, source = member, "layer:%d" % index
        layer_person = who
        for o in case["overrides"]:
            if o["from"] <= a < o["to"] and (o["replaces"] is None or o["replaces"] == layer_person):
                who, source = o["person"], "override:%s" % o["id"]
        if pieces and pieces[-1][1] == a and pieces[-1][2] == who and pieces[-1][3] == source:
            pieces[-1] = (pieces[-1][0], b, who, source)
        else:
            pieces.append((a, b, who, source))
    return {
        "shifts": [
            {"person": p, "start": s, "end": e, "source": src}
            for s, e, p, src in pieces
            if p is not None
        ],
        "gaps": [{"start": s, "end": e} for s, e, p, _ in pieces if p is None],
    }


def ical(text):
    import icalendar

    cal = icalendar.Calendar.from_ical(text)
    events = []
    for ev in cal.walk("VEVENT"):
        events.append(
            {
                "uid": str(ev["UID"]),
                "summary": str(ev["SUMMARY"]),
                "start": epoch(ev.decoded("DTSTART")),
                "end": epoch(ev.decoded("DTEND")),
                "sequence": int(ev["SEQUENCE"]),
                "tz_is_utc": ev.decoded("DTSTART").utcoffset() == timedelta(0),
            }
        )
    return {"name": str(cal.get("X-WR-CALNAME")), "events": events}


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "shifts"
    if mode == "shifts":
        cases = json.load(sys.stdin)
        json.dump({c["name"]: solve(c) for c in cases}, sys.stdout)
    elif mode == "ical":
        json.dump(ical(sys.stdin.buffer.read()), sys.stdout)
    else:
        sys.exit("usage: schedule_oracle.py shifts|ical")


if __name__ == "__main__":
    main()
