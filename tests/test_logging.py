"""The logs (app.py: _configure_logging, _log_requests): one access line a request, errors
with their tracebacks, the security log, each line with the request id that the response
carries in ``X-Request-ID``; stderr by default, ``LOG_FILE`` when set.
"""
import logging
import os
import re

import pytest
from flask import abort

import app as application
from tests.conftest import PASSWORD, csrf_token

HEX_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.INFO, logger="crm")
    caplog.set_level(logging.INFO, logger="app")
    return caplog


@pytest.fixture
def restore_logging(app):
    """A test that configures LOG_FILE hands the logging back to the suite's app (stderr)."""
    yield
    application._configure_logging(app)


def access_lines(caplog):
    return [r for r in caplog.records if r.name == "crm.access"]


def test_a_request_logs_one_access_line_with_its_request_id(app, users, client_for, logs):
    response = client_for("supervisor").get("/admin/customer/?search=秘密客户")
    assert response.status_code == 200
    rid = response.headers["X-Request-ID"]
    assert HEX_ID.fullmatch(rid)  # none was given: a new one
    [line] = access_lines(logs)
    assert re.fullmatch(rf"GET /admin/customer/ 200 \d+ms user={users['supervisor'].id} "
                        r"addr=127\.0\.0\.1", line.getMessage())
    assert line.request_id == rid
    assert "秘密" not in line.getMessage()  # the query string (a search) stays out of the log

    anonymous = app.test_client().get("/login")
    assert access_lines(logs)[-1].getMessage().endswith("user=- addr=127.0.0.1")
    assert anonymous.headers["X-Request-ID"] != rid  # one id per request


@pytest.mark.parametrize("given, kept", [
    ("0f8fad5b-d9cb-469f-a165-70867728950e", True),
    ("nginx.7:ab_c", True),
    ("x" * 65, False),
    ("evil\u2028id", False),
    ("two words", False),
])
def test_a_sane_x_request_id_is_kept_any_other_replaced(app, logs, given, kept):
    response = app.test_client().get("/login", headers={"X-Request-ID": given})
    rid = response.headers["X-Request-ID"]
    assert (rid == given) is kept and (kept or HEX_ID.fullmatch(rid))
    assert access_lines(logs)[-1].request_id == rid


def test_a_path_is_logged_without_control_characters(app, logs):
    app.test_client().get("/no-such%0Apage")
    assert access_lines(logs)[-1].getMessage().startswith("GET /no-such%0Apage 404 ")


def boom_app(fresh_app):
    """Outside TESTING, where an unexpected exception becomes the 500 page."""
    app = fresh_app(SECRET_KEY="x", SECURITY_PASSWORD_SALT="y")
    app.add_url_rule("/boom", "boom", lambda: 1 / 0)
    app.add_url_rule("/abort", "abort", lambda: abort(500))
    return app


def test_a_500_logs_the_traceback_with_the_same_request_id(fresh_app, logs):
    app = boom_app(fresh_app)
    response = app.test_client().get("/boom", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500 and "问题已记录" in response.get_data(as_text=True)
    assert response.headers["X-Request-ID"] == "req-500"
    [error] = [r for r in logs.records if r.levelno >= logging.ERROR]
    assert error.name == app.logger.name and error.request_id == "req-500"
    assert error.exc_info[0] is ZeroDivisionError
    assert "ZeroDivisionError" in logs.text and "Traceback" in logs.text
    assert access_lines(logs)[-1].getMessage().startswith("GET /boom 500 ")
    assert access_lines(logs)[-1].request_id == "req-500"

    logs.clear()
    assert app.test_client().get("/abort").status_code == 500  # no exception, logged all the same
    [error] = [r for r in logs.records if r.levelno >= logging.ERROR]
    assert error.getMessage().startswith("500 on /abort [GET]")


def test_a_failed_login_line_carries_the_request_id(app, users, logs):
    client = app.test_client()
    response = client.post("/login", data={"username": "xiaoming", "password": "wrong",
                                           "csrf_token": csrf_token(client)},
                           headers={"X-Request-ID": "login-try-1"})
    assert response.status_code == 200
    [line] = [r for r in logs.records if r.name == "crm.security"]
    assert line.getMessage() == "failed login: 'xiaoming' from 127.0.0.1 (1 of 5)"
    assert line.request_id == "login-try-1" == response.headers["X-Request-ID"]


def test_by_default_the_lines_go_to_stderr_with_time_level_logger_and_request_id(app, capsys):
    app.test_client().get("/login", headers={"X-Request-ID": "to-stderr"})
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d{4} INFO crm\.access \[to-stderr\] "
                     r"GET /login 200 \d+ms user=- addr=127\.0\.0\.1$",
                     capsys.readouterr().err, re.M)


def test_log_file_receives_the_logs_and_follows_a_rotation(fresh_app, tmp_path, users,
                                                           restore_logging, capsys):
    path = tmp_path / "logs" / "crm.log"
    path.parent.mkdir()
    app = fresh_app(LOG_FILE=str(path), SECRET_KEY="x", SECURITY_PASSWORD_SALT="y")
    app.test_client().get("/login", headers={"X-Request-ID": "to-the-file"})
    assert re.search(r" INFO crm\.access \[to-the-file\] GET /login 200 ", path.read_text())
    assert "to-the-file" not in capsys.readouterr().err  # the file instead of stderr

    os.rename(path, f"{path}.1")  # another worker (or logrotate) rotated it
    app.test_client().get("/favicon.ico", headers={"X-Request-ID": "after-rotation"})
    assert "after-rotation" in path.read_text()
    assert "after-rotation" not in open(f"{path}.1").read()
    handler = logging.getLogger("crm").handlers[0]
    assert isinstance(handler, application.LogFile)
    assert (handler.maxBytes, handler.backupCount) == (10 * 1024 * 1024, 5)


def test_a_successful_login_is_logged_with_the_user_id(app, users, logs):
    client = app.test_client()
    response = client.post("/login", data={"username": "xiaoming", "password": PASSWORD,
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 302
    line = access_lines(logs)[-1].getMessage()
    assert line.startswith("POST /login 302 ") and f" user={users['xiaoming'].id} " in line
