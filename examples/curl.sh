#!/usr/bin/env bash
# A streamed request in the shape Cursor's Agent mode sends (Responses `input`), answered as
# Chat Completions chunks. Start the demo first: make run
set -euo pipefail
URL=${LITECURSOR_URL:-https://localhost:4000/cursor}
KEY=${LITECURSOR_KEY:-sk-litecursor-dev-key}
curl --no-buffer -sS --cacert "${CA:-certs/ca.pem}" "$URL/chat/completions" \
  -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \
  -d '{
    "model": "gpt-5-mock",
    "stream": true,
    "stream_options": {"include_usage": true},
    "input": [{"role": "user", "content": [{"type": "input_text", "text": "/tool ReadFile {\"path\": \"README.md\"}"}]}],
    "tools": [{"type": "function", "name": "ReadFile", "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}]
  }'
echo
