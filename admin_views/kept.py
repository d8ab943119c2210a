"""What a page computes from rows that seldom change, kept in this process until they do
(models/versions.py: the data versions that triggers move)."""
from flask import current_app, g

from models import db, versions


def kept(name, who, key, compute):
    """``compute()`` — a value computed from the rows of data version ``name`` —, kept
    until those rows change. ``who`` names what else it depends on (a user, a language).
    The versions are read once per request, all in one statement."""
    if "crm_versions" not in g:
        g.crm_versions = versions.current(db.obj)
    cache = current_app.extensions.setdefault("crm_kept", {}).setdefault(name, versions.Kept())
    return cache.get(g.crm_versions.get(name), who, key, compute)
