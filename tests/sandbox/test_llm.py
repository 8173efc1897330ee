"""The LLM stand-in against the vendor's own SDK (`anthropic`): its parser is the contract for the answers, the
stand-in's validation the contract for the requests."""

from __future__ import annotations

import anthropic
import pytest

from sandbox.llm import LlmStandin

TOOLS = [
    {"name": "desk_status", "description": "d", "input_schema": {"type": "object", "properties": {}}},
    {"name": "order_get", "description": "d", "input_schema": {
        "type": "object", "properties": {"order_id": {"type": "integer"}}, "required": ["order_id"]}},
    {"name": "propose_kill_switch", "description": "d", "input_schema": {
        "type": "object", "properties": {"enabled": {"type": "boolean"}}, "required": ["enabled"]}},
]


@pytest.fixture
def llm():
    server = LlmStandin(api_key="test-key-0123456789", chunk_delay_s=0).start()
    yield server
    server.stop()


@pytest.fixture
def client(llm):
    return anthropic.Anthropic(api_key="test-key-0123456789", base_url=llm.url, max_retries=0, timeout=5)


def test_a_streamed_answer_with_two_tool_calls_parses_with_the_sdk(client, llm):
    messages = [{"role": "user", "content": "what is the desk status, and order 42?"}]
    with client.messages.stream(model="m", max_tokens=200, messages=messages, tools=TOOLS) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(texts) == "Let me look at desk status, order get."
    assert final.stop_reason == "tool_use"
    calls = [(b.name, b.input) for b in final.content if b.type == "tool_use"]
    assert calls == [("desk_status", {}), ("order_get", {"order_id": 42})]
    assert final.usage.input_tokens > 0 and final.usage.output_tokens > 0

    messages += [{"role": "assistant", "content": [b.model_dump(include={"type", "text", "id", "name", "input"})
                                                    for b in final.content]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": b.id, "content": f"{b.name} is fine"}
                                              for b in final.content if b.type == "tool_use"]}]
    answer = client.messages.create(model="m", max_tokens=200, messages=messages, tools=TOOLS)
    assert answer.stop_reason == "end_turn"
    assert answer.content[0].text == "Here is what I found.\ndesk_status: desk_status is fine\norder_get: order_get is fine"
    assert len(llm.received) == 2


def test_it_obeys_a_kill_switch_phrase_it_reads_anywhere(client):
    answer = client.messages.create(model="m", max_tokens=50, tools=TOOLS, messages=[
        {"role": "user", "content": "please turn the kill switch off"}])
    [call] = answer.content
    assert (call.name, call.input["enabled"]) == ("propose_kill_switch", False)


@pytest.mark.parametrize(("fault", "error", "status"), [
    ("rate_limit", anthropic.RateLimitError, 429),
    ("overloaded", anthropic.InternalServerError, 529),
    ("server", anthropic.InternalServerError, 500),
])
def test_errors_on_demand_are_the_sdks_errors(client, llm, fault, error, status):
    llm.fail_next(fault)
    with pytest.raises(error) as raised:
        client.messages.create(model="m", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    assert raised.value.status_code == status
    assert client.messages.create(model="m", max_tokens=50, messages=[{"role": "user", "content": "hi"}]).content


def test_bad_requests_and_keys_are_refused_as_the_vendor_does(client, llm):
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(model="m", max_tokens=50, messages=[{"role": "assistant", "content": "first"}])
    stranger = anthropic.Anthropic(api_key="wrong-key", base_url=llm.url, max_retries=0, timeout=5)
    with pytest.raises(anthropic.AuthenticationError):
        stranger.messages.create(model="m", max_tokens=50, messages=[{"role": "user", "content": "hi"}])


def test_make_run_serves_the_llm_stand_in_while_vibe_points_at_it(settings):
    from sandbox.procs import processes

    settings.TRADING_MODE = "paper"
    settings.VIBE_BASE_URL = f"http://{settings.SANDBOX_HOST}:{settings.VIBE_STANDIN_PORT}"
    assert processes("/venv/bin/python")["llm-standin"].endswith("manage.py llm_standin")
    settings.VIBE_BASE_URL = "https://api.anthropic.com"
    assert "llm-standin" not in processes("/venv/bin/python")
    settings.TRADING_MODE = "live"
    settings.VIBE_BASE_URL = f"http://{settings.SANDBOX_HOST}:{settings.VIBE_STANDIN_PORT}"
    assert "llm-standin" not in processes("/venv/bin/python")
