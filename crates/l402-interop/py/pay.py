"""l402-requests (PyPI) as a paying client of our proxy.

Reads {"cases": [{"op": "l402-requests", "url", "pairing"}]} on stdin; for each, one
L402Client fetches the URL twice, paying the dev node's invoice through its pairing protocol
(one JSON line over loopback TCP). Writes {"results": [{"ok", "statuses", "paid"}]}.
"""
import json
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.environ["L402_INTEROP_DIR"], "py"))

from batch import serve_cases  # noqa: E402

from l402_requests import L402Client  # noqa: E402
from l402_requests.wallets import WalletBase  # noqa: E402


class DevNodeWallet(WalletBase):
    """Pays through the dev node's pairing endpoint; counts what it paid."""

    def __init__(self, pairing_file):
        with open(pairing_file) as f:
            self.pairing = json.load(f)
        self.paid = 0

    async def pay_invoice(self, bolt11):
        return self.pay_invoice_sync(bolt11)

    def pay_invoice_sync(self, bolt11):
        host, port = self.pairing["addr"].rsplit(":", 1)
        request = {"op": "pay", "v": 1, "secret": self.pairing["secret"], "bolt11": bolt11}
        with socket.create_connection((host, int(port)), timeout=30) as s:
            s.sendall((json.dumps(request) + "\n").encode())
            line = s.makefile().readline()
        answer = json.loads(line)
        if answer.get("result") != "paid":
            raise RuntimeError("dev node: %s" % line)
        self.paid += 1
        return answer["payment"]["preimage"]


def run(c):
    if c["op"] != "l402-requests":
        raise ValueError("unknown op " + c["op"])
    wallet = DevNodeWallet(c["pairing"])
    client = L402Client(wallet=wallet, budget=None)
    statuses = [client.get(c["url"]).status_code for _ in range(2)]
    return {"ok": True, "statuses": statuses, "paid": wallet.paid}


serve_cases(run)
