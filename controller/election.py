"""The active controller's term on etcd: a lease, a leader key, and writes fenced by both.

Talks to etcd 3.4's JSON gateway (`/v3/...`) over httpx, the HTTP client the daemon already
uses, rather than a gRPC client: no new native dependency, and the gateway is etcd's own.

- `campaign` grants a lease (`ttl_s`) and creates the leader key bound to it in one
  transaction that succeeds only if the key does not exist (`create_revision == 0`): one
  controller holds the key at a time. The term is the key's create revision.
- `keep_alive` renews the lease; a lease etcd lets expire deletes the leader key with it.
- `fenced_put` writes a key only if the leader key still exists with this term's create
  revision and this controller's value: a controller whose lease expired or was revoked, or
  whose key another controller now holds, has its write refused (`Fenced`) by etcd itself,
  not by a timer of its own.

Keys and values travel base64-encoded, as the gateway's JSON mapping of gRPC bytes wants.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import httpx

from chamber.controller.journal import JournalError


class ElectionError(JournalError):
    """etcd refused or could not be reached; one line says why."""


class Fenced(ElectionError):
    """This controller no longer holds the leader key of its term: it must send nothing."""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


@dataclass(frozen=True)
class Term:
    """A won election: the lease, and the leader key's create revision."""

    lease: int
    revision: int


class Election:
    def __init__(
        self, client: httpx.AsyncClient, name: str, *, key: str = "chamber/leader", ttl_s: int = 2
    ) -> None:
        self.client, self.name, self.key, self.ttl_s = client, name, key, ttl_s
        self.term: Term | None = None

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self.client.post(path, json=body)
        except httpx.HTTPError as exc:
            raise ElectionError(f"etcd {path}: {exc}") from exc
        data: dict[str, Any] = response.json() if response.content else {}
        if response.status_code != 200:
            raise ElectionError(f"etcd {path}: {response.status_code} {data.get('message', '')}")
        return data

    async def campaign(self) -> Term | None:
        """Try once to become the leader: the term won, or None while another holds it."""
        grant = await self._post("/v3/lease/grant", {"TTL": self.ttl_s})
        lease = int(grant["ID"])
        txn = await self._post(
            "/v3/kv/txn",
            {
                "compare": [
                    {
                        "key": _b64(self.key),
                        "target": "CREATE",
                        "result": "EQUAL",
                        "create_revision": "0",
                    }
                ],
                "success": [
                    {
                        "request_put": {
                            "key": _b64(self.key),
                            "value": _b64(self.name),
                            "lease": str(lease),
                        }
                    }
                ],
            },
        )
        if not txn.get("succeeded"):
            await self._post("/v3/lease/revoke", {"ID": str(lease)})
            return None
        self.term = Term(lease, int(txn["header"]["revision"]))
        return self.term

    async def keep_alive(self) -> None:
        """Renew the term's lease once (`Fenced` if etcd no longer has it)."""
        if self.term is None:
            raise Fenced("no term held")
        data = await self._post("/v3/lease/keepalive", {"ID": str(self.term.lease)})
        if int(data.get("result", {}).get("TTL", 0)) <= 0:
            raise Fenced(f"lease {self.term.lease} expired")

    async def resign(self) -> None:
        if self.term is not None:
            await self._post("/v3/lease/revoke", {"ID": str(self.term.lease)})
            self.term = None

    async def fenced_put(self, key: str, value: str) -> int:
        """Write `key` only while this term holds the leader key; the revision written."""
        if self.term is None:
            raise Fenced("no term held")
        txn = await self._post(
            "/v3/kv/txn",
            {
                "compare": [
                    {
                        "key": _b64(self.key),
                        "target": "CREATE",
                        "result": "EQUAL",
                        "create_revision": str(self.term.revision),
                    },
                    {
                        "key": _b64(self.key),
                        "target": "VALUE",
                        "result": "EQUAL",
                        "value": _b64(self.name),
                    },
                ],
                "success": [{"request_put": {"key": _b64(key), "value": _b64(value)}}],
            },
        )
        if not txn.get("succeeded"):
            raise Fenced(f"{self.name}: the leader key of term {self.term.revision} is not ours")
        return int(txn["header"]["revision"])
