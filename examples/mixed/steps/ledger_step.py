"""A FIFO queue handled in Python: entries of one account (its message group) are applied in order."""

config = {
    "type": "event",
    "name": "ApplyLedgerEntry",
    "description": "Appends each entry to its account's ledger, one at a time per account",
    "subscribes": ["ledger.entry"],
    "emits": [],
    "flows": ["ledger"],
    "infrastructure": {"queue": {"type": "fifo"}},
}


async def handler(entry, context):
    account = entry["account"]
    ledger = await context.state.get("ledgers", account)
    entries = ledger["data"]["entries"] if ledger.get("data") else []  # Motia's Python state.get shape
    entries.append(entry["seq"])
    await context.state.set("ledgers", account, {"entries": entries})
