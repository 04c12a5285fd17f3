"""Runs the independent terminal against a fresh `xingtong serve`.

The terminal (iso.py, run.py, test_examples.py) was written by someone who had docs/iso8583.md and
nothing else: it is the check that the document is enough to build a terminal from, and that the
host does what the document says. This script is not part of that check: it starts the server on
a temporary data directory, provisions a merchant, a terminal, its operators and two test cards the
way an operator would (HTTP API and `xingtong admin`), writes the facts a terminal is given, runs
the worked examples and the scenario, and stops the server. Exit status non-zero on any failure.

Usage: python3 conformance/terminal/ci.py [PATH_TO_XINGTONG]   (default: target/debug/xingtong
under $CARGO_TARGET_DIR, or ./target). Needs the `cryptography` package.
"""
import http.cookiejar
import json
import os
import struct
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def binary():
    if len(sys.argv) > 1:
        return sys.argv[1]
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(HERE, "..", "..", "target")
    return os.path.join(target, "debug", "xingtong")


def png(width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def main():
    xingtong = binary()
    work = tempfile.mkdtemp(prefix="xt-conformance-")
    data = os.path.join(work, "data")
    server = subprocess.Popen(
        [xingtong, "serve", "--data-dir", data, "--http", "127.0.0.1:0", "--iso8583", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=open(os.path.join(work, "server.log"), "w"), text=True,
    )
    try:
        terminals = api = None
        for line in server.stdout:
            if "ISO 8583 terminals on " in line:
                terminals = line.split("ISO 8583 terminals on ")[1].split()[0]
            if "HTTP API on " in line:
                api = line.split("HTTP API on ")[1].split()[0]
                break
        if not (terminals and api):
            raise SystemExit("the server did not start; see " + os.path.join(work, "server.log"))
        facts = provision(xingtong, data, api, terminals)
        config = os.path.join(work, "terminal.json")
        json.dump(facts, open(config, "w"), indent=2, ensure_ascii=False)
        subprocess.run([sys.executable, os.path.join(HERE, "test_examples.py")], cwd=HERE, check=True,
                       stdout=subprocess.DEVNULL)
        print("conformance: the worked examples of docs/iso8583.md decode, re-encode and verify")
        result = subprocess.run([sys.executable, os.path.join(HERE, "run.py"), config, os.path.join(work, "state.json")],
                                cwd=HERE, capture_output=True, text=True)
        summary = result.stdout[result.stdout.find("SUMMARY"):] if "SUMMARY" in result.stdout else result.stdout
        print(summary + result.stderr)
        return result.returncode
    finally:
        server.terminate()
        server.wait(timeout=15)


def provision(xingtong, data, api, terminals):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def call(method, path, body=None, content_type="application/json", raw=None):
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(api + path, data=payload, method=method)
        if payload is not None:
            request.add_header("Content-Type", content_type)
        try:
            with opener.open(request) as reply:
                return reply.status, json.loads(reply.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def expect(answer, status):
        if answer[0] != status:
            raise SystemExit(f"provisioning: expected {status}, got {answer}")
        return answer[1]

    def admin(*args):
        out = subprocess.run([xingtong, *args, "--data-dir", data, "--json"], capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"xingtong {' '.join(args)}: {out.stderr}")
        return json.loads(out.stdout)

    owner = {"name": "周杰", "phone": "13600000001", "password": "a long enough password"}
    expect(call("POST", "/v1/owners", owner), 201)
    form = {
        "applicant": {"legal_name": "周杰", "resident_id": "11010519491231002X", "phone": "13600000001",
                      "email": "zj@example.cn", "address": "深圳"},
        "business": {"name": "周杰奶茶", "business_type": "individual"},
        "settlement_account": {"card_number": "6222021234567890128", "bank_name": "招商银行", "account_holder": "周杰"},
        "delivery_address": "深圳",
    }
    application = expect(call("POST", "/v1/applications", form), 201)["id"]
    for kind in ["id_card_front", "id_card_back", "storefront_photo"]:
        body = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
                b"Content-Type: image/png\r\n\r\n" + png(100, 100) + b"\r\n--b--\r\n")
        expect(call("POST", f"/v1/applications/{application}/documents/{kind}", raw=body,
                    content_type="multipart/form-data; boundary=b"), 201)
    expect(call("POST", f"/v1/applications/{application}/submit"), 200)
    mid = admin("admin", "application", "approve", application)["mid"]
    expect(call("POST", "/v1/sessions", {"login": owner["phone"], "password": owner["password"]}), 201)
    expect(call("PUT", f"/v1/merchants/{mid}/cashiers/00/pin", {"pin": "246810"}), 200)
    expect(call("POST", f"/v1/merchants/{mid}/cashiers", {"operator": "01", "name": "A", "pin": "135790"}), 201)
    terminal = admin("admin", "terminal", "provision", "--mid", mid)
    card = {"pin": "147258"}
    debit = admin("admin", "sandbox", "card", "create", "--type", "debit", "--pin", card["pin"], "--balance", "5000.00")
    credit = admin("admin", "sandbox", "card", "create", "--type", "credit", "--pin", card["pin"], "--balance", "8000.00")
    host, port = terminals.rsplit(":", 1)
    return {
        "host": host, "port": int(port), "mid": mid, "tid": terminal["tid"], "tmk_hex": terminal["tmk"],
        "tmk_check_value": terminal["tmk_check_value"],
        "cashier": {"operator": "01", "pin": "135790"}, "supervisor": {"operator": "00", "pin": "246810"},
        "debit_card": {"pan": debit["number"], "expiry_yymm": debit["expiry"], "pin": card["pin"], "balance": "5000.00 CNY"},
        "credit_card": {"pan": credit["number"], "expiry_yymm": credit["expiry"], "pin": card["pin"], "limit": "8000.00 CNY"},
    }


if __name__ == "__main__":
    sys.exit(main())
