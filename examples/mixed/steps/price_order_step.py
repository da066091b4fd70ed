"""Prices an order (Python): state and a stream written here are read by TypeScript steps."""

import asyncio
import hashlib
import os

from pydantic import BaseModel


class Item(BaseModel):
    sku: str
    qty: int
    price: float


class PlacedOrder(BaseModel):
    id: str
    items: list[Item]
    note: str | None = None
    failTimes: int = 0
    slowMs: int = 0


config = {
    "type": "event",
    "name": "PriceOrder",
    "description": "Computes the order total, records it in state and in the orderStatus stream",
    "subscribes": ["order.placed"],
    "emits": ["order.priced"],
    "input": PlacedOrder.model_json_schema(),
    "flows": ["orders"],
    "infrastructure": {"queue": {"maxRetries": 3}},
}


async def handler(input, context):
    order = PlacedOrder(**input)
    await context.state.set("order-attempts", order.id, context.attempt)
    if context.attempt <= order.failTimes:
        raise RuntimeError(f"simulated failure on attempt {context.attempt} of order {order.id}")
    if order.slowMs and context.attempt == 1:
        await context.state.set("python-pids", order.id, os.getpid())
        context.logger.info("pricing slowly", {"id": order.id, "ms": order.slowMs})
        await asyncio.sleep(order.slowMs / 1000)

    total = round(sum(i.qty * i.price for i in order.items), 2)
    note = order.note or ""
    digest = hashlib.sha256(note.encode()).hexdigest()
    priced = {"id": order.id, "total": total, "noteBytes": len(note.encode()), "noteSha256": digest, "attempt": context.attempt}
    await context.state.set("orders", order.id, priced)
    await context.streams.orderStatus.set("orders", order.id, {"status": "priced", "total": total})
    context.logger.info("Order priced", {"id": order.id, "total": total, "attempt": context.attempt})
    await context.emit({"topic": "order.priced", "data": {**priced, "note": note}})
