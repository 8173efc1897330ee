import pytest
from hypothesis import given
from hypothesis import strategies as st

from telegram_app.callbacks import SIG_CHARS, CallbackError, cb_sign, cb_verify

KEY = b"k" * 32
NOW = 1_800_000_000.0
parts = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)


@given(st.integers(min_value=1, max_value=2**40), parts, st.lists(parts, max_size=3))
def test_signed_buttons_verify_for_their_user_only(user_id, action, args):
    data = cb_sign(key=KEY, user_id=user_id, action=action, args=tuple(args), now=NOW)
    assert len(data.encode()) <= 64
    cb = cb_verify(key=KEY, user_id=user_id, data=data, now=NOW + 30)
    assert (cb.action, cb.args) == (action, tuple(args))
    with pytest.raises(CallbackError) as err:
        cb_verify(key=KEY, user_id=user_id + 1, data=data, now=NOW)
    assert err.value.code == "foreign"


@given(st.integers(min_value=1, max_value=2**40), st.sampled_from(["sp", "sc", "bc", "wx", "pv"]),
       st.lists(st.integers(min_value=0, max_value=10**9).map(str), min_size=1, max_size=2), st.binary(min_size=32, max_size=32),
       st.integers(min_value=0, max_value=63), st.characters())
def test_forged_data_is_refused(user_id, action, args, other_key, position, char):
    """Real buttons: one signed with another key, and the genuine one changed by one character anywhere (any
    character, non-ASCII included). Each is well-formed and fresh, so only the signature check can refuse it."""
    genuine = cb_sign(key=KEY, user_id=user_id, action=action, args=tuple(args), now=NOW)
    assert cb_verify(key=KEY, user_id=user_id, data=genuine, now=NOW).args == tuple(args)
    if other_key != KEY:
        forged = cb_sign(key=other_key, user_id=user_id, action=action, args=tuple(args), now=NOW)
        with pytest.raises(CallbackError) as err:
            cb_verify(key=KEY, user_id=user_id, data=forged, now=NOW)
        assert err.value.code == "foreign" and err.value.message.endswith(".")
    index = position % len(genuine)
    changed = genuine[:index] + char + genuine[index + 1:]
    if changed == genuine:
        return
    with pytest.raises(CallbackError) as err:
        cb_verify(key=KEY, user_id=user_id, data=changed, now=NOW)
    assert err.value.message.endswith(".")
    sig_starts = len(genuine) - SIG_CHARS
    if index < sig_starts - 1:  # the action, an argument, the date or a separator between them
        assert err.value.code == "foreign"  # refused by the signature, before the date is even read


def test_non_ascii_where_the_signature_goes_is_refused_with_a_sentence():
    """Regression: hmac.compare_digest raised TypeError on non-ASCII text (a traceback, "Something went wrong")."""
    genuine = cb_sign(key=KEY, user_id=7, action="sp", args=(12, 25), now=NOW)
    for forged in (genuine[:-1] + "é", genuine[:-SIG_CHARS] + "ü" * SIG_CHARS, "sp:12:25:abc:\u0661\u0662", "a:b:\x80"):
        with pytest.raises(CallbackError) as err:
            cb_verify(key=KEY, user_id=7, data=forged, now=NOW)
        assert err.value.code == "malformed" and err.value.message == "That button is not one of mine. Send the command again."


def test_tampered_arguments_are_refused():
    data = cb_sign(key=KEY, user_id=7, action="sp", args=(12, 25), now=NOW)
    forged = data.replace(":12:", ":13:")
    with pytest.raises(CallbackError) as err:
        cb_verify(key=KEY, user_id=7, data=forged, now=NOW)
    assert err.value.code == "foreign"


def test_old_buttons_expire_and_money_buttons_sooner():
    confirm = cb_sign(key=KEY, user_id=7, action="bc", args=(1, 500000000), now=NOW)
    view = cb_sign(key=KEY, user_id=7, action="pos", args=(1,), now=NOW)
    cb_verify(key=KEY, user_id=7, data=view, now=NOW + 3600)
    with pytest.raises(CallbackError) as err:
        cb_verify(key=KEY, user_id=7, data=confirm, now=NOW + 3600)
    assert err.value.code == "stale"
    with pytest.raises(CallbackError):
        cb_verify(key=KEY, user_id=7, data=view, now=NOW + 3 * 86400)
