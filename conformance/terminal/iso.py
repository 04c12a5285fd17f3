"""ISO 8583 CUP POS profile codec, crypto and TCP client, written from iso8583.md only."""
import json
import os
import socket
import struct
import warnings

warnings.filterwarnings("ignore")
from cryptography.hazmat.primitives.ciphers import Cipher, modes  # noqa: E402

try:
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover
    from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES

# ---------------------------------------------------------------- field specs (§4)
# num: (kind, length-kind, max/fixed length)
FIELDS = {
    2: ("n", "LL", 19), 3: ("n", "F", 6), 4: ("n", "F", 12), 11: ("n", "F", 6),
    12: ("n", "F", 6), 13: ("n", "F", 4), 14: ("n", "F", 4), 15: ("n", "F", 4),
    22: ("n", "F", 3), 23: ("n", "F", 3), 25: ("n", "F", 2), 26: ("n", "F", 2),
    32: ("n", "LL", 11), 35: ("z", "LL", 37), 36: ("z", "LLL", 104),
    37: ("an", "F", 12), 38: ("an", "F", 6), 39: ("an", "F", 2), 41: ("ans", "F", 8),
    42: ("ans", "F", 15), 44: ("an", "LL", 25), 48: ("n", "LLL", 322), 49: ("an", "F", 3),
    52: ("b", "F", 8), 53: ("n", "F", 16), 54: ("an", "LLL", 20), 55: ("b", "LLL", 255),
    57: ("ans", "LLL", 64),
    60: ("n", "LLL", 100), 61: ("n", "LLL", 29), 62: ("b", "LLL", 512),
    63: ("ans", "LLL", 63), 64: ("b", "F", 8),
}


def bcd(digits: str, left=False) -> bytes:
    """Pack digits (and 'D' for '=') two per byte. right-aligned by default."""
    d = digits.replace("=", "D")
    if len(d) % 2:
        d = d + "0" if left else "0" + d
    return bytes.fromhex(d)


def unbcd(raw: bytes, ndigits: int, left=False) -> str:
    h = raw.hex().upper()
    if len(h) > ndigits:
        h = h[:ndigits] if left else h[len(h) - ndigits:]
    return h


def _len_prefix(n: int, kind: str) -> bytes:
    return bcd(f"{n:02d}") if kind == "LL" else bcd(f"{n:04d}")


def encode_field(num: int, value) -> bytes:
    kind, lk, ln = FIELDS[num]
    if kind in ("n", "z"):
        s = str(value)
        if lk == "F":
            assert len(s) == ln, (num, s)
            return bcd(s, left=(num == 22))
        assert len(s) <= ln, (num, s)
        return _len_prefix(len(s), lk) + bcd(s, left=True)
    if kind == "b":
        b = bytes(value)
    else:
        b = str(value).encode("ascii")
        assert all(0x20 <= c <= 0x7E for c in b), (num, value)
    if lk == "F":
        assert len(b) == ln, (num, b)
        return b
    assert len(b) <= ln
    return _len_prefix(len(b), lk) + b


def decode_field(num: int, buf: bytes, pos: int):
    kind, lk, ln = FIELDS[num]
    if lk == "F":
        n = ln
    elif lk == "LL":
        n = int(buf[pos:pos + 1].hex()); pos += 1
    else:
        n = int(buf[pos:pos + 2].hex()); pos += 2
    if kind in ("n", "z"):
        nb = (n + 1) // 2
        raw = buf[pos:pos + nb]
        if len(raw) < nb:
            raise ValueError(f"field {num} truncated")
        left = lk != "F" or num == 22
        v = unbcd(raw, n, left=left)
        if kind == "z":
            v = v.replace("D", "=")
        return v, pos + nb
    raw = buf[pos:pos + n]
    if len(raw) < n:
        raise ValueError(f"field {num} truncated")
    if kind == "b":
        return raw, pos + n
    return raw.decode("ascii"), pos + n


def pack_message(mti: str, fields: dict) -> bytes:
    bitmap = 0
    body = b""
    for num in sorted(fields):
        assert 2 <= num <= 64
        bitmap |= 1 << (64 - num)
        body += encode_field(num, fields[num])
    return bcd(mti) + struct.pack(">Q", bitmap) + body


def unpack_message(msg: bytes):
    mti = msg[:2].hex()
    bitmap = struct.unpack(">Q", msg[2:10])[0]
    if bitmap >> 63:
        raise ValueError("secondary bitmap not supported")
    pos = 10
    fields = {}
    for num in range(2, 65):
        if bitmap & (1 << (64 - num)):
            if num not in FIELDS:
                raise ValueError(f"unknown field {num}")
            fields[num], pos = decode_field(num, msg, pos)
    if pos != len(msg):
        raise ValueError(f"{len(msg) - pos} trailing bytes")
    return mti, fields


# ---------------------------------------------------------------- frame (§2)
def frame(tpdu: bytes, header: bytes, msg: bytes) -> bytes:
    body = tpdu + header + msg
    return struct.pack(">H", len(body)) + body


def unframe(data: bytes):
    return data[:5], data[5:11], data[11:]


# ---------------------------------------------------------------- crypto (§6)
def _c(key: bytes):
    if len(key) == 8:
        key = key * 2  # single DES as 3DES K1=K2
    return Cipher(TripleDES(key), modes.ECB())


def enc(key, data):
    e = _c(key).encryptor(); return e.update(data) + e.finalize()


def dec(key, data):
    d = _c(key).decryptor(); return d.update(data) + d.finalize()


def check_value(clear_key: bytes) -> bytes:
    return enc(clear_key, bytes(8))[:4]


def pin_block_clear(pin: str, pan: str) -> bytes:
    p = f"0{len(pin)}{pin}".ljust(16, "F")
    a = ("0000" + pan[:-1][-12:])
    return bytes(x ^ y for x, y in zip(bytes.fromhex(p), bytes.fromhex(a)))


def operator_pan(tid: str) -> str:
    return "0000" + tid + "0"


def mac(mac_key: bytes, data: bytes) -> bytes:
    k = mac_key[:8]
    data = data + bytes(-len(data) % 8)
    x = bytes(8)
    for i in range(0, len(data), 8):
        x = bytes(a ^ b for a, b in zip(x, data[i:i + 8]))
    h = x.hex().upper().encode()
    r = enc(k, h[:8])
    r = bytes(a ^ b for a, b in zip(r, h[8:]))
    r = enc(k, r)
    return r.hex().upper()[:8].encode()


def parse_keys(tmk: bytes, f62: bytes, mode: str):
    klen = {"001": 8, "003": 16, "004": 16}[mode]
    n = {"001": 2, "003": 2, "004": 3}[mode]
    if len(f62) != n * (klen + 4):
        raise ValueError(f"field 62 is {len(f62)} bytes, expected {n * (klen + 4)}")
    keys = []
    for i in range(n):
        blk = f62[i * (klen + 4): (i + 1) * (klen + 4)]
        k = dec(tmk, blk[:klen])
        if check_value(k) != blk[klen:]:
            raise ValueError(f"key {i} check value mismatch: {check_value(k).hex()} vs {blk[klen:].hex()}")
        keys.append(k)
    return keys


# ---------------------------------------------------------------- client
RESPONSE_MTI = {"0800": "0810", "0820": "0830", "0200": "0210", "0220": "0230", "0100": "0110",
                "0400": "0410", "0500": "0510", "0320": "0330"}


class Terminal:
    def __init__(self, cfg, state_path):
        self.cfg = cfg
        self.tid, self.mid = cfg["tid"], cfg["mid"]
        self.tmk = bytes.fromhex(cfg["tmk_hex"])
        self.tpdu = bytes.fromhex("6000060000")
        self.header = bytes.fromhex("603100000000")
        self.state_path = state_path
        self.state = {"stan": 0, "pending_reversal": None}
        if os.path.exists(state_path):
            self.state.update(json.load(open(state_path)))
        self.pin_key = self.mac_key = None
        self.batch = None
        self.sock = None
        self.log = []

    def save(self):
        json.dump(self.state, open(self.state_path, "w"), indent=1)

    def next_stan(self):
        s = self.state["stan"] % 899999 + 1
        self.state["stan"] = s
        self.save()
        return f"{s:06d}"

    def connect(self):
        self.sock = socket.create_connection((self.cfg["host"], self.cfg["port"]), timeout=20)

    def close(self):
        if self.sock:
            self.sock.close(); self.sock = None

    def _recv_exact(self, n):
        b = b""
        while len(b) < n:
            c = self.sock.recv(n - len(b))
            if not c:
                raise ConnectionError("connection closed")
            b += c
        return b

    def send_raw(self, msg: bytes, header=None):
        self.sock.sendall(frame(self.tpdu, header or self.header, msg))

    def recv(self):
        ln = struct.unpack(">H", self._recv_exact(2))[0]
        data = self._recv_exact(ln)
        tpdu, header, msg = unframe(data)
        return tpdu, header, msg

    def build(self, mti, fields, macced):
        fields = dict(fields)
        fields.setdefault(41, self.tid)
        fields.setdefault(42, self.mid)
        if macced:
            fields[64] = b"\0" * 8
            m = pack_message(mti, fields)
            fields[64] = mac(self.mac_key, m[:-8])
        return pack_message(mti, fields)

    def exchange(self, mti, fields, macced=True, expect_reply=True, raw_override=None):
        msg = raw_override if raw_override is not None else self.build(mti, fields, macced)
        self.send_raw(msg)
        if not expect_reply:
            return None
        tpdu, header, rmsg = self.recv()
        rmti, rf = unpack_message(rmsg)
        info = {"mti": rmti, "fields": rf, "tpdu": tpdu.hex(), "header": header.hex(), "raw": rmsg}
        # frame checks (§2)
        info["tpdu_ok"] = tpdu == self.tpdu[:1] + self.tpdu[3:5] + self.tpdu[1:3]
        info["header_ok"] = header == self.header
        info["mti_ok"] = rmti == RESPONSE_MTI.get(mti)
        info["stan_ok"] = rf.get(11) == fields.get(11)
        if 64 in rf:
            info["mac_present"] = True
            info["mac_ok"] = (self.mac_key is not None and mac(self.mac_key, rmsg[:-8]) == rf[64])
        else:
            info["mac_present"] = False
            info["mac_ok"] = None
        return info

    # ------------------------------------------------ transactions
    def f60(self, t, code="000", batch=None):
        return f"{t}{batch or self.batch}{code}"

    def echo(self):
        return self.exchange("0820", {11: self.next_stan(), 60: "00000000301"}, macced=False)

    def sign_in(self, op, pin, mode="003"):
        pb = enc(self.tmk, pin_block_clear(pin, operator_pan(self.tid)))
        r = self.exchange("0800", {11: self.next_stan(), 52: pb, 53: "2600000000000000",
                                   60: f"00000000{mode}", 63: f"{op} "}, macced=False)
        if r["fields"].get(39) == "00":
            keys = parse_keys(self.tmk, r["fields"][62], mode)
            self.pin_key, self.mac_key = keys[0], keys[1]
            self.batch = r["fields"][60][2:8]
            self.operator = op
        return r

    def sign_off(self):
        return self.exchange("0820", {11: self.next_stan(), 60: f"00{self.batch}002",
                                      63: f"{self.operator} "}, macced=False)

    def card_pin(self, pin, pan):
        return enc(self.pin_key, pin_block_clear(pin, pan))

    def supervisor_pin(self):
        s = self.cfg["supervisor"]
        return enc(self.pin_key, pin_block_clear(s["pin"], operator_pan(self.tid)))

    @staticmethod
    def track2(pan, yymm, service="101"):
        return f"{pan}={yymm}{service}"


# ---------------------------------------------------------------- settlement (§7, §7.1)
def next_batch(batch: str) -> str:
    """The batch the host opens after settling `batch`: + 1, and 000001 after 999999 (§7.1)."""
    return f"{int(batch) % 999999 + 1:06d}"


def is_foreign(pan: str) -> bool:
    """§7: Visa or Mastercard: starts 4, 51-55 or 2221-2720; every other card is domestic."""
    return pan[:1] == "4" or 51 <= int(pan[:2]) <= 55 or 2221 <= int(pan[:4]) <= 2720


DEBIT_KINDS = ("sale", "completion")  # counted voided or not
CREDIT_KINDS = ("void", "completion void", "refund")


def settlement_totals(journal) -> str:
    """Field 48 of a 0500 (62 digits, result digits 0) from the terminal's journal of approved
    transactions: entries {"kind", "pan", "amount", ...}; reversed and declined ones never enter it."""
    out = ""
    for foreign in (False, True):
        mine = [e for e in journal if is_foreign(e["pan"]) == foreign]
        deb = [e["amount"] for e in mine if e["kind"] in DEBIT_KINDS]
        cre = [e["amount"] for e in mine if e["kind"] in CREDIT_KINDS]
        out += f"{sum(deb):012d}{len(deb):03d}{sum(cre):012d}{len(cre):03d}0"
    return out


def upload_items(entries) -> list:
    """Field 48 values of 0320 batch uploads (60.3 201): NN then NN items of 40 digits, at most 8 a
    message: organisation 00/01, STAN, PAN left-padded to 20, amount n12 (§7)."""
    out = []
    for i in range(0, len(entries), 8):
        chunk = entries[i:i + 8]
        out.append(f"{len(chunk):02d}" + "".join(
            f"{'01' if is_foreign(e['pan']) else '00'}{e['stan']}{e['pan'].rjust(20, '0')}{e['amount']:012d}"
            for e in chunk))
    return out
