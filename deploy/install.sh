#!/bin/sh
# Install or upgrade the CRM as a service on Debian 12, as root, from its checkout in /srv/crm:
#   /srv/crm/deploy/install.sh crm.example.com
# Idempotent: run it again after every `git pull`. What it does is docs/DEPLOY.md, step by step.
set -eu
NAME=${1:?usage: deploy/install.sh SERVER_NAME   (the host name users type, e.g. crm.example.com)}
HOME_DIR=$(cd "$(dirname "$0")/.." && pwd)
[ "$HOME_DIR" = /srv/crm ] || { echo "the checkout must be /srv/crm (the unit files say so)"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "run it as root"; exit 1; }
umask 022

# 1. Debian's packages: Python's venv, make, nginx, openssl, pg_dump/pg_restore for backups.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    python3-venv make nginx openssl postgresql-client >/dev/null

# 2. The service user; it owns only its instance folder /var/lib/crm (systemd StateDirectory).
id crm >/dev/null 2>&1 || useradd --system --home-dir /var/lib/crm --shell /usr/sbin/nologin crm
install -d -m 0700 -o crm -g crm /var/lib/crm

# 3. The configuration shared by the service, its timers and deploy/crm-flask.
install -d -m 0750 -o root -g crm /etc/crm /etc/crm/tls
[ -e /etc/crm/crm.env ] || install -m 0640 -o root -g crm "$HOME_DIR/deploy/crm.env.example" /etc/crm/crm.env
# An env file of an earlier release lacks PROXY_COUNT: nginx, installed below, is the one proxy.
grep -qs 'PROXY_COUNT=' /etc/crm/crm.env ||
    printf '\n# added by deploy/install.sh: nginx is the one proxy in front\nPROXY_COUNT=1\n' >> /etc/crm/crm.env
if [ ! -e /etc/crm/tls/fullchain.pem ]; then  # until the real certificate replaces it
    openssl req -x509 -newkey rsa:2048 -nodes -days 90 -subj "/CN=$NAME" \
        -addext "subjectAltName=DNS:$NAME" -keyout /etc/crm/tls/privkey.pem \
        -out /etc/crm/tls/fullchain.pem 2>/dev/null
    chmod 0600 /etc/crm/tls/privkey.pem
fi

# 4. The application: runtime packages exactly as locked, then the schema and reference data.
make -C "$HOME_DIR" --no-print-directory install-prod
"$HOME_DIR/deploy/crm-flask" init-db

# 5. systemd units (the service, churn and backup timers) and the nginx site.
install -m 0644 "$HOME_DIR"/deploy/crm.service "$HOME_DIR"/deploy/crm-churn.service \
    "$HOME_DIR"/deploy/crm-churn.timer "$HOME_DIR"/deploy/crm-backup.service \
    "$HOME_DIR"/deploy/crm-backup.timer /etc/systemd/system/
sed "s/crm\.example\.com/$NAME/g" "$HOME_DIR/deploy/nginx.conf" > /etc/nginx/sites-available/crm
ln -sf /etc/nginx/sites-available/crm /etc/nginx/sites-enabled/crm
rm -f /etc/nginx/sites-enabled/default
nginx -t -q

systemctl daemon-reload
systemctl enable --quiet crm.service crm-churn.timer crm-backup.timer
systemctl restart crm.service
systemctl start crm-churn.timer crm-backup.timer
systemctl reload-or-restart nginx
echo "running: https://$NAME/ (health: https://$NAME/healthz)"
