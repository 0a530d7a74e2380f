"""lightning-toll (PyPI), an L402 server whose token is not a macaroon, selling one route
through the l402 dev node.

Usage: python3 py/toll.py <pairing dir> <price in sat>. A FastAPI app served by uvicorn on
127.0.0.1 at an ephemeral port; GET /protected is behind create_toll(), whose wallet asks the
dev node for invoices and their status through its pairing protocol (one JSON line per loopback
TCP connection). Every request is recorded as it arrives: method, path and the Authorization
scheme. Writes {"url", "body"} as one line on stdout once listening; when stdin closes, writes
{"requests": [...], "invoices": [<payment hashes invoiced>], "paid": [<those the wallet's
lookup_invoice reports paid>]} and exits.
"""
import asyncio
import json
import os
import secrets
import socket
import sys
import threading

sys.path.insert(0, os.path.join(os.environ["L402_INTEROP_DIR"], "py"))

import uvicorn  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import PlainTextResponse  # noqa: E402
from lightning_toll import create_toll  # noqa: E402
from lightning_toll.nwc import InvoiceResult, LookupResult  # noqa: E402

PROTECTED = "lightning-toll protected content"


class DevNodeWallet:
    """The wallet create_toll() takes, backed by the dev node. lightning-toll 0.1.1 calls only
    create_invoice (and wait_for_payment, for an on_payment callback this app does not set);
    lookup_invoice is its NWC wallet's, used here to report what the server side saw paid."""

    def __init__(self, pairing):
        self.pairing = pairing
        self.invoiced = []

    async def _call(self, request):
        host, port = self.pairing["addr"].rsplit(":", 1)
        request = {"v": 1, "secret": self.pairing["secret"], **request}
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write((json.dumps(request) + "\n").encode())
        await writer.drain()
        line = await reader.readline()
        writer.close()
        answer = json.loads(line)
        if answer.get("result") == "error":
            raise RuntimeError("dev node: %s: %s" % (answer["code"], answer["message"]))
        return answer

    async def create_invoice(self, amount_sats, description="", expiry=300):
        answer = await self._call(
            {
                "op": "invoice",
                "amount_msat": amount_sats * 1000,
                "memo": description,
                "expiry_secs": expiry,
            }
        )
        self.invoiced.append(answer["payment_hash"])
        return InvoiceResult(invoice=answer["bolt11"], payment_hash=answer["payment_hash"])

    async def lookup_invoice(self, payment_hash):
        answer = await self._call({"op": "lookup", "payment_hash": payment_hash})
        paid = answer["payment"]
        return LookupResult(paid=paid is not None, preimage=paid and paid["preimage"])


def main():
    pairing_dir, price = sys.argv[1], int(sys.argv[2])
    with open(os.path.join(pairing_dir, "dev-node.json")) as f:
        wallet = DevNodeWallet(json.load(f))
    toll = create_toll(wallet=wallet, secret=secrets.token_hex(32), default_sats=price)

    requests = []
    app = FastAPI()

    @app.middleware("http")
    async def record(request: Request, call_next):
        auth = request.headers.get("authorization")
        requests.append(
            {
                "method": request.method,
                "path": request.url.path,
                "scheme": auth.split(" ")[0] if auth else None,
            }
        )
        return await call_next(request)

    # The decorator, not its README's `Depends(toll(sats=...))`: that dependency's `request`
    # parameter is annotated `Any`, so FastAPI asks for it in the query string (422).
    @app.get("/protected")
    @toll.require(sats=price)
    async def protected(request: Request):
        return PlainTextResponse(PROTECTED)

    # Listening before the URL is printed, so the first request cannot be refused.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    # No log configuration: uvicorn's default sends access lines to stdout, which is ours.
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))

    def stop_when_stdin_closes():
        sys.stdin.read()
        server.should_exit = True

    threading.Thread(target=stop_when_stdin_closes, daemon=True).start()
    print(json.dumps({"url": "http://127.0.0.1:%d/protected" % port, "body": PROTECTED}), flush=True)

    async def serve():
        await server.serve(sockets=[sock])
        paid = [h for h in wallet.invoiced if (await wallet.lookup_invoice(h)).paid]
        return {"requests": requests, "invoices": wallet.invoiced, "paid": paid}

    print(json.dumps(asyncio.run(serve())), flush=True)


main()
