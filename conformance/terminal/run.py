"""Run the scenario of the brief against the host and check every reply against iso8583.md."""
import json
import os
import sys
import time

from iso import (Terminal, check_value, enc, pin_block_clear, operator_pan, pack_message,
                 mac, unpack_message, next_batch, is_foreign, settlement_totals, upload_items)

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


# The terminal's batch journal: every transaction approved by a reply whose MAC verifies, as a
# terminal keeps it for settlement and batch upload (§7). A declined transaction never enters it;
# a transaction whose reply was lost is reversed and never enters it either.
journal = []


def pan_of(req):
    return req[2] if 2 in req else req[35].split("=")[0]


def journal_add(kind, req, r, pan):
    if r["fields"].get(39) == "00" and r["mac_ok"]:
        journal.append({"kind": kind, "stan": req[11], "pan": pan, "amount": int(req[4]),
                        "batch": req[60][2:8]})


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
    journal_add("sale", req, r, card["pan"])
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
    journal_add("void", req, r, pan_of(orig_req))
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
    journal_add("refund", req, r, pan_of(orig_req))
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
journal_add("completion", req, rc, credit["pan"])

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


# 9j-9n a QR order the customer scans (§5.6): made, asked after, closed; field 57 of the replies
def qr_order(f57, amount=300):
    req = {3: "000000", 4: f"{amount:012d}", 11: t.next_stan(), 22: "032", 25: "00", 49: "156",
           57: f57, 60: t.f60("22"), 63: f"{t.operator} 1"}
    return req, t.exchange("0200", req)


qd, rd = qr_order("DWXP")
made57 = rd["fields"].get(57, "")
check("9j QR order D (00, W and the code's URL)", qd, rd, "00", True, [
    None if made57.startswith("WXPW00") and len(made57) > 6 else f"F57 {made57!r}",
    "F38 on an order still waiting" if 38 in rd["fields"] else None,
    None if rd["fields"].get(63) == "WXP" else f"F63 {rd['fields'].get(63)!r}"])
qq, rq = qr_order("Q" + qd[11])
check("9k QR order Q (00, still W)", qq, rq, "00", True, [
    None if rq["fields"].get(57) == made57 else f"F57 {rq['fields'].get(57)!r}",
    None if (rq["fields"].get(37), rq["fields"].get(12)) == (rd["fields"].get(37), rd["fields"].get(12))
    else "F37 and F12 are not the order's"])
qc, rc = qr_order("C" + qd[11])
check("9l QR order C (12, N10: closed)", qc, rc, "12", True,
      [None if rc["fields"].get(57) == "WXPN10" else f"F57 {rc['fields'].get(57)!r}"])
qq, rq = qr_order("Q" + qd[11])
check("9m QR order Q after the close (12)", qq, rq, "12", True)
qn, rn = qr_order("Q899999")
check("9n QR order Q of no order (25, no F57)", qn, rn, "25", True,
      ["F57 on a 25" if 57 in rn["fields"] else None, "F63 on a 25" if 63 in rn["fields"] else None])

# 10 settlement (§7, §7.1)
def valid_mmdd(v):
    return isinstance(v, str) and len(v) == 4 and v.isdigit() and 1 <= int(v[:2]) <= 12 \
        and 1 <= int(v[2:]) <= 31


def expected_verdict(sent, journal_totals):
    """Digits 31 and 62 the host should answer: per class, 1 when what the terminal sent is what
    the host counts (the journal holds exactly the transactions the §7 rules count), else 2."""
    return "".join("1" if sent[i:i + 30] == journal_totals[i:i + 30] else "2" for i in (0, 31))


def send_pending_reversal():
    """§7.1 step 1: any pending reversal goes first."""
    pr = t.state.get("pending_reversal")
    if pr:
        r = t.exchange("0400", {int(k): v for k, v in pr.items()})
        if r["mac_present"] and r["mac_ok"]:
            t.state["pending_reversal"] = None; t.save()


def settle(step, totals, batch, code="00", verdict=None, first=None):
    send_pending_reversal()
    req = {11: t.next_stan(), 48: totals, 49: "156", 60: f"00{batch}201", 63: f"{t.operator} "}
    r = t.exchange("0500", req)
    f = r["fields"]
    extra = []
    if code == "00":
        f48 = f.get(48, "")
        if len(f48) != 62:
            extra.append(f"F48 {f48!r} is not 62 digits")
        else:
            if f48[:30] + f48[31:61] != totals[:30] + totals[31:61]:
                extra.append("F48 totals are not the terminal's")
            if f48[30] + f48[61] != verdict:
                extra.append(f"F48 result digits 31/62 = {f48[30]}{f48[61]}, expected {verdict}")
        if not valid_mmdd(f.get(15)):
            extra.append(f"F15 {f.get(15)!r} is not MMDD")
        for n in (12, 13, 37):
            if n not in f:
                extra.append(f"F{n} missing")
        if f.get(63) != req[63]:
            extra.append(f"F63 not echoed: {f.get(63)!r}")
        if first is not None:
            for n in (15, 48):
                if f.get(n) != first["fields"].get(n):
                    extra.append(f"F{n} {f.get(n)!r} differs from the first 0510's "
                                 f"{first['fields'].get(n)!r}")
    check(step, req, r, code, True, extra, echo_fields=[11, 41, 42, 49, 60])
    return req, r


def upload(step, f48, batch, code, t603="201"):
    req = {11: t.next_stan(), 48: f48, 60: f"00{batch}{t603}"}
    r = t.exchange("0320", req)
    extra = [f"F{n} missing" for n in (12, 13) if code == "00" and n not in r["fields"]]
    check(step, req, r, code, True, extra, echo_fields=[11, 41, 42, 60])
    return req, r


batch1 = t.batch
assert not t.state.get("pending_reversal"), "a reversal is still pending before settlement"
mine = [e for e in journal if e["batch"] == batch1]
print("     journal of batch", batch1, [(e["kind"], e["stan"], e["amount"]) for e in mine])
totals1 = settlement_totals(mine)
# By hand, from what steps 4-9 did: debit = sale 12.34 (voided, still counted) + sale 50.00 (debit
# card) + completion 80.00 (credit card); credit = void 12.34 + refund 20.00 (debit card). Not
# counted: the balance inquiry, the pre-authorization, the reversed sale 7.77, the 94 duplicate and
# every refusal of steps 5b, 6c, 8c and 9.
hand = {False: [0, 0, 0, 0], True: [0, 0, 0, 0]}
for pan, amt, deb in ((debit["pan"], 1234, 1), (debit["pan"], 5000, 1), (credit["pan"], 8000, 1),
                      (debit["pan"], 1234, 0), (debit["pan"], 2000, 0)):
    h = hand[is_foreign(pan)]
    h[0 if deb else 2] += amt; h[1 if deb else 3] += 1
hand48 = "".join(f"{h[0]:012d}{h[1]:03d}{h[2]:012d}{h[3]:03d}0" for h in (hand[False], hand[True]))
assert totals1 == hand48, f"journal totals {totals1} differ from the hand count {hand48}"

# 10a the real batch, true totals: balanced in both classes; the host opens the next batch
req1, rs1 = settle("10a settlement, true totals (00, balanced)", totals1, batch1,
                   verdict=expected_verdict(totals1, totals1))
t.batch = next_batch(batch1)  # the terminal increments its batch like the host (§7.1 step 2)
print("     settlement date", rs1["fields"].get(15), "next batch", t.batch)
# 10b the 0510 "missed": the same 0500 again (new STAN) is answered as the first time
settle("10b settlement re-sent (same verdict)", totals1, batch1, verdict=rs1["fields"].get(48, "")[30:31]
       + rs1["fields"].get(48, "")[61:62], first=rs1)
# 10c end of batch upload after a balanced settlement: 60.3 207, nothing uploaded
upload("10c end of upload, balanced (207, 00)", "0000", batch1, "00", t603="207")
# 10d a request of the settled batch is 12
req = base_fin("000000", "00", "22", 100, debit)
req[60], req[63] = "22" + batch1, f"{t.operator} 1"
r = t.exchange("0200", req)
check("10d sale in the settled batch (12, MAC)", req, r, "12", True)
# 10e the next sign-in gives the new batch
r = t.sign_in(CFG["cashier"]["operator"], CFG["cashier"]["pin"], "003")
got = r["fields"].get(60, "")[2:8]
check("10e sign-in gives the next batch", {41: t.tid, 42: t.mid}, r, "00", False,
      [None if got == next_batch(batch1) else f"sign-in 60.2 {got}, expected {next_batch(batch1)}"],
      echo_fields=[41, 42])
batch2 = t.batch
# 10f a batch upload for the open batch, never settled, is 25
upload("10f upload of a batch never settled (25)", upload_items(mine[:1])[0], batch2, "25")
# 10g one sale in the new batch
sale(100, card=credit, step="10g sale 1.00 in the next batch")
mine2 = [e for e in journal if e["batch"] == batch2]
totals2 = settlement_totals(mine2)
# 10h settlement of a batch neither open nor settled is 12
settle("10h settlement of a future batch (12)", totals2, next_batch(batch2), code="12")
# 10i the unbalanced path: totals one fen short in the class of the sale's card. Done on this
# batch, after the real one, because a batch gets exactly one verdict (a second 0500 replays it).
k = 31 if is_foreign(credit["pan"]) else 0
wrong2 = totals2[:k] + f"{int(totals2[k:k + 12]) - 1:012d}" + totals2[k + 12:]
v2 = expected_verdict(wrong2, totals2)
assert "2" in v2
req2, rs2 = settle("10i settlement, wrong totals (00, not balanced)", wrong2, batch2, verdict=v2)
t.batch = next_batch(batch2)
# 10j upload every counted transaction of the batch, 10k the same again is 94, 10l end it (202)
items2 = upload_items(mine2)
for i, f48 in enumerate(items2):
    upload(f"10j batch upload {i + 1}/{len(items2)} ({f48[:2]} items, 00)", f48, batch2, "00")
upload("10k batch upload again (94)", items2[0], batch2, "94")
upload("10l end of upload, unbalanced (202, 00)", f"{len(mine2):04d}", batch2, "00", t603="202")
# 10m a re-sent 0500 for that batch replays its verdict
settle("10m unbalanced settlement re-sent (same verdict)", wrong2, batch2, verdict=v2, first=rs2)

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
