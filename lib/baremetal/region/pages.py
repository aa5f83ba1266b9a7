"""The API reference for people: /MAAS/api/2.0/, rendered from the handler registry."""

from __future__ import annotations

from flask import render_template_string

from .registry import registry

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>baremetal: MAAS API 2.0 reference</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}
h2{border-bottom:1px solid #ccc;margin-top:2em}code{background:#f4f4f4;padding:0 .2em}
td{vertical-align:top;padding:.2em .6em}</style></head><body>
<h1>MAAS API 2.0</h1>
<p>Requests are signed with OAuth 1 PLAINTEXT using an API key
(<code>consumer_key:token_key:token_secret</code>). The machine-readable description is at
<a href="describe/">describe/</a>.</p>
{% for resource in resources %}
<h2 id="{{ resource.name }}">{{ resource.name }}</h2>
<p><code>{{ resource.path }}</code>{% if resource.anonymous %} (anonymous){% endif %}
 &mdash; {{ resource.doc }}</p>
<table>{% for action in resource.actions.values() %}
<tr><td><code>{{ action.method }}{% if action.op %} ?op={{ action.op }}{% endif %}</code></td>
<td>{{ action.doc }}{% if action.admin %} <em>(administrators)</em>{% endif %}</td></tr>
{% endfor %}</table>
{% endfor %}
</body></html>"""


def api_reference() -> str:
    return render_template_string(_TEMPLATE, resources=registry.resources)
