"""Configuration in one place (config.py): the env file, the environment and a test's dict, in
that order of strength; the settings table of docs/DEPLOY.md; values that cannot be used; the
secrets; and commands that refuse a database without tables instead of filling a new one
(the cron line that saw no DATABASE_URL).
"""
import os
import re
import subprocess
import sys

import pytest

import config
from app import create_app
from models import db, open_database, schema
from tests.conftest import scratch_database

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def env_file(tmp_path, text):
    path = tmp_path / "crm.env"
    path.write_text(text, encoding="utf-8")
    return str(path)


# -- where a value comes from --------------------------------------------------------------

def test_the_environment_wins_over_the_env_file_which_wins_over_the_default(tmp_path):
    path = env_file(tmp_path, "CHURN_MONTHS=3\nLOCKOUT_ATTEMPTS=7\nTIMEZONE=Europe/Berlin\n"
                              "# LOCKOUT_MINUTES=99\nBACKUP_KEEP=\n")
    settings = config.load({"CRM_ENV_FILE": path, "CHURN_MONTHS": "4",
                            "CRM_INSTANCE_PATH": str(tmp_path / "inst")})
    values, sources = settings.values, settings.sources
    assert (values["CHURN_MONTHS"], sources["CHURN_MONTHS"]) == (4, "environment")
    assert (values["LOCKOUT_ATTEMPTS"], sources["LOCKOUT_ATTEMPTS"]) == (7, path)
    assert values["TIMEZONE"] == "Europe/Berlin"
    assert (values["LOCKOUT_MINUTES"], sources["LOCKOUT_MINUTES"]) == (15, "default")
    assert values["BACKUP_KEEP"] == 14  # empty counts as unset
    # Defaults that depend on the instance folder follow it.
    assert values["DATABASE_URL"] == f"sqlite:///{tmp_path}/inst/crm.db"
    assert values["BACKUP_DIR"] == f"{tmp_path}/inst/backups"


def test_the_default_env_file_is_crm_env_in_the_instance_folder(tmp_path):
    instance = tmp_path / "inst"
    instance.mkdir()
    (instance / "crm.env").write_text("PROXY_COUNT=2\n")
    settings = config.load({"CRM_INSTANCE_PATH": str(instance)})
    assert settings.env_file == str(instance / "crm.env") and settings.values["PROXY_COUNT"] == 2
    assert config.load({"CRM_INSTANCE_PATH": str(tmp_path)}).values["PROXY_COUNT"] == 0


def test_the_env_file_may_name_the_instance_folder_and_takes_values_literally(tmp_path):
    path = env_file(tmp_path, f"CRM_INSTANCE_PATH={tmp_path}/var\n"
                              "DATABASE_URL=postgresql://crm:pa$$w${HOME}rd@db/crm\n")
    settings = config.load({"CRM_ENV_FILE": path})
    assert settings.instance_path == f"{tmp_path}/var"
    assert settings.values["DATABASE_URL"] == "postgresql://crm:pa$$w${HOME}rd@db/crm"


def test_create_app_reads_the_env_file_and_a_test_dict_wins_over_everything(
        fresh_app, tmp_path, monkeypatch):
    path = env_file(tmp_path, f"DATABASE_URL=sqlite:///{tmp_path}/from-file.db\n"
                              "SECRET_KEY=file-key\nSECURITY_PASSWORD_SALT=file-salt\n"
                              "LOCKOUT_ATTEMPTS=7\nCHURN_MONTHS=3\nHTTPS=1\n")
    monkeypatch.setenv("CRM_ENV_FILE", path)
    monkeypatch.setenv("CHURN_MONTHS", "4")
    app = create_app({"LOCKOUT_ATTEMPTS": 9})
    assert app.config["DATABASE_URL"] == f"sqlite:///{tmp_path}/from-file.db"
    assert db.obj.database == f"{tmp_path}/from-file.db"  # the database it opened
    assert (app.config["CHURN_MONTHS"], app.config["LOCKOUT_ATTEMPTS"]) == (4, 9)
    assert app.config["SESSION_COOKIE_SECURE"]  # HTTPS=1 of the file took effect
    # Both secrets configured: no secrets.json is written.
    assert (app.config["SECRET_KEY"], app.config["SECURITY_PASSWORD_SALT"]) == (
        "file-key", "file-salt")
    assert not os.path.exists(os.path.join(app.instance_path, "secrets.json"))


def test_a_secret_left_unset_is_generated_into_secrets_json_and_said_so(fresh_app, tmp_path,
                                                                        monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    app = fresh_app()
    path = os.path.join(app.instance_path, "secrets.json")
    sources = app.extensions["crm_settings"].sources
    assert sources["SECRET_KEY"] == "environment" and sources["SECURITY_PASSWORD_SALT"] == path
    assert app.config["SECRET_KEY"] == "from-the-environment"
    assert app.config["SECURITY_PASSWORD_SALT"] and os.path.exists(path)  # flask backup saves it


def test_older_names_are_still_read_and_the_plain_name_wins():
    values = config.load({"CRM_HTTPS": "1", "FLASK_CHURN_MONTHS": "5",
                          "FLASK_SECURITY_PASSWORD_SALT": "old", "FLASK_LOCKOUT_MINUTES": "3",
                          "LOCKOUT_MINUTES": "20"}).values
    assert values["HTTPS"] is True and values["CHURN_MONTHS"] == 5
    assert values["SECURITY_PASSWORD_SALT"] == "old" and values["LOCKOUT_MINUTES"] == 20


def test_any_other_flask_setting_can_be_given_with_flask_s_prefix(fresh_app, monkeypatch):
    monkeypatch.setenv("FLASK_MAX_CONTENT_LENGTH", "12345")
    monkeypatch.setenv("FLASK_SESSION_COOKIE_NAME", "crm_session")
    app = fresh_app()
    assert app.config["MAX_CONTENT_LENGTH"] == 12345  # JSON-decoded, as Flask does
    assert app.config["SESSION_COOKIE_NAME"] == "crm_session"


@pytest.mark.parametrize("name, value, reason", [
    ("PROXY_COUNT", "one", "expected a whole number"),
    ("PROXY_COUNT", "-1", "expected at least 0"),
    ("BACKUP_KEEP", "0", "expected at least 1"),
    ("HTTPS", "maybe", "expected 1 or 0"),
    ("TIMEZONE", "Mars/Olympus", "not a time zone"),
    ("LOG_LEVEL", "LOUD", "expected DEBUG"),
])
def test_a_value_that_cannot_be_used_stops_the_start_naming_it(name, value, reason):
    with pytest.raises(config.SettingError) as refused:
        config.load({name: value})
    assert str(refused.value).startswith(f"{name}={value!r} (from environment): {reason}")


def test_an_env_file_named_but_missing_stops_the_start(tmp_path):
    with pytest.raises(config.SettingError, match="CRM_ENV_FILE=.*no such file"):
        config.load({"CRM_ENV_FILE": str(tmp_path / "typo.env")})


def test_the_settings_table_of_deploy_md_lists_every_setting_and_nothing_else():
    text = open(os.path.join(REPO, "docs", "DEPLOY.md"), encoding="utf-8").read()
    section = text.split("### Settings", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| `([A-Z_]+)`", section, re.M)
    assert sorted(rows) == sorted(s.name for s in config.SETTINGS)
    example = open(os.path.join(REPO, "deploy", "crm.env.example"), encoding="utf-8").read()
    for name in re.findall(r"^#?([A-Z_]+)=", example, re.M):
        assert name in config.BY_NAME, f"crm.env.example names {name}, which is no setting"


# -- commands need an installed database ---------------------------------------------------

SETUP = {"init-db", "restore"}  # they make a database usable


def test_every_command_but_init_db_and_restore_refuses_a_database_without_tables(app):
    ours = {name: command for name, command in app.cli.commands.items()
            if command.callback.__module__.split(".")[0] in ("seed", "admin_views")}
    assert {"detect-churn", "import-orders", "backup", "create-user"} < set(ours)
    for name, command in ours.items():
        assert getattr(command.callback, "needs_schema", False) == (name not in SETUP), name


def unconfigured_app(tmp_path, monkeypatch):
    """An app as cron would start it: no DATABASE_URL, no env file, the default SQLite file."""
    monkeypatch.setenv("CRM_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.delenv("CRM_ENV_FILE")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return create_app({"SECRET_KEY": "k", "SECURITY_PASSWORD_SALT": "s"})


def test_without_a_configured_database_business_commands_refuse_and_write_nothing(
        fresh_app, tmp_path, monkeypatch):
    app = unconfigured_app(tmp_path, monkeypatch)
    cli = app.test_cli_runner()
    orders = tmp_path / "orders.csv"
    orders.write_text("订单号\n", encoding="utf-8")
    for args in (["detect-churn"], ["import-orders", str(orders)], ["backup"],
                 ["create-user", "boss", "--full-name", "老板", "--password", "blue-harbor-7"]):
        result = cli.invoke(args=args)
        assert result.exit_code == 1, (args, result.output)
        assert "no database is configured: DATABASE_URL is set neither in the environment " \
               f"nor in the env file ({tmp_path}/instance/crm.env, which does not exist)" \
               in result.output, result.output
        assert "flask init-db" in result.output
    assert schema.is_new(db.obj)  # not a table was created
    assert not os.path.exists(tmp_path / "instance" / "backups")
    assert cli.invoke(args=["init-db"]).exit_code == 0  # init-db is how a database is made
    assert cli.invoke(args=["detect-churn"]).exit_code == 0


def test_a_configured_database_without_tables_is_refused_too(fresh_app, tmp_path):
    cli = fresh_app(DATABASE_URL=f"sqlite:///{tmp_path}/empty.db").test_cli_runner()
    result = cli.invoke(args=["detect-churn"])
    assert result.exit_code == 1
    assert f"the database sqlite:///{tmp_path}/empty.db has no tables yet: run `flask init-db`" \
        in result.output


def test_the_cron_line_with_the_env_file_sees_the_service_database(fresh_app, tmp_path):
    """The finding: cron has no exported DATABASE_URL. With CRM_ENV_FILE (and nothing else
    of the service's environment), `flask detect-churn` uses the database of the env file —
    PostgreSQL when the suite runs there — and creates no SQLite file."""
    url = scratch_database(tmp_path, "cron")
    assert fresh_app(DATABASE_URL=url).test_cli_runner().invoke(args=["init-db"]).exit_code == 0
    db.close()
    path = env_file(tmp_path, f"CRM_INSTANCE_PATH={tmp_path}/var\nDATABASE_URL={url}\n")
    cron = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "CRM_ENV_FILE": path}
    result = subprocess.run([sys.executable, "-m", "flask", "detect-churn"], cwd=REPO,
                            env=cron, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "churn warning(s) opened" in result.stdout
    assert not os.path.exists(f"{tmp_path}/var/crm.db")


def test_postgresql_plans_for_a_database_on_ssd_unless_the_url_says_otherwise():
    plain = open_database("postgresql://postgres@127.0.0.1:5432/crm")
    assert plain.connect_params["options"] == "-c random_page_cost=1.1"
    tuned = open_database("postgresql://postgres@127.0.0.1:5432/crm"
                          "?options=-c%20random_page_cost%3D2%20-c%20work_mem%3D8MB")
    assert tuned.connect_params["options"] == "-c random_page_cost=2 -c work_mem=8MB"
    other = open_database("postgresql://postgres@127.0.0.1:5432/crm"
                          "?options=-c%20synchronous_commit%3Doff")
    assert other.connect_params["options"] == \
        "-c synchronous_commit=off -c random_page_cost=1.1"
