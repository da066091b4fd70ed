"""A Python cron step: every hour, counts the priced orders."""

config = {
    "type": "cron",
    "name": "OrderAudit",
    "description": "Hourly count of priced orders",
    "cron": "0 * * * *",
    "emits": [],
    "flows": ["orders"],
}


async def handler(context):
    orders = await context.state.get_group("orders")
    context.logger.info("order audit", {"orders": len(orders)})
