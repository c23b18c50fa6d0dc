"""A small human status page (server-rendered, no JavaScript; refreshes itself every 5 s), and the form that
asks for the API key once before it (pure rendering)."""

from __future__ import annotations

from html import escape
from typing import Any


def _rows(items: list[tuple[str, Any]]) -> str:
    return "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>" for k, v in items)


def render(status: dict[str, Any], requests: list[dict[str, Any]]) -> str:
    actors = _rows([
        (name, f"{'up' if a['alive'] else 'DOWN'} (mailbox {a['mailbox']})") for name, a in status["actors"].items()
    ])
    items = _rows(sorted(status["items"].items()))
    pool = status["database"]["pool"]
    reqs = "".join(
        f"<tr><td>{r['id']}</td><td>{escape(r['type'])}</td><td>{escape(r['title'])}"
        f"{' (' + str(r['year']) + ')' if r['year'] else ''}</td><td>{escape(r['status'])}</td>"
        f"<td><progress max=100 value={r['progress']:.0f}></progress> {r['progress']:.1f}%</td>"
        f"<td>{r['items']}</td></tr>"
        for r in requests
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>annexd</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;margin-bottom:1.5em}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}th{{background:#f4f4f4}}</style></head>
<body><h1>annexd {escape(status['version'])}</h1>
<h2>Requests</h2><table><tr><th>id</th><th>type</th><th>title</th><th>status</th><th>progress</th><th>items</th></tr>
{reqs or '<tr><td colspan=6>no requests yet</td></tr>'}</table>
<h2>Items by status</h2><table>{items or '<tr><td>none</td></tr>'}</table>
<h2>Actors</h2><table>{actors}</table>
<h2>Database pool</h2><table>{_rows([('in use', pool['in_use']), ('idle', pool['idle']), ('max', pool['max'])])}</table>
<p><a href="/api/v1/openapi.json">OpenAPI</a> · <a href="/metrics">metrics</a> · <a href="/health">health</a></p>
<form method="post" action="/logout"><button type="submit">Log out</button></form>
</body></html>"""


def login(message: str | None, key_configured: bool) -> str:
    """The form that asks for the API key (kept in a server-side session afterwards, never in the page)."""
    note = message or ("" if key_configured else "No API key is configured: set ANNEX_API_KEY and restart.")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>annexd</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}input{{width:24em}}</style></head>
<body><h1>annexd</h1><p>This page shows what annexd is doing. Enter the API key to see it.</p>
{f'<p role="alert"><strong>{escape(note)}</strong></p>' if note else ''}
<form method="post" action="/login"><label>API key <input type="password" name="key" autocomplete="current-password"
required autofocus></label> <button type="submit">Show status</button></form>
</body></html>"""
