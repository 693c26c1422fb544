#!/usr/bin/env python3
"""Independent reference implementation of the Deadside killfeed statistics.

Written from the rules in PRODUCT.md sections 3-4 (and the test brief), NOT from the
Rust code, so its output can serve as golden numbers for the Rust tests.

Usage: python3 tests/golden/killfeed_stats.py FILE...   -> one JSON object on stdout.
Standard library only.
"""
import json
import re
import sys
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

ID_RE = re.compile(r"^[0-9a-f]{32}$")
DIST_RE = re.compile(r"^[0-9]+$")
TS_RE = re.compile(r"^\d{4}\.\d{2}\.\d{2}-\d{2}\.\d{2}\.\d{2}$")
SUICIDE_TYPES = ("menu", "fall", "vehicle", "other")


def is_vehicle(weapon):
    return weapon == "land_vehicle" or "vehicle" in weapon.lower()


def suicide_type(weapon):
    if weapon == "suicide_by_relocation":
        return "menu"
    if weapon == "falling":
        return "fall"
    if is_vehicle(weapon):
        return "vehicle"
    return "other"


def valid_ts(ts):
    if not TS_RE.match(ts):
        return False
    try:
        datetime.strptime(ts, "%Y.%m.%d-%H.%M.%S")
    except ValueError:
        return False
    return True


def classify(line):
    """Return (kind, fields) with kind in pvp/suicide/env, or ("malformed", None)."""
    parts = line.split(";")
    # every line ends in ';' -> split yields one trailing empty element
    if parts[-1] != "" or len(parts) - 1 not in (7, 9):
        return "malformed", None
    ts, killer, kid, victim, vid, weapon, dist = parts[:7]
    if not valid_ts(ts) or not DIST_RE.match(dist):
        return "malformed", None
    if not ID_RE.match(vid):
        return "malformed", None
    f = dict(ts=ts, killer=killer, kid=kid, victim=victim, vid=vid,
             weapon=weapon, dist=int(dist))
    if kid == "":
        if killer == "" and weapon == "":
            return "env", f
        return "malformed", None
    if not ID_RE.match(kid):
        return "malformed", None
    if kid == vid:
        return "suicide", f
    return "pvp", f


def new_player():
    return {
        "name": None, "kills": 0, "deaths": 0,
        "suicides": {t: 0 for t in SUICIDE_TYPES},
        "environment_deaths": 0, "longest_kill_m": None,
        "weapons": {}, "killed_by": {}, "killed": {},
        "cur_kill": 0, "best_killstreak": 0, "cur_death": 0, "worst_deathstreak": 0,
    }


def top(counter):
    if not counter:
        return None
    best = max(counter.values())
    return min(k for k, v in counter.items() if v == best)


def kdr(kills, deaths):
    if deaths == 0:
        return float(kills)
    q = Fraction(kills, deaths)
    # exact rational, rounded half-up to 2 decimals
    scaled = q * 100
    floor = scaled.numerator // scaled.denominator
    rem = scaled - floor
    r = floor + (1 if rem >= Fraction(1, 2) else 0)
    return float(Decimal(r) / Decimal(100))


def compute(paths):
    players = {}
    totals = {"lines": 0, "kills": 0, "roadkills": 0, "suicides": 0,
              "suicides_by_type": {t: 0 for t in SUICIDE_TYPES},
              "environment_deaths": 0, "malformed_lines": 0, "players": 0,
              "longest_kill": None}
    weapons = {}

    def get(pid, name):
        p = players.setdefault(pid, new_player())
        p["name"] = name
        return p

    def die(p):
        p["cur_kill"] = 0
        p["cur_death"] += 1
        p["worst_deathstreak"] = max(p["worst_deathstreak"], p["cur_death"])

    for path in paths:
        with open(path, "rb") as fh:
            text = fh.read().decode("utf-8", errors="replace")
        if text.startswith("\ufeff"):
            text = text[1:]
        for raw in text.split("\n"):
            line = raw[:-1] if raw.endswith("\r") else raw
            if line.strip() == "":
                continue
            totals["lines"] += 1
            kind, f = classify(line)
            if kind == "malformed":
                totals["malformed_lines"] += 1
                continue
            if kind == "env":
                v = get(f["vid"], f["victim"])
                v["environment_deaths"] += 1
                totals["environment_deaths"] += 1
                die(v)
            elif kind == "suicide":
                get(f["kid"], f["killer"])
                p = get(f["vid"], f["victim"])
                t = suicide_type(f["weapon"])
                p["suicides"][t] += 1
                totals["suicides"] += 1
                totals["suicides_by_type"][t] += 1
                die(p)
            else:  # pvp
                k = get(f["kid"], f["killer"])
                v = get(f["vid"], f["victim"])
                w, d = f["weapon"], f["dist"]
                k["kills"] += 1
                v["deaths"] += 1
                k["weapons"][w] = k["weapons"].get(w, 0) + 1
                k["longest_kill_m"] = d if k["longest_kill_m"] is None else max(k["longest_kill_m"], d)
                k["killed"][f["vid"]] = k["killed"].get(f["vid"], 0) + 1
                v["killed_by"][f["kid"]] = v["killed_by"].get(f["kid"], 0) + 1
                k["cur_death"] = 0
                k["cur_kill"] += 1
                k["best_killstreak"] = max(k["best_killstreak"], k["cur_kill"])
                die(v)
                totals["kills"] += 1
                if is_vehicle(w):
                    totals["roadkills"] += 1
                ws = weapons.setdefault(w, {"kills": 0, "longest_m": 0})
                ws["kills"] += 1
                ws["longest_m"] = max(ws["longest_m"], d)
                lk = totals["longest_kill"]
                if lk is None or d > lk["distance_m"]:  # ties: first in line order
                    totals["longest_kill"] = {"distance_m": d, "killer_id": f["kid"], "weapon": w}

    out_players = {}
    for pid, p in players.items():
        out_players[pid] = {
            "name": p["name"], "kills": p["kills"], "deaths": p["deaths"],
            "suicides": p["suicides"], "environment_deaths": p["environment_deaths"],
            "kdr": kdr(p["kills"], p["deaths"]), "longest_kill_m": p["longest_kill_m"],
            "best_killstreak": p["best_killstreak"],
            "worst_deathstreak": p["worst_deathstreak"], "weapons": p["weapons"],
            "nemesis": top(p["killed_by"]), "prey": top(p["killed"]),
        }
    totals["players"] = len(out_players)
    return {"players": out_players, "totals": totals, "weapons": weapons}


def main(argv):
    if len(argv) < 2:
        sys.stderr.write("usage: killfeed_stats.py FILE...\n")
        return 2
    json.dump(compute(argv[1:]), sys.stdout, sort_keys=True, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
