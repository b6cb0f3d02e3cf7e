"""The spreadsheet engine, generic: declaration, query, writes, life cycles, actions, Excel in and out, API.

It knows no business table: declarations (`sheets/<area>.py`) and models are discovered, not listed."""
