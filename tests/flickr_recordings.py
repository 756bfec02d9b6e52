"""Real Flickr answers, recorded by flickr-photos-api's tests (vcrpy cassettes of Flickr's REST XML,
../shared/realdata/flickr-api-recordings), turned into the JSON our client asks for.

Flickr's JSON (format=json&nojsoncallback=1) is a transliteration of its XML: an element's
attributes become keys holding strings, a child element becomes a key (a list for repeated ones
such as <photo>), an element's text becomes {"_content": ...}, and <rsp stat="fail"><err code=..
msg=../></rsp> becomes {"stat": "fail", "code": int, "message": str}.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.helpers import REALDATA

RECORDINGS = REALDATA / "flickr-api-recordings"
LISTS = ("photo",)  # elements that are always lists in Flickr's JSON


def _element(element: ET.Element) -> dict:
    out: dict = dict(element.attrib)
    for child in element:
        value = _element(child)
        if child.tag in LISTS:
            out.setdefault(child.tag, []).append(value)
        else:
            out[child.tag] = value
    if not len(element) and (element.text or "").strip():
        out["_content"] = element.text
    return out


def answer_json(xml: str) -> dict:
    """One recorded XML answer in Flickr's JSON shape."""
    root = ET.fromstring(xml.encode("utf-8"))
    if root.get("stat") == "fail":
        error = root.find("err")
        return {"stat": "fail", "code": int(error.get("code")), "message": error.get("msg")}
    out = {child.tag: _element(child) for child in root}
    out["stat"] = root.get("stat")
    return out


def recorded_answers(cassette: Path, method: str) -> list[dict]:
    """The answers to `method` (e.g. flickr.photos.search) a cassette holds, as JSON, in order."""
    import yaml  # a test dependency (the dev extra)

    data = yaml.safe_load(cassette.read_text(encoding="utf-8"))
    answers = []
    for interaction in data["interactions"]:
        query = parse_qs(urlsplit(interaction["request"]["uri"]).query)
        if query.get("method") != [method]:
            continue
        response = interaction["response"]
        body = response.get("content")
        if body is None:
            body = response.get("body", {}).get("string")
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        if body and body.lstrip().startswith("<"):
            answers.append(answer_json(body))
    return answers
