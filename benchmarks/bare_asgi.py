"""The ceiling for serving benchmarks: an ASGI app that reads and parses a JSON body and answers a small JSON.

    uvicorn benchmarks.bare_asgi:app --workers 2
"""

import json


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    chunks, more = [], True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    document = json.loads(b"".join(chunks))
    items = document.get("requests") or document.get("texts") or []
    body = json.dumps({"items": len(items)}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
