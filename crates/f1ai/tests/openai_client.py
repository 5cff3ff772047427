"""The official `openai` Python client against `f1ai serve`.

Usage: python3 openai_client.py BASE_URL API_KEY MODEL
Exits non-zero (an AssertionError or the client's exception) on any mismatch.
"""

import json
import sys

import openai
from openai import OpenAI

base_url, key, model = sys.argv[1], sys.argv[2], sys.argv[3]
client = OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0, timeout=120)

served = [m.id for m in client.models.list()]
assert model in served, served

question = [
    {"role": "system", "content": "You are an expert on Formula 1."},
    {"role": "user", "content": "Who won the 2008 Formula 1 drivers' championship?"},
]
whole = client.chat.completions.create(
    model=model, messages=question, max_tokens=24, temperature=0
)
answer = whole.choices[0].message.content
assert whole.object == "chat.completion", whole
assert whole.choices[0].message.role == "assistant"
assert answer and answer.strip(), whole
assert whole.choices[0].finish_reason in ("stop", "length"), whole
assert 0 < whole.usage.completion_tokens <= 24, whole.usage
assert whole.usage.total_tokens == whole.usage.prompt_tokens + whole.usage.completion_tokens

pieces, usage, finish = [], None, None
stream = client.chat.completions.create(
    model=model,
    messages=question,
    max_tokens=24,
    temperature=0,
    stream=True,
    stream_options={"include_usage": True},
)
for chunk in stream:
    assert chunk.object == "chat.completion.chunk", chunk
    if chunk.usage is not None:
        usage = chunk.usage
    for choice in chunk.choices:
        if choice.delta.content:
            pieces.append(choice.delta.content)
        if choice.finish_reason:
            finish = choice.finish_reason
assert len(pieces) > 1, "the answer was not streamed in pieces"
assert "".join(pieces) == answer, ("".join(pieces), answer)
assert finish == whole.choices[0].finish_reason
assert usage is not None and usage.completion_tokens == whole.usage.completion_tokens

try:
    client.chat.completions.create(model="gpt-4o", messages=question, max_tokens=4)
    raise AssertionError("an unknown model was accepted")
except openai.NotFoundError as error:
    assert "not served" in str(error)

try:
    client.chat.completions.create(model=model, messages=question, max_tokens=100000)
    raise AssertionError("max_tokens over the limit was accepted")
except openai.BadRequestError as error:
    assert "max_tokens" in str(error)

# Tools the client brings: an earlier call and its result go back to the model in
# its own call format; a reply that calls a tool comes back as tool_calls.
tools = [
    {
        "type": "function",
        "function": {
            "name": "race_result",
            "description": "A Grand Prix's winner and podium",
            "parameters": {
                "type": "object",
                "properties": {"race": {"type": "string"}},
                "required": ["race"],
            },
        },
    }
]
history = [
    {"role": "user", "content": "Who won the 2021 Abu Dhabi Grand Prix?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {
                    "name": "race_result",
                    "arguments": json.dumps({"race": "2021 Abu Dhabi Grand Prix"}),
                },
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": '{"winner": "Max Verstappen"}'},
]
tooled = client.chat.completions.create(
    model=model, messages=history, tools=tools, max_tokens=24, temperature=0
)
reply = tooled.choices[0].message
assert tooled.choices[0].finish_reason in ("stop", "length", "tool_calls"), tooled
if reply.tool_calls:
    assert tooled.choices[0].finish_reason == "tool_calls"
    for call in reply.tool_calls:
        assert call.type == "function" and call.function.name, call
        assert isinstance(json.loads(call.function.arguments), dict), call
else:
    assert reply.content and reply.content.strip(), tooled
for refused, param in [({"tool_choice": "required"}, "tool_choice"), ({"stream": True}, "stream")]:
    try:
        client.chat.completions.create(
            model=model, messages=question, tools=tools, max_tokens=4, **refused
        )
        raise AssertionError(f"{refused} with tools was accepted")
    except openai.BadRequestError as error:
        assert param in str(error), error

intruder = OpenAI(base_url=f"{base_url}/v1", api_key="wrong", max_retries=0)
try:
    intruder.models.list()
    raise AssertionError("a wrong API key was accepted")
except openai.AuthenticationError:
    pass

print(f"openai client ok: {answer!r} ({whole.usage.completion_tokens} tokens)")
