"""The review page: server-rendered HTML with a little plain JavaScript (no build step, no CDN)."""

from __future__ import annotations

import html
import json
from urllib.parse import urlencode

import pandas as pd

from curate import schema
from curate.prefilter.outliers import UNLIKE_Z
from curate.review.queues import QUEUES

CARD_FIELDS = ("owner_id", "license", "topic_score", "label_quality", "geo_distance_km")


def e(value) -> str:
    """HTML-escaped text ('' for missing values)."""
    if value is None or (not isinstance(value, (list, tuple)) and pd.isna(value)):
        return ""
    return html.escape(str(value), quote=True)


def state_line(state: dict) -> str:
    """What the card's photo is now, e.g. 'kept · reviewed: kept · relabelled → paris'."""
    parts = [state["status"] + (f" ({state['drop_reason']})" if state.get("drop_reason") else "")]
    if state.get("review_status"):
        parts.append(f"reviewed: {state['review_status']}")
    if state.get("review_label"):
        parts.append(f"relabelled → {state['review_label']}")
    return " · ".join(parts)


def mini_map(lat, lon) -> str:
    """A 120x60 equirectangular world box with the photo's position as a dot ('' without coordinates)."""
    if lat is None or lon is None or pd.isna(lat) or pd.isna(lon):
        return ""
    x, y = (float(lon) + 180) / 3, (90 - float(lat)) / 3
    return (f'<svg class="map" width="120" height="60" viewBox="0 0 120 60" role="img" '
            f'aria-label="{float(lat):.4f}, {float(lon):.4f}"><rect width="120" height="60"/>'
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5"/></svg>')


def _tags(cell) -> str:
    tags = [] if cell is None or isinstance(cell, float) else list(cell)
    shown = ", ".join(tags[:12]) + (f" … (+{len(tags) - 12})" if len(tags) > 12 else "")
    return e(shown)


def _number(value) -> str:
    return "" if value is None or pd.isna(value) else f"{float(value):.3g}"


def card(index: int, row: dict, why: str, state: dict, cluster: list[dict]) -> str:
    """One photo's card: thumbnail (click: full size), facts, why it is flagged, its state, buttons."""
    pid = row[schema.PHOTO_ID]
    facts = "".join(f"<dt>{e(name)}</dt><dd>{e(row.get(name))}</dd>" for name in ("owner_id", "license"))
    facts += "".join(f"<dt>{e(name)}</dt><dd>{_number(row.get(name))}</dd>"
                     for name in ("topic_score", "label_quality", "label_fit", "geo_distance_km")
                     if pd.notna(row.get(name)))
    if pd.notna(row.get("lat")):
        facts += f"<dt>lat, lon</dt><dd>{float(row['lat']):.4f}, {float(row['lon']):.4f}</dd>"
    members = "".join(
        f'<a href="image/{e(m["photo_id"])}" target="_blank" title="{e(m["photo_id"])}" class="member'
        f'{" kept" if m["status"] == "kept" else ""}"><img loading="lazy" src="thumb/{e(m["photo_id"])}" '
        f'alt="{e(m["photo_id"])}"><span>{"kept" if m["status"] == "kept" else "dropped"}</span></a>'
        for m in cluster)
    # the model's best label is a suggestion only where it differs from the photo's: a photo flagged as unlike
    # its label's photos often gets its own label back, and `s` would relabel it to itself (audit AG); and none
    # for a photo unlike its label, which no label may fit (audit EG: a shoe offered "suggested black (s)")
    suggested = row.get("suggested_label")
    fit = row.get("label_fit")
    unlike = fit is not None and pd.notna(fit) and float(fit) < -UNLIKE_Z
    suggested = suggested if pd.notna(suggested) and suggested != row.get("label") and not unlike else None
    return (
        f'<article class="card" id="card-{index}" tabindex="-1" data-photo-id="{e(pid)}" '
        f'data-suggested="{e(suggested)}">'
        f'<a href="image/{e(pid)}" target="_blank"><img class="thumb" loading="lazy" src="thumb/{e(pid)}" '
        f'alt="{e(pid)}"></a>'
        f'<div class="body"><h3>{e(pid)}</h3>'
        f'<p class="label">label <b class="cur-label">{e(state.get("label"))}</b>'
        + (f' · suggested <b>{e(suggested)}</b> (s)' if suggested is not None else "")
        + f'</p><p class="why">{e(why)}</p>'
        f'<p class="state" data-status="{e(state["status"])}" data-label="{e(state.get("label"))}" '
        f'data-review="{e(state.get("review_status"))}">{e(state_line(state))}</p>'
        f'<p class="tags">{_tags(row.get("tags"))}</p><dl>{facts}</dl>{mini_map(row.get("lat"), row.get("lon"))}'
        f'<p class="buttons"><button data-act="keep">keep (k)</button> <button data-act="drop">drop (d)</button> '
        f'<button data-act="undo">undo</button> <button data-act="relabel">relabel…</button></p>'
        + (f'<div class="cluster">{members}</div>' if members else "") + "</div></article>")


def _nav(queue: str, sizes: dict[str, int], token_query: dict) -> str:
    links = []
    for name in QUEUES:
        current = ' aria-current="page"' if name == queue else ""
        links.append(f'<a href="?{urlencode({"queue": name, **token_query})}"{current}>{e(name)} '
                     f'<small>{sizes.get(name, 0):,}</small></a>')
    return "<nav>" + "".join(links) + "</nav>"


def _pager(queue: str, page: int, pages: int, label: str, owner: str, token_query: dict) -> str:
    def link(target: int, text: str) -> str:
        query = urlencode({"queue": queue, "page": target, "label": label, "owner": owner, **token_query})
        return f'<a href="?{query}" id="{text}">{text}</a>'
    parts = [link(page - 1, "previous") if page > 0 else "", f"page {page + 1} of {max(pages, 1)}",
             link(page + 1, "next") if page + 1 < pages else ""]
    return '<p class="pager">' + " · ".join(p for p in parts if p) + "</p>"


def render_page(*, queue: str, sizes: dict, cards: list[str], page: int, pages: int, total: int, label: str,
                owner: str, labels: list[str], csrf: str, busy: bool, user: str, token_query: dict) -> str:
    """The whole review page."""
    banner = ('<p id="busy" class="busy">A curate command is changing this workspace right now: decisions are '
              'paused until it finishes. Reload in a moment.</p>' if busy else '<p id="busy" class="busy" hidden></p>')
    legend = " ".join(f"<kbd>{i + 1}</kbd> {e(name)}" for i, name in enumerate(labels[:9]))
    options = "".join(f'<option value="{e(name)}">' for name in labels)
    filters = (f'<form class="filters" method="get"><input type="hidden" name="queue" value="{e(queue)}">'
               + "".join(f'<input type="hidden" name="{e(k)}" value="{e(v)}">' for k, v in token_query.items())
               + f'<label>label <input name="label" value="{e(label)}" list="labels"></label> '
               f'<label>owner <input name="owner" value="{e(owner)}"></label> <button>filter</button></form>'
               f'<p class="batch">{total:,} photos in this view: <button id="batch-keep">keep all</button> '
               f'<button id="batch-drop">drop all</button></p>')
    config = json.dumps({"csrf": csrf, "queue": queue, "label": label, "owner": owner, "labels": labels[:9]})
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>curate review: "
            f"{e(queue)}</title><link rel=\"icon\" href=\"data:,\"><style>{CSS}</style></head><body>"
            f"<header><h1>curate review</h1><span>as {e(user)}</span>{_nav(queue, sizes, token_query)}</header>"
            f"{banner}{filters}<p class=\"keys\"><kbd>k</kbd> keep · <kbd>d</kbd> drop · <kbd>s</kbd> suggested "
            f"label · {legend} · <kbd>l</kbd> type a label · <kbd>u</kbd> undo · arrows move</p>"
            f'<p id="msg" role="status"></p><datalist id="labels">{options}</datalist>'
            f'<div id="typeahead" hidden><input id="label-input" list="labels" placeholder="label, then Enter"></div>'
            f'<main id="cards">{"".join(cards) or "<p>Nothing in this queue.</p>"}</main>'
            f"{_pager(queue, page, pages, label, owner, token_query)}"
            f'<script id="config" type="application/json">{html.escape(config, quote=False)}</script>'
            f"<script>{SCRIPT}</script></body></html>\n")


CSS = """
body{font:14px system-ui,sans-serif;margin:0 1em}header{display:flex;gap:1em;align-items:baseline;flex-wrap:wrap}
nav a{margin-right:.8em}nav a[aria-current]{font-weight:bold}.busy{background:#fdd;padding:.5em}
#cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:.8em}
.card{display:flex;gap:.6em;border:2px solid #ddd;padding:.5em;border-radius:6px}
.card.current{border-color:#06c;box-shadow:0 0 0 2px #9cf}.thumb{width:160px;height:auto}
.card h3{font-size:13px;margin:0}.card p{margin:.2em 0}.state[data-status=dropped]{color:#a00}
.state[data-review]:not([data-review=""]){font-weight:bold}dl{display:grid;grid-template-columns:auto 1fr;
margin:0;font-size:12px}dd{margin:0 0 0 .5em}.map rect{fill:#eef;stroke:#99a}.map circle{fill:#c00}
.cluster{display:flex;gap:4px;flex-wrap:wrap}.member img{width:56px}.member{font-size:10px;text-align:center;
opacity:.6}.member.kept{opacity:1;outline:2px solid #080}.tags{color:#555;font-size:12px}#msg{min-height:1.2em}
"""

SCRIPT = r"""
(() => {
const config = JSON.parse(document.getElementById('config').textContent);
const cards = Array.from(document.querySelectorAll('.card'));
const msg = document.getElementById('msg');
let current = 0;
function focusCard(i) {
  if (!cards.length) return;
  current = Math.max(0, Math.min(cards.length - 1, i));
  cards.forEach((c, j) => c.classList.toggle('current', j === current));
  cards[current].scrollIntoView({block: 'nearest'});
}
function describe(s) {
  let parts = [s.status + (s.drop_reason ? ' (' + s.drop_reason + ')' : '')];
  if (s.review_status) parts.push('reviewed: ' + s.review_status);
  if (s.review_label) parts.push('relabelled \u2192 ' + s.review_label);
  return parts.join(' \u00b7 ');
}
function show(states) {
  for (const card of cards) {
    const s = states[card.dataset.photoId];
    if (!s) continue;
    const p = card.querySelector('.state');
    p.dataset.status = s.status; p.dataset.label = s.label || ''; p.dataset.review = s.review_status || '';
    p.textContent = describe(s);
    card.querySelector('.cur-label').textContent = s.label || '';
  }
}
async function post(path, body) {
  const response = await fetch(path + location.search, {method: 'POST', credentials: 'same-origin',
    headers: {'Content-Type': 'application/json', 'X-CSRF-Token': config.csrf}, body: JSON.stringify(body)});
  const data = await response.json().catch(() => ({detail: 'the server answered ' + response.status}));
  if (!response.ok) { msg.textContent = data.detail || ('error ' + response.status);
    if (response.status === 409) document.getElementById('busy').hidden = false; return null; }
  show(data.state); msg.textContent = data.message; return data;
}
async function decide(action, label, card) {
  card = card || cards[current];
  if (!card) return;
  const done = await post('api/decide', {photo_ids: [card.dataset.photoId], action, label, queue: config.queue});
  if (done && card === cards[current]) focusCard(current + 1);
}
function relabelPrompt(card) {
  const box = document.getElementById('typeahead'), input = document.getElementById('label-input');
  box.hidden = false; input.value = ''; input.focus();
  input.onkeydown = (ev) => {
    if (ev.key === 'Enter' && input.value.trim()) { box.hidden = true; decide('relabel', input.value.trim(), card); }
    if (ev.key === 'Escape' || ev.key === 'Enter') { box.hidden = true; input.blur(); ev.preventDefault(); }
    ev.stopPropagation();
  };
}
document.addEventListener('keydown', (ev) => {
  if (ev.target.tagName === 'INPUT' || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const card = cards[current];
  if (ev.key === 'ArrowRight' || ev.key === 'ArrowDown' || ev.key === 'j') focusCard(current + 1);
  else if (ev.key === 'ArrowLeft' || ev.key === 'ArrowUp') focusCard(current - 1);
  else if (ev.key === 'k') decide('keep');
  else if (ev.key === 'd') decide('drop');
  else if (ev.key === 'u') post('api/undo', {});
  else if (ev.key === 's' && card && card.dataset.suggested) decide('relabel', card.dataset.suggested);
  else if (/^[1-9]$/.test(ev.key) && config.labels[+ev.key - 1]) decide('relabel', config.labels[+ev.key - 1]);
  else if (ev.key === 'l' || ev.key === '/') relabelPrompt(card);
  else return;
  ev.preventDefault();
});
cards.forEach((card, i) => {
  card.addEventListener('click', () => focusCard(i));
  card.querySelectorAll('button[data-act]').forEach((b) => b.addEventListener('click', (ev) => {
    ev.stopPropagation(); focusCard(i);
    const act = b.dataset.act;
    if (act === 'undo') post('api/undo', {photo_id: card.dataset.photoId});
    else if (act === 'relabel') relabelPrompt(card);
    else decide(act, null, card);
  }));
});
for (const action of ['keep', 'drop']) {
  const b = document.getElementById('batch-' + action);
  if (b) b.addEventListener('click', () => {
    if (confirm(action + ' every photo in this view?'))
      post('api/batch', {action, queue: config.queue, label: config.label, owner: config.owner});
  });
}
focusCard(0);
})();
"""
