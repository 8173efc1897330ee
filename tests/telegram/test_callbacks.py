import pytest
from hypothesis import given
from hypothesis import strategies as st

from telegram_app.callbacks import CallbackError, cb_sign, cb_verify

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


@given(st.text(max_size=64))
def test_forged_data_is_refused(data):
    with pytest.raises(CallbackError):
        cb_verify(key=KEY, user_id=42, data=data, now=NOW)


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
