"""Talk to litecursor with the official openai SDK, streaming and not.

    make run                                   # in another terminal
    SSL_CERT_FILE=certs/ca.pem python examples/openai_client.py
"""

import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ.get("LITECURSOR_URL", "https://localhost:4000/v1"),
    api_key=os.environ.get("LITECURSOR_KEY", "sk-litecursor-dev-key"),
)

print([m.id for m in client.models.list().data])

reply = client.chat.completions.create(
    model="mock", messages=[{"role": "user", "content": "Hello without streaming"}]
)
print(reply.choices[0].message.content)

stream = client.chat.completions.create(
    model="mock",
    messages=[{"role": "user", "content": "Hello, streamed word by word"}],
    stream=True,
    stream_options={"include_usage": True},
)
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        print(chunk.choices[0].delta.content, end="", flush=True)
    if chunk.usage:
        print(f"\n[{chunk.usage.prompt_tokens} prompt + {chunk.usage.completion_tokens} completion tokens]")
