"""The stand-in speaks the Bot API to the real python-telegram-bot client over HTTP."""

import asyncio

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Conflict, Forbidden, RetryAfter

from sandbox.telegram.state import ApiError, FloodLimits

TOKEN = "123456:TEST"


def _run(coro):
    return asyncio.run(coro)


def _bot(standin) -> Bot:
    return Bot(TOKEN, base_url=f"{standin.url}/bot")


def test_real_client_sends_edits_answers_and_deletes(standin):
    async def scenario():
        async with _bot(standin) as bot:
            me = await bot.get_me()
            assert me.username == "jarvis_standin_bot"
            standin.send_text(501, "/start")
            updates = await bot.get_updates(timeout=1)
            assert updates[0].message.text == "/start" and updates[0].message.from_user.id == 501
            markup = InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data="go:1")]])
            sent = await bot.send_message(501, "hello", reply_markup=markup)
            standin.press(501, 501, sent.message_id, "go:1")
            updates = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=1)
            query = updates[0].callback_query
            assert query.data == "go:1" and query.message.message_id == sent.message_id
            await bot.answer_callback_query(query.id, text="ok")
            await asyncio.sleep(1.05)  # an edit counts as a message: the chat's next second
            await bot.edit_message_text("edited", chat_id=501, message_id=sent.message_id)
            with pytest.raises(BadRequest, match="not modified"):
                await bot.edit_message_text("edited", chat_id=501, message_id=sent.message_id)
            await bot.delete_message(501, sent.message_id)
            return updates[0].update_id

    update_id = _run(scenario())
    assert standin.bot_messages(501) == []
    assert standin.callback_answer(update_id) == {"text": "ok", "show_alert": False}
    assert [e["method"] for e in standin.log(501)] == ["sendMessage", "answerCallbackQuery", "editMessageText", "deleteMessage"]


def test_second_get_updates_consumer_conflicts(standin):
    async def scenario():
        async with _bot(standin) as first, _bot(standin) as second:
            slow = asyncio.create_task(first.get_updates(timeout=5))
            await asyncio.sleep(0.2)
            fast = asyncio.create_task(second.get_updates(timeout=0.2))
            with pytest.raises(Conflict, match="terminated by other getUpdates"):
                await slow
            assert await fast == ()

    _run(scenario())


def test_webhook_and_polling_exclude_each_other(standin):
    async def scenario():
        async with _bot(standin) as bot:
            await bot.set_webhook("https://bot.example.org/telegram/x/", secret_token="s" * 20)
            with pytest.raises(Conflict, match="webhook is active"):
                await bot.get_updates(timeout=0)
            await bot.delete_webhook()
            assert await bot.get_updates(timeout=0) == ()

    _run(scenario())


def test_a_429_reaches_the_client_with_retry_after(standin):
    standin.send_text(1, "hi")
    standin.world.flood.force(count=1, retry_after=3)

    async def scenario():
        async with _bot(standin) as bot:
            with pytest.raises(RetryAfter) as refused:
                await bot.send_message(1, "one")
            return refused.value

    refused = _run(scenario())
    assert refused.message.startswith("Flood control exceeded") and "3" in refused.message
    assert standin.stats()["flood_429s"] == 1


def test_flood_windows_bot_wide_per_chat_and_per_group():
    limits = FloodLimits()
    t = 1000.0
    for chat in range(30):
        limits.check(chat + 1, t + chat * 0.01)
    with pytest.raises(ApiError) as bulk:
        limits.check(99, t + 0.5)  # the 31st within a second
    assert bulk.value.code == 429 and bulk.value.retry_after == 1
    limits.check(99, t + 1.001)  # the window moved on
    with pytest.raises(ApiError):
        limits.check(99, t + 1.5)  # 1 a second per chat
    limits.check(99, t + 2.01)
    for i in range(20):
        limits.check(-77, t + 10 + i * 0.2 + (i // 10) * 3)  # 20 to one group inside a minute...
    with pytest.raises(ApiError) as group:
        limits.check(-77, t + 30)  # ...and the 21st is refused
    assert group.value.retry_after >= 40
    assert limits.refused == 3


def test_replies_and_edits_count_like_any_message_but_callback_answers_do_not(standin):
    """Telegram's FAQ: about 30 messages a second per bot and 1 a second per chat, with no exception for replies."""
    first, second = standin.send_text(1, "/pnl")["message"], standin.send_text(1, "/wallet")["message"]

    async def scenario():
        async with _bot(standin) as bot:
            await bot.send_message(1, "answer", reply_to_message_id=first["message_id"])
            with pytest.raises(RetryAfter):  # a second reply in the same second of the chat: refused like any message
                await bot.send_message(1, "answer", reply_to_message_id=second["message_id"])
            await asyncio.sleep(1.05)
            sent = await bot.send_message(1, "card", reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton("Go", callback_data="go:1")]]))
            with pytest.raises(RetryAfter):  # an edit in the same second of the same chat: counted
                await bot.edit_message_text("edited", chat_id=1, message_id=sent.message_id)
            update = standin.press(1, 1, sent.message_id, "go:1")
            got = await bot.get_updates(timeout=1)
            query = next(u.callback_query for u in got if u.update_id == update["update_id"])
            assert await bot.answer_callback_query(query.id, text="ok")  # a toast, not a message: never counted

    _run(scenario())
    stats = standin.stats()
    assert stats["flood_429s"] == 2
    assert stats["flood_429s_by_method"] == {"sendMessage": 1, "editMessageText": 1}


def test_permanent_errors(standin):
    standin.send_text(77, "/start")
    standin.block(77)

    async def scenario():
        async with _bot(standin) as bot:
            with pytest.raises(Forbidden, match="(?i)blocked"):
                await bot.send_message(77, "x")
            with pytest.raises(BadRequest, match="(?i)chat not found"):
                await bot.send_message(123456789, "x")

    _run(scenario())


def _png(width: int, height: int) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(out, format="PNG")
    return out.getvalue()


def test_send_photo_takes_a_multipart_upload_or_a_file_id_checks_it_and_counts_it_as_a_message(standin):
    """sendPhoto as the Bot API documents it: an upload (multipart/form-data) or a file_id sent before; at most 10 MB,
    width + height at most 10000, a ratio at most 20, a caption at most 1024 characters; a message like any other."""
    standin.send_text(7, "/pnl")
    picture = _png(120, 63)

    async def scenario():
        async with _bot(standin) as bot:
            sent = await bot.send_photo(7, photo=picture, caption="a card")
            assert sent.photo[-1].width == 120 and sent.photo[-1].height == 63 and sent.caption == "a card"
            with pytest.raises(RetryAfter):  # the chat's second is taken: a picture counts like a message
                await bot.send_photo(7, photo=picture)
            await asyncio.sleep(1.05)
            again = await bot.send_photo(7, photo=sent.photo[-1].file_id)  # a file_id: no upload
            assert again.photo[-1].file_unique_id == sent.photo[-1].file_unique_id
            for photo, caption, error in ((b"not a picture", None, "IMAGE_PROCESS_FAILED"),
                                          (_png(300, 10), None, "PHOTO_INVALID_DIMENSIONS"),
                                          (picture, "x" * 1025, "caption is too long"),
                                          ("https://example.invalid/card.png", None, "wrong file identifier")):
                with pytest.raises(BadRequest, match="(?i)" + error):  # the client re-cases the description
                    await bot.send_photo(7, photo=photo, caption=caption)
            return sent.photo[-1].file_id

    file_id = _run(scenario())
    assert standin.photo(file_id) == picture
    assert [e["method"] for e in standin.log(7)] == ["sendPhoto", "sendPhoto"]
    assert standin.stats()["flood_429s_by_method"] == {"sendPhoto": 1}
