"""The production install of docs/DEPLOY.md, as far as a machine without systemd as PID 1
allows: the demo never reaches a real database, owner-only files, the locks, ``make
install-prod``, the systemd units (``systemd-analyze verify``), nginx (``nginx -t``, then
serving the app over HTTPS in front of the unit's own gunicorn command), ``deploy/crm-flask``,
and every command and file the document names.

What cannot run here: ``deploy/install.sh`` itself (it adds a system user and starts units
with systemctl, and this sandbox has no systemd manager); it is checked as shell, and every
file and command it uses is checked to exist.
"""
import configparser
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import time
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from models import db, schema

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEPLOY = os.path.join(REPO, "deploy")
UNITS = ["crm.service", "crm-churn.service", "crm-churn.timer", "crm-backup.service",
         "crm-backup.timer"]
TEST_TOOLS = {"pytest", "pytest-xdist", "playwright", "ruff", "uv"}


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{command}: {result.stdout}\n{result.stderr}"
    return result


# -- the demo stays the demo --------------------------------------------------------------

def test_init_db_refuses_the_demo_data_outside_the_demo_database(fresh_app, tmp_path):
    app = fresh_app(DATABASE_URL=f"sqlite:///{tmp_path}/production.db")  # named by DATABASE_URL
    cli = app.test_cli_runner()
    refused = cli.invoke(args=["init-db", "--demo-if-new"])
    assert refused.exit_code == 1 and "refusing to load the demo data" in refused.output
    assert schema.is_new(db.obj)  # nothing at all was written
    forced = cli.invoke(args=["init-db", "--demo-if-new", "--force-demo"])
    assert forced.exit_code == 0 and "demo data loaded" in forced.output


def test_make_run_asks_for_the_demo_only_with_demo_1():
    def init_db_line(*args):
        out = run(["make", "-n", "run", *args], cwd=REPO).stdout
        return next(line for line in out.splitlines() if "init-db" in line)
    assert "--demo-if-new" in init_db_line() and "--force-demo" not in init_db_line()
    assert "--force-demo" in init_db_line("DEMO=1")


# -- files only their owner reads ---------------------------------------------------------

def test_the_instance_folder_database_and_secrets_are_owner_only(fresh_app, tmp_path):
    app = fresh_app(DATABASE_URL=f"sqlite:///{tmp_path}/instance/crm.db")
    app.test_cli_runner().invoke(args=["init-db"])
    database = tmp_path / "instance" / "crm.db"
    db.connect(reuse_if_open=True)
    db.execute_sql("INSERT INTO product (name, model, batch, unit, price) "
                   "VALUES ('p', 'm', 'b', '台', 1)")  # a write: -wal and -shm exist
    assert mode(app.instance_path) == 0o700
    assert mode(os.path.join(app.instance_path, "secrets.json")) == 0o600
    for name in (database, f"{database}-wal", f"{database}-shm"):
        assert mode(name) == 0o600, name
    db.close()


def test_files_an_older_version_left_readable_are_narrowed(fresh_app, tmp_path):
    instance, data = tmp_path / "instance", tmp_path / "data"
    for folder in (instance, data):
        folder.mkdir()
        os.chmod(folder, 0o755)
    old = data / "old.db"
    old.write_bytes(b"")
    os.chmod(old, 0o644)
    fresh_app(DATABASE_URL=f"sqlite:///{old}")
    assert mode(instance) == 0o700 and mode(old) == 0o600
    assert mode(data) == 0o755  # a folder the database merely lies in is left alone


# -- the locks ------------------------------------------------------------------------------

def pins(name):
    """{canonical name: version} of a lock file."""
    found = {}
    for line in open(os.path.join(REPO, name), encoding="utf-8"):
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            requirement = Requirement(line)
            found[canonicalize_name(requirement.name)] = str(requirement.specifier)[2:]
    return found


def requirements(name):
    found = []
    for line in open(os.path.join(REPO, name), encoding="utf-8"):
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            found.append(Requirement(line))
    return found


def test_the_lock_pins_every_runtime_package_transitively_and_no_test_tool():
    lock = pins("requirements.lock")
    for requirement in requirements("requirements.txt"):  # the same pins as requested
        assert lock.get(canonicalize_name(requirement.name)) == str(
            requirement.specifier)[2:], f"{requirement}: run make lock"
    assert not TEST_TOOLS & set(lock)
    # Complete: every requirement of every locked package (with the extras asked for) is
    # locked, so `pip install --no-deps -r requirements.lock` misses nothing.
    todo = [(canonicalize_name(r.name), set(r.extras)) for r in requirements("requirements.txt")]
    seen = set()
    while todo:
        name, extras = todo.pop()
        if (name, frozenset(extras)) in seen:
            continue
        seen.add((name, frozenset(extras)))
        for text in metadata.requires(name) or []:
            needed = Requirement(text)
            if needed.marker and not any(needed.marker.evaluate({"extra": extra})
                                         for extra in (extras or {""})):
                continue
            key = canonicalize_name(needed.name)
            assert key in lock, f"{name} needs {needed}, which requirements.lock lacks"
            todo.append((key, set(needed.extras)))
    assert {name for name, _ in seen} == set(lock)  # and nothing that is not needed


def test_the_development_install_is_the_lock():
    dev, lock = pins("requirements-dev.lock"), pins("requirements.lock")
    assert {name: dev[name] for name in lock} == lock  # the runtime pins are the same
    assert TEST_TOOLS <= set(dev)
    for requirement in requirements("requirements-dev.txt"):
        assert dev[canonicalize_name(requirement.name)] == str(requirement.specifier)[2:]
    installed = {canonicalize_name(d.metadata["Name"]): d.version
                 for d in metadata.distributions()}
    assert {name: installed.get(name) for name in dev} == dev  # .venv runs the locked set


def test_make_install_prod_installs_the_lock_alone_and_the_app_starts(tmp_path):
    copy = tmp_path / "crm"
    files = run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO).stdout
    for name in filter(None, files.split("\0")):
        if os.path.isfile(os.path.join(REPO, name)):
            os.makedirs(copy / os.path.dirname(name), exist_ok=True)
            shutil.copy2(os.path.join(REPO, name), copy / name)
    run(["make", "--no-print-directory", "install-prod", "PYTHON=python3"], cwd=copy)

    python = str(copy / ".venv" / "bin" / "python")
    listed = json.loads(run([python, "-m", "pip", "list", "--format=json"]).stdout)
    installed = {canonicalize_name(p["name"]): p["version"] for p in listed}
    assert {k: v for k, v in installed.items() if k not in ("pip", "setuptools")} == pins(
        "requirements.lock")  # nothing else, no test tool
    env = {**os.environ, "CRM_INSTANCE_PATH": str(tmp_path / "instance"), "FLASK_APP": "app"}
    env.pop("DATABASE_URL", None)
    run([str(copy / ".venv" / "bin" / "flask"), "init-db"], cwd=copy, env=env)
    started = run([python, "-c", "from app import create_app; "
                   "print(create_app().test_client().get('/healthz').status_code)"],
                  cwd=copy, env=env)
    assert started.stdout.strip() == "200"
    assert (copy / "translations" / "en" / "LC_MESSAGES" / "messages.mo").exists()


# -- systemd units ---------------------------------------------------------------------------

def unit(name):
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str
    parser.read(os.path.join(DEPLOY, name))
    return parser


def test_the_units_pass_systemd_analyze_verify(tmp_path, app):
    """`systemd-analyze verify` checks syntax, keys and that every ExecStart program exists
    (with /srv/crm pointed at this checkout); it cannot start them without a systemd manager."""
    for name in UNITS:
        text = open(os.path.join(DEPLOY, name), encoding="utf-8").read()
        (tmp_path / name).write_text(text.replace("/srv/crm", REPO))
    tool = shutil.which("systemd-analyze")
    assert tool, "systemd-analyze is missing: make test installs Debian's systemd package"
    result = subprocess.run([tool, "verify", *[str(tmp_path / n) for n in UNITS]],
                            capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout + result.stderr, result.stderr

    commands = set(app.cli.commands)
    for name in UNITS:
        if name.endswith(".timer"):
            assert os.path.exists(os.path.join(DEPLOY, name.replace(".timer", ".service")))
            assert unit(name)["Timer"]["Persistent"] == "true"
            continue
        service = unit(name)["Service"]
        assert service["EnvironmentFile"] == "/etc/crm/crm.env"  # one configuration for all
        assert (service["User"], service["UMask"], service["StateDirectoryMode"]) == (
            "crm", "0077", "0700")
        program, *args = shlex.split(service["ExecStart"])
        if program.endswith("/flask"):
            assert args[0] in commands, f"{name}: flask {args[0]} does not exist"
        else:
            assert program.endswith("/gunicorn") and args[-1] == "app:create_app()"


# -- nginx in front of the unit's gunicorn ------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nginx_binary():
    unpacked = os.path.join(REPO, ".cache", "nginx", "usr", "sbin", "nginx")
    found = unpacked if os.path.exists(unpacked) else shutil.which("nginx")
    assert found, "nginx is missing: make test unpacks Debian's package into .cache/nginx"
    return found


def nginx_tree(tmp_path, http, https, backend):
    """Debian's nginx.conf and our site in a scratch /etc/nginx, on local ports, with a
    throwaway self-signed certificate."""
    binary = nginx_binary()
    etc = tmp_path / "etc" / "nginx"
    debian = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(binary))),
                          "etc", "nginx")
    shutil.copytree(debian if os.path.isdir(debian) else "/etc/nginx", etc, symlinks=True)
    for folder in ("log", "tls", "temp"):
        (tmp_path / folder).mkdir()
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=crm.example.com", "-keyout", str(tmp_path / "tls" / "privkey.pem"),
         "-out", str(tmp_path / "tls" / "fullchain.pem")])

    def local(text):
        return (text.replace("/etc/nginx", str(etc)).replace("/var/log/nginx",
                                                             str(tmp_path / "log"))
                .replace("/run/nginx.pid", str(tmp_path / "nginx.pid"))
                .replace("/etc/crm/tls", str(tmp_path / "tls")))
    main = etc / "nginx.conf"
    main.write_text(local(main.read_text()))
    temp = tmp_path / "temp"
    (etc / "conf.d" / "temp.conf").write_text("".join(
        f"{kind}_temp_path {temp}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")))
    site = local(open(os.path.join(DEPLOY, "nginx.conf"), encoding="utf-8").read())
    site = re.sub(r"listen \[::\]:\d+[^;]*;", "", site)
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http};").replace(
        "listen 443 ", f"listen 127.0.0.1:{https} ").replace("127.0.0.1:8000",
                                                             f"127.0.0.1:{backend}")
    (etc / "sites-enabled" / "crm").write_text(site)
    return binary, main


def env_file(tmp_path):
    """deploy/crm.env.example as an administrator would fill it in."""
    path = tmp_path / "crm.env"
    path.write_text(open(os.path.join(DEPLOY, "crm.env.example"), encoding="utf-8").read() +
                    f"CRM_INSTANCE_PATH={tmp_path}/instance\n"
                    f"DATABASE_URL=sqlite:///{tmp_path}/instance/crm.db\n")
    return path


def read_env(path):
    pairs = (line.split("=", 1) for line in open(path, encoding="utf-8")
             if "=" in line and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def wait_for(port, path="/healthz", seconds=30):
    deadline = time.monotonic() + seconds
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", path)
            return connection.getresponse().status
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def stop(process):
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def test_nginx_serves_the_unit_s_gunicorn_over_https(tmp_path):
    """`nginx -t` on our site inside Debian's nginx.conf, then both really run: gunicorn with
    crm.service's ExecStart and the example env file, nginx in front of it."""
    http_port, https_port, backend = free_port(), free_port(), free_port()
    binary, main = nginx_tree(tmp_path, http_port, https_port, backend)
    base = [binary, "-p", str(tmp_path), "-c", str(main), "-e", "stderr"]
    tested = subprocess.run([*base, "-t"], capture_output=True, text=True)
    assert tested.returncode == 0 and "test is successful" in tested.stderr, tested.stderr

    # deploy/crm-flask, as the documentation uses it, prepares the database.
    configuration = env_file(tmp_path)
    helper_env = {**os.environ, "CRM_ENV_FILE": str(configuration), "CRM_USER": "root"}
    helper_env.pop("DATABASE_URL", None)
    run([os.path.join(DEPLOY, "crm-flask"), "init-db"], env=helper_env)
    made = run([os.path.join(DEPLOY, "crm-flask"), "backup"], env=helper_env)
    assert f"{tmp_path}/instance/backups/crm-backup-" in made.stdout
    assert mode(tmp_path / "instance") == 0o700

    service = unit("crm.service")["Service"]
    command = shlex.split(service["ExecStart"].replace("/srv/crm", REPO).replace(
        "127.0.0.1:8000", f"127.0.0.1:{backend}"))
    defaults = dict(pair.split("=", 1) for pair in shlex.split(service["Environment"]))
    env = {**os.environ, **defaults, **read_env(configuration)}
    env.pop("TEST_DATABASE_URL", None)
    gunicorn = subprocess.Popen(command, cwd=service["WorkingDirectory"].replace(
        "/srv/crm", REPO), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    nginx = None
    try:
        assert wait_for(backend) == 200
        nginx = subprocess.Popen([*base, "-g", "daemon off;"], stderr=subprocess.PIPE)
        wait_for(http_port, "/")
        insecure = ssl.create_default_context()
        insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE

        def over_https(path):
            connection = http.client.HTTPSConnection("127.0.0.1", https_port,
                                                     context=insecure, timeout=10)
            connection.request("GET", path, headers={"Host": "crm.example.com"})
            response = connection.getresponse()
            return response, response.read()

        health, body = over_https("/healthz")
        assert health.status == 200 and json.loads(body) == {"status": "ok"}
        # HSTS from the application (it reads X-Forwarded-Proto), once
        assert re.fullmatch(r"max-age=\d+", health.getheader("Strict-Transport-Security"))
        page, body = over_https("/login")
        assert page.status == 200 and "客户关系管理系统" in body.decode()
        assert "Secure" in page.getheader("Set-Cookie")  # CRM_HTTPS=1 of crm.env.example
        plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
        plain.request("GET", "/admin/", headers={"Host": "crm.example.com"})
        redirect = plain.getresponse()
        assert redirect.status == 301
        assert redirect.getheader("Location") == "https://crm.example.com/admin/"
    finally:
        if nginx:
            stop(nginx)
        stop(gunicorn)


# -- the scripts and the document -----------------------------------------------------------

def test_the_scripts_are_valid_shell_and_use_what_exists():
    for script in ("install.sh", "crm-flask"):
        path = os.path.join(DEPLOY, script)
        assert os.access(path, os.X_OK), f"{script} is not executable"
        run(["sh", "-n", path])
    install = open(os.path.join(DEPLOY, "install.sh"), encoding="utf-8").read()
    for name in re.findall(r'\$HOME_DIR"?/deploy/([\w.-]+)', install):
        assert os.path.exists(os.path.join(DEPLOY, name)), name
    for name in UNITS:
        assert name in install, f"install.sh does not install {name}"
    assert "make -C \"$HOME_DIR\" --no-print-directory install-prod" in install


def make_targets():
    text = open(os.path.join(REPO, "Makefile"), encoding="utf-8").read()
    return set(re.findall(r"^([\w-]+):", text, re.M))


def test_every_command_and_file_the_deploy_document_names_exists(app):
    text = open(os.path.join(REPO, "docs", "DEPLOY.md"), encoding="utf-8").read()
    code = "\n".join(re.findall(r"```sh\n(.*?)```", text, re.S) + re.findall(r"`([^`\n]+)`",
                                                                             text))
    commands, targets = set(app.cli.commands), make_targets()
    for name in re.findall(r"(?:crm-flask|flask) ([a-z][a-z-]+)", code):
        assert name in commands, f"flask {name}"
    for name in re.findall(r"make ([a-z][a-z-]+)", code):
        assert name in targets, f"make {name}"
    for name in re.findall(r"deploy/([\w.-]+[\w])", text):
        assert os.path.exists(os.path.join(DEPLOY, name)), name
    for name in re.findall(r"`(crm[\w-]*\.(?:service|timer))`", text):
        assert os.path.exists(os.path.join(DEPLOY, name)), name
    # every setting the code reads is in the settings table
    for setting in ("DATABASE_URL", "SECRET_KEY", "BACKUP_DIR", "BACKUP_KEEP",
                    "CRM_INSTANCE_PATH", "HTTPS", "PROXY_COUNT"):
        assert f"| `{setting}` |" in text, setting

