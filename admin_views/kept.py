"""What a page computes from rows that seldom change, kept in this process until they do
(models/versions.py: the data versions that triggers move)."""
from flask import current_app, g

from models import db, versions


def kept(name, who, key, compute):
    """``compute()`` — a value computed from the rows of data version ``name`` —, kept
    until those rows change. ``who`` names what else it depends on (a user, a language).
    The version is read once per request."""
    seen = g.setdefault("crm_versions", {})
    if name not in seen:
        seen[name] = versions.current(db.obj, name)
    cache = current_app.extensions.setdefault("crm_kept", {}).setdefault(name, versions.Kept())
    return cache.get(seen[name], who, key, compute)
