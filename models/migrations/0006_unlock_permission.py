"""解锁 (lifting a lockout) becomes a permission of its own, 解锁用户
(``security.user.unlock``): every role that manages users (holds ``security.user``)
gets it, so nobody loses the button with the upgrade; a role that does not, stays
without it. Reference data as a migration: see models/reference.py.
"""
from models.reference import grant_where_held, revoke_everywhere


def up(migrator, db):
    grant_where_held(db, "security.user", "security.user.unlock")


def down(migrator, db):
    revoke_everywhere(db, "security.user.unlock")
