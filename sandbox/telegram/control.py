"""``/_control/<verb>``: the user side of the stand-in over HTTP, for tools in other processes."""

from __future__ import annotations

from sandbox.telegram.state import ApiError


def control(standin, verb: str, params: dict) -> dict:
    if verb == "send":
        chat_id = params.get("chat_id")
        update = standin.send_text(int(params["user_id"]), str(params["text"]),
                                   chat_id=int(chat_id) if chat_id not in (None, "") else None,
                                   chat_type=str(params.get("chat_type") or "private"))
        return {"update_id": update["update_id"]}
    if verb == "press":
        update = standin.press(int(params["user_id"]), int(params["chat_id"]), int(params["message_id"]), str(params["data"]))
        return {"update_id": update["update_id"]}
    if verb == "messages":
        return {"messages": standin.bot_messages(int(params["chat_id"]))}
    if verb == "log":
        after = int(params.get("after") or 0)
        entries = standin.log(int(params["chat_id"]) if params.get("chat_id") else None)
        return {"log": entries[after:], "next": len(entries)}
    if verb == "block":
        standin.block(int(params["user_id"]))
        return {"ok": True}
    if verb == "stats":
        return standin.stats()
    if verb == "latencies":
        return {"latencies": {str(k): v for k, v in standin.latencies().items()}}
    raise ApiError(404, f"Not Found: no control verb {verb!r}")
