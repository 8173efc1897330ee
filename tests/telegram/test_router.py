"""The router on its own (no Telegram, no database): what it answers before any account is looked up."""

from telegram_app.bot.core import Delete, Incoming, Reply
from telegram_app.bot.router import handle


def test_group_chatter_is_ignored_but_keys_in_groups_are_deleted(clean_redis):
    assert handle(Incoming(user_id=1, chat_id=-100, chat_type="group", text="gm everyone", message_id=5)) == []
    key = "1" * 88  # 88 base58 characters but not a key (decodes to 88 bytes)
    assert handle(Incoming(user_id=1, chat_id=-100, chat_type="group", text=key, message_id=6)) == []
    import base58

    real_key = base58.b58encode(bytes(range(1, 65))).decode()
    actions = handle(Incoming(user_id=1, chat_id=-100, chat_type="group", text=f"my key {real_key}", message_id=7))
    assert isinstance(actions[0], Delete) and actions[0].message_id == 7
    assert isinstance(actions[1], Reply) and "deleted it" in actions[1].text and real_key not in actions[1].text


def test_money_commands_in_a_group_are_sent_to_a_private_chat(clean_redis):
    for command in ("/start", "/buy So11111111111111111111111111111111111111112 1", "/wallet"):
        actions = handle(Incoming(user_id=2, chat_id=-100, chat_type="supergroup", text=command, message_id=1))
        assert len(actions) == 1 and "private" in actions[0].text
