"""The LLM provider behind /vibe: the Anthropic Messages API through the official `anthropic` SDK (VIBE_BASE_URL
points it at any server speaking that API: the sandbox's stand-in locally).

Everything sent passes through `jarvis.redact.redact` here, the one door to the provider: whatever a question, an
earlier answer or a tool result holds, no configured secret and no Solana secret key leaves in a prompt. Errors
become `ProviderDown` with a sentence for the admin; timeouts are the SDK's (VIBE_TIMEOUT_SECONDS per request).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import anthropic
from django.conf import settings

from jarvis.redact import redact


class ProviderDown(Exception):
    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.message, self.code = message, code


@dataclass(frozen=True)
class ModelTurn:
    content: list[dict]  # text and tool_use blocks, as plain dicts (the next request's assistant message)
    stop_reason: str
    input_tokens: int
    output_tokens: int


@functools.lru_cache(maxsize=4)
def _client(api_key: str, base_url: str | None, timeout: float, retries: int) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=api_key, base_url=base_url, max_retries=retries, timeout=timeout)


def provider_configured() -> bool:
    return bool(settings.VIBE_API_KEY)


def model_turn(*, system: str, messages: list[dict], tools: list[dict], on_text: Callable[[str], None]) -> ModelTurn:
    """One streamed model turn; ``on_text`` gets each piece of text as it arrives."""
    client = _client(settings.VIBE_API_KEY, settings.VIBE_BASE_URL, float(settings.VIBE_TIMEOUT_SECONDS),
                     settings.VIBE_MAX_RETRIES)
    try:
        with client.messages.stream(model=settings.VIBE_MODEL, max_tokens=settings.VIBE_MAX_TOKENS,
                                    system=redact(system), messages=redact(messages), tools=tools) as stream:
            for event in stream:
                if event.type == "text":
                    on_text(event.text)
            final = stream.get_final_message()
    except anthropic.RateLimitError:
        raise ProviderDown("The assistant's provider is limiting our requests right now; ask again in a minute.",
                           "rate_limited") from None
    except anthropic.APITimeoutError:
        raise ProviderDown(f"The assistant's provider did not answer within {settings.VIBE_TIMEOUT_SECONDS} s; ask "
                           "again in a minute.", "timeout") from None
    except anthropic.APIConnectionError:
        raise ProviderDown("The assistant's provider cannot be reached right now; the desk itself is not affected. "
                           "Ask again in a few minutes.", "unreachable") from None
    except (anthropic.AuthenticationError, anthropic.PermissionDeniedError):
        raise ProviderDown("The assistant's provider refused our key; an operator should check VIBE_API_KEY.",
                           "refused") from None
    except anthropic.APIStatusError as exc:
        raise ProviderDown(f"The assistant's provider is having trouble (HTTP {exc.status_code}); ask again in a few "
                           "minutes.", "provider_error") from None
    except anthropic.APIError:
        raise ProviderDown("The assistant's provider sent an answer we could not read; ask again in a minute.",
                           "bad_answer") from None
    content = [block.model_dump(include={"type", "text", "id", "name", "input"}) for block in final.content
               if block.type in ("text", "tool_use")]
    return ModelTurn(content=content, stop_reason=final.stop_reason or "end_turn",
                     input_tokens=final.usage.input_tokens or 0, output_tokens=final.usage.output_tokens or 0)
