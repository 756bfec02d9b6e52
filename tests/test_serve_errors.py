"""`classify serve`'s error shape: every error is `{"detail": "<one readable line>"}`, also for a
request FastAPI itself refuses (no `file` field, `top_k=0`), and `GET /` leads to the docs."""

import pytest
import requests

from classify.model import Predictor
from classify.serve import create_app
from tests.helpers import smooth_photo, start_server, untrained_run

CLASSES = ["harbour", "skyline"]


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    app_ = create_app(Predictor(untrained_run(tmp_path_factory.mktemp("run"), CLASSES), "cpu"), top_k=2)
    server, thread, url = start_server(app_)
    yield url
    server.should_exit = True
    thread.join(10)


def one_line_detail(answer: requests.Response) -> str:
    detail = answer.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail, detail  # not FastAPI's list of error dicts
    return detail


def test_a_request_without_the_file_field_says_which_field_is_missing(base_url):
    answer = requests.post(f"{base_url}/predict", data={"other": "x"}, timeout=10)
    assert answer.status_code == 422
    assert "`file` is missing" in one_line_detail(answer)


@pytest.mark.parametrize("top_k", ["0", "-3", "many"])
def test_a_bad_top_k_names_the_parameter_and_the_value(base_url, top_k):
    photo = ("x.jpg", smooth_photo(1, 96, 96, "JPEG"), "image/jpeg")
    answer = requests.post(f"{base_url}/predict", files={"file": photo}, params={"top_k": top_k}, timeout=30)
    assert answer.status_code == 422
    detail = one_line_detail(answer)
    assert "`top_k`" in detail and repr(top_k) in detail


def test_a_good_request_still_answers(base_url):
    photo = ("x.jpg", smooth_photo(1, 96, 96, "JPEG"), "image/jpeg")
    answer = requests.post(f"{base_url}/predict", files={"file": photo}, params={"top_k": 1}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == 1


def test_several_file_parts_or_a_text_field_are_refused_in_one_line(base_url):
    """Audit E: several `file` parts were answered for the last one alone, and `-F file=hello` (text, not a
    file) named the framework's `UploadFile` and `<class 'str'>`."""
    photo = ("x.jpg", smooth_photo(1, 96, 96, "JPEG"), "image/jpeg")
    several = requests.post(f"{base_url}/predict", files=[("file", photo), ("file", photo)], timeout=30)
    assert several.status_code == 422 and one_line_detail(several).startswith("2 files in the multipart field")
    text = requests.post(f"{base_url}/predict", files={"file": (None, "hello")}, timeout=30)
    detail = one_line_detail(text)
    assert text.status_code == 422 and "holds text, not a file" in detail
    assert "UploadFile" not in detail and "class" not in detail


def test_the_form_parsers_refusals_are_in_this_apis_words(base_url):
    """Audit H: a multipart body without a boundary, or of 1,500 fields, was answered in Starlette's words."""
    bare = requests.post(f"{base_url}/predict", data=b"x", headers={"Content-Type": "multipart/form-data"}, timeout=30)
    assert bare.status_code == 400 and one_line_detail(bare).startswith("the multipart body has no boundary")
    many = requests.post(f"{base_url}/predict", files=[(f"f{i}", (None, "x")) for i in range(1100)], timeout=30)
    assert many.status_code == 400 and one_line_detail(many).startswith("the form holds too many parts")
    large = requests.get(f"{base_url}/nothing-here", timeout=10)
    assert large.status_code == 404  # other refusals keep their status


def test_the_root_leads_to_the_interactive_docs(base_url):
    answer = requests.get(f"{base_url}/", timeout=10, allow_redirects=False)
    assert answer.status_code in (302, 307) and answer.headers["location"].endswith("/docs")
    assert requests.get(f"{base_url}/", timeout=10).url.endswith("/docs")
