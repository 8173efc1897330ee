"""A private key or seed phrase pasted anywhere is deleted with a warning: every common form, in a private chat
and in a group, through the bot (the real python-telegram-bot client) against the Bot API stand-in."""

from __future__ import annotations

import base64
import json

import base58
import pytest
from mnemonic import Mnemonic
from solders.keypair import Keypair

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("quick_chats")]  # many screens, one chat

KEYPAIR = Keypair.from_seed(bytes(range(7, 39)))
RAW = bytes(KEYPAIR)
BIP39 = Mnemonic("english")
KEY_FORMS = {
    "base58": base58.b58encode(RAW).decode(),
    "json array": json.dumps(list(RAW)),
    "json array, one number a line": "[\n" + ",\n".join(str(b) for b in RAW) + "\n]",
    "hex": RAW.hex(),
    "0x-hex": "0x" + RAW.hex().upper(),
    "hex seed (32 bytes)": "0x" + RAW[:32].hex(),
    "base64": base64.b64encode(RAW).decode(),
    "base64url, unpadded": base64.urlsafe_b64encode(RAW).decode().rstrip("="),
    "12-word phrase": BIP39.to_mnemonic(bytes(range(16))),
    "24-word phrase": BIP39.to_mnemonic(bytes(range(100, 132))),
    "numbered phrase": " ".join(f"{i}. {w}" for i, w in enumerate(BIP39.to_mnemonic(bytes(16)).split(), 1)),
    "phrase, one word a line": BIP39.to_mnemonic(bytes(range(200, 216))).replace(" ", "\n"),
    "inside a sentence": f"hey can you check my wallet {RAW.hex()} thanks",
}
CHATS = {"private": {}, "group": {"chat_id": -7001, "chat_type": "group"}}


def _deleted_with_a_warning(user, text: str) -> str:
    from tests.conftest import wait_for

    before = len(user.standin.log(user.chat_id))
    update = user.standin.send_text(user.user_id, text, chat_id=user.chat_id, chat_type=user.chat_type)
    message_id = update["message"]["message_id"]
    assert user.standin.message(user.chat_id, message_id) is not None
    wait_for(lambda: len(user.standin.log(user.chat_id)[before:]) >= 2, message="the delete and the warning")
    delete, warning = user.standin.log(user.chat_id)[before:before + 2]
    assert delete["method"] == "deleteMessage" and user.standin.message(user.chat_id, message_id) is None
    assert warning["method"] == "sendMessage" and "so I deleted it" in warning["text"]
    assert "private key or a seed phrase" in warning["text"] and text.strip() not in warning["text"]
    return warning["text"]


@pytest.mark.parametrize("chat", sorted(CHATS))
@pytest.mark.parametrize("form", list(KEY_FORMS))
def test_every_key_form_is_deleted_with_a_warning_in_private_chats_and_groups(tg_user, form, chat):
    user = tg_user(301, **CHATS[chat])
    if chat == "private":
        user.send("/start")
    warning = _deleted_with_a_warning(user, KEY_FORMS[form])
    assert ("a group" in warning) == (chat == "group")


@pytest.mark.parametrize("chat", sorted(CHATS))
def test_a_key_in_a_photo_caption_or_edited_into_a_message_is_deleted(tg_user, chat):
    from tests.conftest import wait_for

    user = tg_user(304, **CHATS[chat])
    if chat == "private":
        user.send("/start")
    before = len(user.standin.log(user.chat_id))
    photo = user.standin.send_photo(304, f"my wallet {KEY_FORMS['0x-hex']}", chat_id=user.chat_id, chat_type=user.chat_type)
    wait_for(lambda: len(user.standin.log(user.chat_id)[before:]) >= 2, message="the photo deleted and the warning")
    assert user.standin.message(user.chat_id, photo["message"]["message_id"]) is None
    assert "so I deleted it" in user.standin.log(user.chat_id)[-1]["text"]

    innocent = user.standin.send_text(304, "my seed is", chat_id=user.chat_id, chat_type=user.chat_type)
    assert "/positions" in user.send("/help")["text"]  # handled in order: the innocent message was read and left
    message_id = innocent["message"]["message_id"]
    assert user.standin.message(user.chat_id, message_id) is not None
    before = len(user.standin.log(user.chat_id))
    user.standin.edit_text(304, message_id, f"my seed is {KEY_FORMS['12-word phrase']}", chat_id=user.chat_id,
                           chat_type=user.chat_type)
    wait_for(lambda: len(user.standin.log(user.chat_id)[before:]) >= 2, message="the edited message deleted")
    assert user.standin.message(user.chat_id, message_id) is None
    assert "so I deleted it" in user.standin.log(user.chat_id)[-1]["text"]


def test_a_key_in_the_middle_of_another_conversation_is_deleted_not_read(tg_user):
    from telegram_app.models import ConversationState

    user = tg_user(302)
    user.send("/start")
    user.send("/settings")
    user.press("Edit buy presets")  # the bot now waits for amounts
    _deleted_with_a_warning(user, KEY_FORMS["base64"])
    assert ConversationState.objects.get(telegram_user_id=302).state == "presets"  # still waiting, nothing read


def test_ordinary_text_stays_and_a_transaction_signature_is_deleted_on_purpose(tg_user):
    from tests.conftest import wait_for

    private, group = tg_user(303), tg_user(303, chat_id=-7002, chat_type="group")
    private.send("/start")
    ordinary = [
        "hello there",
        "abandon ability able about above absent absorb abstract absurd abuse access accident",  # words, no checksum
        "buy 0.5 of 0x" + "ab" * 20,  # hex, but 20 bytes (an EVM address)
        "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",  # a Solana address: 32 bytes of base58
    ]
    for text in ordinary[:3]:
        before = len(private.standin.log(303))
        update = private.standin.send_text(303, text)
        wait_for(lambda: update["update_id"] in private.standin.world.answered, message=f"answer to {text!r}")
        answers = private.standin.log(303)[before:]
        assert [e["method"] for e in answers] == ["sendMessage"] and "did not understand" in answers[0]["text"], text
        assert private.standin.message(303, update["message"]["message_id"]) is not None, text
    for text in ordinary:
        update = group.standin.send_text(303, text, chat_id=-7002, chat_type="group")
        assert "/positions" in group.send("/help")["text"]  # handled in order: the chatter before it is done
        assert group.standin.message(-7002, update["message"]["message_id"]) is not None, text
    assert [e["method"] for e in group.standin.log(-7002)] == ["sendMessage"] * len(ordinary)  # only /help answered
    # A transaction signature is 64 bytes of base58 like a key: deleted too, as docs/telegram.md says.
    signature = str(KEYPAIR.sign_message(b"a transaction"))
    _deleted_with_a_warning(group, f"did my tx {signature} land?")
    _deleted_with_a_warning(private, signature)
