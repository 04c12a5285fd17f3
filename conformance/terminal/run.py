"""Run the scenario of the brief against the host and check every reply against iso8583.md."""
import json
import os
import sys
import time

from iso import (Terminal, check_value, enc, pin_block_clear, operator_pan, pack_message,
                 mac, unpack_message)

# The terminal's facts (host, port, MID, TID, TMK, operators, test cards) and where it keeps its
# state (STAN counter, pending reversal): given by ci.py, which provisions them on a fresh server.
CFG = json.load(open(sys.argv[1]))
STATE = sys.argv[2]
ECHOED = [2, 3, 4, 11, 25, 41, 42, 49, 60]

t = Terminal(CFG, STATE)
if t.state["stan"] == 0:  # fresh terminal state: start away from STANs a previous user may have used
    t.state["stan"] = int(time.time()) % 500000 + 100000
results = []


def show(v):
    return v.hex().upper() if isinstance(v, bytes) else v


def check(step, req, r, code, mac_expected, extra=None, echo_fields=ECHOED):
    f = r["fields"]
    problems = []
    if not r["mti_ok"]:
        problems.append(f"reply MTI {r['mti']}")
    if not r["tpdu_ok"]:
        problems.append(f"TPDU {r['tpdu']} not swapped")
    if not r["header_ok"]:
        problems.append(f"header {r['header']} not echoed")
    if f.get(39) != code:
        problems.append(f"39={f.get(39)!r} expected {code}")
    if mac_expected and not r["mac_present"]:
        problems.append("no MAC but one expected")
    if not mac_expected and r["mac_present"]:
        problems.append("MAC present but none expected")
    if r["mac_present"] and not r["mac_ok"]:
        problems.append("reply MAC does not verify")
    for n in echo_fields:
        if n in req and f.get(n) != req[n]:
            problems.append(f"F{n} not echoed: sent {show(req[n])!r} got {show(f.get(n))!r}")
    for p in (extra or []):
        if p:
            problems.append(p)
    ok = not problems
    results.append((step, ok, f.get(39), r["mac_present"], problems))
    print(f"{'OK ' if ok else 'BAD'} {step}: 39={f.get(39)} mac={'yes' if r['mac_present'] else 'no'}"
          + ("" if ok else "  <- " + "; ".join(problems)))
    print("     reply:", {k: show(v) for k, v in f.items() if k not in (62,)})
    return ok


def send(mti, fields, macced=True):
    return fields, t.exchange(mti, fields, macced=macced)


def track(card):
    return t.track2(card["pan"], card["expiry_yymm"])


debit, credit = CFG["debit_card"], CFG["credit_card"]

# check the TMK against the provisioning check value
assert check_value(t.tmk).hex().upper() == CFG["tmk_check_value"], "TMK check value"

t.connect()

# pending reversal from an earlier run? send first (§5.4)
if t.state.get("pending_reversal"):
    print("pending reversal from an earlier run: need a sign-in first")

# 1 echo
req = {11: t.next_stan(), 60: "00000000301"}
r = t.exchange("0820", req, macced=False)
check("1 echo test", req, r, "00", False, echo_fields=[11, 41, 42])

# 2 sign-in
r = t.sign_in(CFG["cashier"]["operator"], CFG["cashier"]["pin"], "003")
extra = []
if r["fields"].get(39) == "00":
    extra.append(None if len(r["fields"][60]) >= 8 else "F60 too short")
check("2 sign-in cashier", {11: r["fields"].get(11), 41: t.tid, 42: t.mid}, r, "00", False, extra,
      echo_fields=[41, 42])
print("     batch", t.batch, "PIN key CV", check_value(t.pin_key).hex().upper(), "MAC key CV",
      check_value(t.mac_key).hex().upper())

if t.state.get("pending_reversal"):
    pr = t.state["pending_reversal"]
    r = t.exchange("0400", {int(k): v for k, v in pr.items()})
    print("earlier pending reversal:", r["fields"].get(39), r["mac_present"])
    if r["mac_present"] and r["mac_ok"]:
        t.state["pending_reversal"] = None; t.save()


def base_fin(mti_proc, cond, t601, amount=None, card=None, pin=True, keyed=False):
    f = {3: mti_proc, 11: t.next_stan(), 25: cond, 49: "156", 60: t.f60(t601)}
    if amount is not None:
        f[4] = f"{amount:012d}"
    if card:
        if keyed:
            f[2] = card["pan"]; f[14] = card["expiry_yymm"]
        else:
            f[35] = track(card)
        f[22] = ("01" if keyed else "02") + ("1" if pin else "2")
        f[53] = "2600000000000000"
        if pin:
            f[26] = "06"
            f[52] = t.card_pin(card["pin"], card["pan"])
    return f


# 3 balance inquiry
req = base_fin("310000", "00", "01", card=debit)
r = t.exchange("0200", req)
f54 = r["fields"].get(54, "")
extra = [None if (len(f54) == 20 and f54[:7] == "1002156" and f54[7] in "CD") else f"F54 {f54!r}"]
check("3 balance inquiry", req, r, "00", True, extra)
if len(f54) == 20:
    print("     balance", f54[7], int(f54[8:]) / 100)


def approved_extra(r, auth=True):
    f = r["fields"]
    e = []
    for n in (12, 13, 37) + ((38,) if auth else ()):
        if n not in f:
            e.append(f"F{n} missing on approval")
    if 37 in f and 12 in f and 11 in f and f[37] != f[12] + f[11]:
        e.append(f"F37 {f[37]} is not hhmmss+STAN")
    return e


def sale(amount, card=debit, pin=True, step="sale", code="00", keyed=False, mac_expected=True, **over):
    req = base_fin("000000", "00", "22", amount, card, pin=pin, keyed=keyed)
    req[63] = f"{t.operator} 1"
    req.update(over)
    r = t.exchange("0200", req)
    check(step, req, r, code, mac_expected, approved_extra(r) if code == "00" else [])
    return req, r


# 4 sale 12.34 swiped with PIN
s1, r1 = sale(1234, step="4 sale 12.34 (track 2)")


def void(orig_req, orig_r, step, code="00", with_rrn=True):
    req = {3: "200000", 4: orig_req[4], 11: t.next_stan(), 22: "012", 25: "00", 49: "156",
           52: t.supervisor_pin(), 53: "2600000000000000", 60: t.f60("23"),
           61: orig_req[60][2:8] + orig_req[11], 63: f"{t.operator} "}
    if with_rrn:
        req[37] = orig_r["fields"][37]
    r = t.exchange("0200", req)
    check(step, req, r, code, True, approved_extra(r, auth=False) if code == "00" else [])
    return req, r


# 5 void
v1, rv1 = void(s1, r1, "5 void of sale 12.34")
# void again -> already voided: 12 per §5.3 ("void of something not an approved sale")
void(s1, r1, "5b void again (expect 12)", code="12")


def refund(orig_req, orig_r, amount, step, code="00", rrn=None, reason="01"):
    req = {3: "200000", 4: f"{amount:012d}", 11: t.next_stan(), 22: "012", 25: "00",
           37: rrn or orig_r["fields"][37], 49: "156", 52: t.supervisor_pin(),
           53: "2600000000000000", 60: t.f60("25"),
           61: orig_req[60][2:8] + orig_req[11] + orig_r["fields"][13], 63: f"{t.operator} {reason}"}
    r = t.exchange("0220", req)
    check(step, req, r, code, True, approved_extra(r, auth=False) if code == "00" else [])
    return req, r


# 6 sale 50 + partial refund 20
s2, r2 = sale(5000, step="6a sale 50.00")
rf1, rrf1 = refund(s2, r2, 2000, "6b refund 20.00")
# more than remains refundable: 13
refund(s2, r2, 3001, "6c refund 30.01 (expect 13)", code="13")

# 7 pre-auth 100 on credit (keyed: field 2 + 14), completion 80
req = base_fin("030000", "06", "10", 10000, credit, pin=True, keyed=True)
req[63] = f"{t.operator} "
rp = t.exchange("0100", req)
check("7a pre-auth 100.00 (F2+F14)", req, rp, "00", True, approved_extra(rp))
pa = req
req = {3: "000000", 4: f"{8000:012d}", 11: t.next_stan(), 22: "012", 25: "06",
       38: rp["fields"].get(38, "000000"), 49: "156", 60: t.f60("20"),
       61: pa[60][2:8] + pa[11] + rp["fields"].get(13, "0000"), 63: f"{t.operator} "}
rc = t.exchange("0200", req)
check("7b completion 80.00", req, rc, "00", True, approved_extra(rc, auth=False))

# 8 sale whose reply is lost -> reversal
req = base_fin("000000", "00", "22", 777, debit, pin=True)
req[63] = f"{t.operator} 1"
rev = {3: req[3], 4: req[4], 11: req[11], 22: req[22], 25: req[25], 39: "98", 49: req[49],
       60: req[60]}
t.state["pending_reversal"] = {str(k): v for k, v in rev.items()}  # persisted BEFORE sending
t.save()
lost = t.exchange("0200", req)  # the reply is read and thrown away: "not received"
print("     (lost sale reply was 39=%s)" % lost["fields"].get(39))
rr = t.exchange("0400", rev)
check("8a reversal (39=98)", rev, rr, "00", True)
if rr["mac_present"] and rr["mac_ok"]:
    t.state["pending_reversal"] = None; t.save()
rr2 = t.exchange("0400", rev)
check("8b reversal again (idempotent 00)", rev, rr2, "00", True)
# void of the reversed sale must fail (12: not an approved sale)
void(req, lost, "8c void of reversed sale (expect 12)", code="12", with_rrn=False)
# reversal whose original never arrived -> 25, then the late original -> 94
req = base_fin("000000", "00", "22", 888, debit, pin=True)
rev = {3: req[3], 4: req[4], 11: req[11], 22: req[22], 25: req[25], 39: "98", 49: req[49],
       60: req[60]}
rr = t.exchange("0400", rev)
check("8d reversal, no original (expect 25)", rev, rr, "25", True)
r = t.exchange("0200", req)
check("8e late original (expect 94)", req, r, "94", True)

# 9 error cases
# 9a wrong MAC -> A0 without MAC
req = base_fin("000000", "00", "22", 100, debit)
msg = bytearray(t.build("0200", req, True))
msg[-1] ^= 0x01
r = t.exchange("0200", req, raw_override=bytes(msg))
check("9a wrong MAC (A0, no MAC)", req, r, "A0", False)
# 9b STAN 900001 -> 30 with MAC
req = base_fin("000000", "00", "22", 100, debit)
req[11] = "900001"
r = t.exchange("0200", req)
check("9b STAN 900001 (30, MAC)", req, r, "30", True)
req[11] = "000000"
r = t.exchange("0200", req)
check("9b' STAN 000000 (30, MAC)", req, r, "30", True)
# 9c currency 840 -> 58 with MAC
req = base_fin("000000", "00", "22", 100, debit)
req[49] = "840"
r = t.exchange("0200", req)
check("9c currency 840 (58, MAC)", req, r, "58", True)
# 9d debit sale without PIN -> 55 with MAC
sale(100, pin=False, step="9d debit sale without PIN (55, MAC)", code="55")
# 9e refund with wrong original RRN -> 25 with MAC
bad = r2["fields"][37][:-1] + ("0" if r2["fields"][37][-1] != "0" else "1")
refund(s2, r2, 100, "9e refund with wrong RRN (25, MAC)", code="25", rrn=bad)
# 9f refund without reason -> 30
req = {3: "200000", 4: f"{100:012d}", 11: t.next_stan(), 22: "012", 25: "00",
       37: r2["fields"][37], 49: "156", 52: t.supervisor_pin(), 53: "2600000000000000",
       60: t.f60("25"), 61: s2[60][2:8] + s2[11] + r2["fields"][13], 63: f"{t.operator} "}
r = t.exchange("0220", req)
check("9f refund without reason (30, MAC)", req, r, "30", True)
# 9g wrong batch -> 12
req = base_fin("000000", "00", "22", 100, debit)
req[60] = "22" + f"{(int(t.batch) % 999999) + 1:06d}"
r = t.exchange("0200", req)
check("9g wrong batch (12, MAC)", req, r, "12", True)
# 9h 53 = 2610... -> 30
req = base_fin("000000", "00", "22", 100, debit)
req[53] = "2610000000000000"
r = t.exchange("0200", req)
check("9h F53 2610.. (30, MAC)", req, r, "30", True)
# 9i wrong merchant -> 03
req = base_fin("000000", "00", "22", 100, debit)
req[42] = "000000000000001"
r = t.exchange("0200", req)
check("9i wrong MID (03, MAC)", req, r, "03", True)

# 10 settlement
# debit: sale 50.00 + completion 80.00 (sale 12.34 voided, 7.77 reversed); credit: refund 20.00
totals = f"{13000:012d}{2:03d}{2000:012d}{1:03d}0" + "0" * 31
req = {11: t.next_stan(), 48: totals, 49: "156", 60: t.f60("00", "201"), 63: f"{t.operator} "}
r = t.exchange("0500", req)
check("10 settlement (40 + MAC today)", req, r, "40", True, echo_fields=[11, 41, 42, 49, 60])

# 11 sign-off then sale
r = t.sign_off()
check("11a sign-off", {41: t.tid, 42: t.mid}, r, "00", False, echo_fields=[41, 42])
sale(100, step="11b sale after sign-off (C1, no MAC)", code="C1", mac_expected=False)
# a sale without MAC key knowledge is the same; also the reversal path
t.close()

print("\nSUMMARY")
for step, ok, code, m, probs in results:
    print(f"  {'ok ' if ok else 'BAD'} {step}  39={code} mac={'y' if m else 'n'} {'; '.join(probs)}")
failed = [step for step, ok, *_ in results if not ok]
print(f"\n{len(results) - len(failed)} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
