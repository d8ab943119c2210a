"""导入批次: what an import did, so that it can be listed and undone; and the checked
files waiting for their user's confirmation.

An ``ImportBatch`` is written in the transaction of its import: who ran it, when, the
file's name, the mode, the counts, and what an undo needs (``changes``: the ids of the
records it created, and for each record it updated the fields it wrote, before and
after, as the database holds them — the audit log keeps the same changes as readable
labels, a 客户经理 by his name, which could not be written back). Every audit entry of
the import carries the batch's number (``audit.batch``), and so do those of its undo.

A batch is undone at most once (``status`` moves from done to undone by a conditional
update, so of two undos at once one wins), by the user who ran it or by an
administrator: whoever holds 权限分配 (``security.permission``), who could grant himself
the import anyway. The model says who may (``undoable_by``); whether the records are
unchanged since is the import's rule (models/customers/imports.py).

``PendingImports`` keeps a previewed file's checked rows on the server, in a file of
its own (0600, in a 0700 folder) named by a random token, until the user confirms or
it expires: the confirmation posts the token, never the rows.
"""
import contextlib
import json
import os
import re
import secrets
import time

from peewee import JOIN, CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from . import audit
from .base import N_, BaseModel, now, private_folder
from .security import User

UNDO_ANY = "security.permission"  # who may undo another user's import
ERP = "erp"  # the mode of an ERP import (orders, stock): listed in the log, never undone


class ImportBatch(BaseModel):
    DONE, UNDONE = "done", "undone"
    STATUS = {DONE: N_("已导入"), UNDONE: N_("已撤销")}

    entity = CharField(max_length=30)  # the table imported into (audit.ENTITIES)
    user = ForeignKeyField(User, null=True, backref="import_batches", on_delete="SET NULL")
    at = DateTimeField(default=now)
    file_name = CharField(max_length=255)
    mode = CharField(max_length=20)
    created = IntegerField(default=0)
    updated = IntegerField(default=0)
    skipped = IntegerField(default=0)
    status = CharField(max_length=10, default=DONE)
    undone_by = ForeignKeyField(User, null=True, backref="undone_imports", on_delete="SET NULL")
    undone_at = DateTimeField(null=True)
    changes = TextField(null=True)  # JSON {"created": [id…], "updated": {id: {field: [b, a]}}}

    audited = False  # itself a record of changes; the import and its undo are in the log

    class Meta:
        indexes = ((("entity", "at"), False),)

    def __str__(self):
        return self.file_name

    @property
    def written(self):
        """(ids created, {id: {field: (before, after)}} updated) by the import."""
        data = json.loads(self.changes or "{}")
        return (list(data.get("created", [])),
                {int(key): {field: tuple(pair) for field, pair in fields.items()}
                 for key, fields in data.get("updated", {}).items()})

    def undoable_by(self, user_id, administrator=False):
        """Whether the user ``user_id`` may undo this batch (not yet whether its records
        are unchanged): it is done, wrote something, and is his or he is an
        administrator (``administrator``: he holds UNDO_ANY)."""
        return (self.status == self.DONE and (self.created or self.updated) > 0
                and (administrator or (user_id is not None and self.user_id == user_id)))

    def finish(self, done):
        """An ERP import's counts (``done``: created, updated, unchanged), and its entry."""
        self.created, self.updated, self.skipped = done.created, done.updated, done.unchanged
        self.save()
        audit.record(audit.IMPORT, entity=self.entity, label=self.file_name or None, changes={
            name: [None, getattr(done, name)] for name in ("created", "updated", "unchanged")})

    @classmethod
    def recent(cls, entity, limit=20):
        """The latest batches of ``entity``, newest first, with who ran and undid them
        (not what they changed: ``changes`` may hold thousands of records)."""
        undoer = User.alias()
        listed = [field for field in cls._meta.sorted_fields if field is not cls.changes]
        return (cls.select(*listed, User, undoer)
                .join(User, on=(cls.user == User.id), join_type=JOIN.LEFT_OUTER)
                .switch(cls)
                .join(undoer, on=(cls.undone_by == undoer.id), join_type=JOIN.LEFT_OUTER)
                .where(cls.entity == entity).order_by(cls.at.desc(), cls.id.desc()).limit(limit))


@contextlib.contextmanager
def erp_batch(entity, source):
    """An ERP import of ``entity`` rows from the file ``source``, inside its transaction: a
    batch that tags every audit entry it writes; ``finish(done)`` counts it and writes its
    one 导入 entry. Never undone: the ERP's orders and stock are the ERP's (import again)."""
    batch = ImportBatch.create(entity=entity, user=audit.acting_user(), mode=ERP,
                               file_name=(source or "")[:255])
    with audit.batch(batch.id), audit.collected():
        yield batch


TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")


class PendingImports:
    """Checked uploads waiting for their confirmation, one JSON file each in ``folder``.

    ``put`` answers a token; ``take(token, user_id)`` hands the payload to the user who
    put it, once: the file is renamed away first (so of two confirmations of one token
    only one gets it), then read and removed. Files older than ``max_age`` seconds are
    removed by the next ``put``.
    """

    def __init__(self, folder, max_age=3600):
        self.folder, self.max_age = folder, max_age

    def _path(self, token, suffix=".json"):
        return os.path.join(self.folder, f"{token}{suffix}")

    def put(self, user_id, payload):
        private_folder(self.folder, narrow=True)
        self.sweep()
        token = secrets.token_urlsafe(32)
        descriptor = os.open(self._path(token), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump({"user": user_id, "at": time.time(), **payload}, file, ensure_ascii=False)
        return token

    def take(self, token, user_id):
        """The payload put under ``token`` by ``user_id``, removed; None when there is none
        (used, expired, another user's, or a crafted token)."""
        if not isinstance(token, str) or not TOKEN.fullmatch(token):
            return None
        path, claimed = self._path(token), self._path(token, f".{secrets.token_hex(8)}.taken")
        try:
            os.rename(path, claimed)
        except OSError:
            return None
        try:
            with open(claimed, encoding="utf-8") as file:
                payload = json.load(file)
        except (OSError, ValueError):
            return None
        finally:
            _remove(claimed)
        if payload.get("user") != user_id or time.time() - payload.get("at", 0) > self.max_age:
            return None
        return payload

    def sweep(self):
        """Remove the files of previews older than ``max_age`` (and leftovers of takes)."""
        try:
            names = os.listdir(self.folder)
        except OSError:
            return
        limit = time.time() - self.max_age
        for name in names:
            path = os.path.join(self.folder, name)
            try:
                if os.stat(path).st_mtime < limit:
                    os.remove(path)
            except OSError:
                continue


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


__all__ = ["UNDO_ANY", "ImportBatch", "PendingImports"]
