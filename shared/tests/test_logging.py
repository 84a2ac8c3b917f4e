"""Logs are JSON, carry the request id, and never contain email addresses or tokens."""

import json
import logging

from rlc_shared.logging import JsonFormatter, redact, request_id


def test_redact() -> None:
    text = "mailed Head.Teacher+rlc@st-thomas.wilts.sch.uk with Bearer abc.def.ghi and eyJhbGciOi.eyJzdWIi.sig"
    out = redact(text)
    assert "st-thomas" not in out and "Head.Teacher" not in out
    assert "abc.def.ghi" not in out and "eyJ" not in out
    assert out.count("[email]") == 1
    logged_url = "GET http://recruitment/schools/by-email?email=office%40st-thomas.sch.uk HTTP/1.1"
    assert "st-thomas" not in redact(logged_url)
    assert redact("office%2Bx%40school.example") == "[email]"


def test_json_format_with_request_id() -> None:
    token = request_id.set("rid-1")
    try:
        record = logging.makeLogRecord(
            {
                "name": "rlc.test",
                "levelno": 20,
                "levelname": "INFO",
                "msg": "school %s at %s",
                "args": (100001, "office@school.example"),
                "extra_field": "x@y.example",
            }
        )
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert line["request_id"] == "rid-1"
    assert line["msg"] == "school 100001 at [email]"
    assert line["extra_field"] == "[email]"
    assert line["level"] == "INFO"
