config = {"type": "event", "name": "PyChainB", "subscribes": ["pychain.b"], "emits": []}


async def handler(input, context):
    pass
