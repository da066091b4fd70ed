config = {"type": "event", "name": "PyChainA", "subscribes": ["pychain.a"], "emits": ["pychain.b"]}


async def handler(input, context):
    await context.emit({"topic": "pychain.b", "data": input})
