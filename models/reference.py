"""Changing the reference data of an installation that runs: the steps a migration takes.

A new installation gets the reference data of its release once, when its schema is
created (``seed/reference.py``). From then on the roles' grants and the dictionary are
the administrator's: upgrading never loads them again. What a new release changes in
them is a numbered migration (``models/migrations``) made of these steps, each stated
as data and applied to what the installation holds now:

- ``grant_where_held(db, "security.user", "security.user.unlock")``: the roles that hold
  ``security.user`` today also get the new permission (a role whose ``security.user``
  the administrator revoked does not);
- ``rename_permission(db, "old.code", "new.code")``: in every role, seeded or the
  administrator's, with its scope, and in the history of 权限分配;
- ``revoke_everywhere(db, "retired.code")``: a permission the release removes;
- ``add_dictionary_entries(db, [...])``: entries a release adds; an entry already
  there (by 类别 and 条目) is left as the administrator has it.

None of them re-creates what the administrator deleted, nor undoes what he changed.
Migrations are frozen, so these steps read and write the tables by name (no model
class, no check against today's permission catalogue): a migration written for one
release still means the same after later releases rename or remove codes. Grants are
stored as in ``Role.permissions``: ``code`` or ``code:scope``, comma-joined, sorted.
"""
from peewee import Table

SAME = object()  # grant_where_held: the new grant takes the scope of the one held


def _roles(db):
    return Table("role", ("id", "permissions")).bind(db)


def _split(stored):
    return [g.strip() for g in (stored or "").split(",") if g.strip()]


def _code(grant):
    return grant.partition(":")[0]


def _rewrite_roles(db, change):
    """Apply ``change(grants) -> grants`` to every role; write only the roles it changes.
    Returns how many roles changed."""
    role = _roles(db)
    changed = 0
    for row in list(role.select(role.id, role.permissions).dicts()):
        before = _split(row["permissions"])
        after = sorted(set(change(list(before))))
        if after != sorted(set(before)):
            role.update(permissions=",".join(after)).where(role.id == row["id"]).execute()
            changed += 1
    return changed


def grant_where_held(db, held, grant, scope=SAME):
    """Every role holding ``held`` (with any scope) gets ``grant`` as well.

    ``scope``: SAME (the scope ``held`` has in that role; none if it has none), None
    for an unscoped permission, or "own"/"all". A role already holding ``grant`` keeps
    the scope it has. Returns how many roles changed.
    """
    def change(grants):
        codes = {_code(g): g for g in grants}
        if held not in codes or grant in codes:
            return grants
        given = (codes[held].partition(":")[2] or None) if scope is SAME else scope
        return grants + [f"{grant}:{given}" if given else grant]
    return _rewrite_roles(db, change)


def rename_permission(db, old, new):
    """``old`` becomes ``new`` in every role, keeping its scope, and in the recorded grant
    changes (权限分配's history names the permission as it is called now). A role that
    already holds ``new`` keeps that grant. Returns how many roles changed."""
    def change(grants):
        codes = {_code(g) for g in grants}
        renamed = []
        for g in grants:
            code, colon, scope = g.partition(":")
            if code != old:
                renamed.append(g)
            elif new not in codes:
                renamed.append(new + colon + scope)
        return renamed
    changed = _rewrite_roles(db, change)
    history = Table("permission_change", ("id", "permission")).bind(db)
    history.update(permission=new).where(history.permission == old).execute()
    return changed


def revoke_everywhere(db, code):
    """A permission the release retires leaves every role. Returns how many changed."""
    return _rewrite_roles(db, lambda grants: [g for g in grants if _code(g) != code])


def add_dictionary_entries(db, entries):
    """Add ``(category, item, value, editable)`` entries that are not there yet (by 类别
    and 条目); one that is keeps the administrator's value. Returns how many were added."""
    table = Table("dictionary_entry", ("id", "category", "item", "value", "editable")).bind(db)
    present = set(table.select(table.category, table.item).tuples())
    missing = [{"category": c, "item": i, "value": v, "editable": e}
               for c, i, v, e in entries if (c, i) not in present]
    if missing:
        table.insert(missing).execute()
    return len(missing)
