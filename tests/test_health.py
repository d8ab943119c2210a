"""``/healthz``: for a monitor or load balancer, without login, revealing nothing."""
import json

from models import db, schema

OK, UNAVAILABLE = {"status": "ok"}, {"status": "unavailable"}


def answer(app, method="get"):
    response = getattr(app.test_client(), method)("/healthz")
    return response.status_code, response


def test_healthz_answers_200_without_login_token_or_cookie(app):
    status, response = answer(app)
    assert status == 200 and response.get_json() == OK  # nothing else: no version, no table
    assert "Set-Cookie" not in response.headers  # no session is opened for it
    assert response.headers["Cache-Control"] == "no-store"
    assert answer(app, "head")[0] == 200
    assert "app.healthz" in app.extensions["csrf"]._exempt_views  # a probe sends no token


def test_healthz_answers_503_while_a_migration_is_pending(fresh_app):
    app = fresh_app()
    first = schema.runner(db.obj).migrations()[0].name
    schema.upgrade(db.obj, target=first)
    db.close()
    status, response = answer(app)
    assert status == 503 and response.get_json() == UNAVAILABLE
    schema.upgrade(db.obj)
    db.close()
    assert answer(app)[0] == 200


def test_healthz_answers_503_when_the_database_does_not_answer(fresh_app, tmp_path):
    unreachable = fresh_app(DATABASE_URL="postgresql://crm:secret@127.0.0.1:1/crm")
    status, response = answer(unreachable)
    assert status == 503 and response.get_json() == UNAVAILABLE
    body = response.get_data(as_text=True)
    assert "127.0.0.1" not in body and "secret" not in body  # the reason stays in the log

    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database" * 100)
    status, response = answer(fresh_app(DATABASE_URL=f"sqlite:///{broken}"))
    assert status == 503 and json.loads(response.get_data()) == UNAVAILABLE
