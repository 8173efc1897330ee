"""What every refusal a trader or API client reads must look like, shared by the fuzz and security tests."""

from __future__ import annotations

from hypothesis import strategies as st

# Text a trader could type: the characters parsers care about, mixed with anything Unicode has.
TRICKY = "0123456789.,+-eE%xX SOLsol\t\n٣１²½∞"
tricky_text = st.text(alphabet=TRICKY, max_size=24) | st.text(max_size=40)


def assert_sentence(message: str) -> None:
    """One plain sentence (or two): starts like prose, ends with a full stop, no stack trace, not a wall of text."""
    assert isinstance(message, str) and message.strip(), "empty refusal"
    first = message.lstrip()[0]
    assert first.isupper() or first in "'\"⚠", f"refusal does not start like a sentence: {message!r}"
    assert message.rstrip()[-1] in ".!?", f"refusal does not end like a sentence: {message!r}"
    assert "Traceback" not in message and "Error(" not in message and "Exception" not in message, message
    assert len(message) <= 400, f"refusal too long: {message!r}"
