"""Every stored time becomes UTC (naive), the one way times are stored from now on.

Earlier releases stored business times — 创建时间, 指派时间, 分配/处理时间, 预警/确认流失时间,
every status change and permission change, a user's 创建时间 and his lockout — as the
server's local time (``datetime.now()``); Flask-Security's login times
(``last_login_at``, ``current_login_at``, ``confirmed_at``) were UTC already and are
left as they are.

The zone the old server ran in: ``UPGRADE_FROM_TIMEZONE`` (an IANA name such as
Asia/Shanghai) when set, else this process's local zone — right when the upgrade runs
on the server that wrote the times (its TZ or /etc/localtime). A server that ran in
UTC changes nothing. The runner applies a migration once, so the shift happens once.
"""
import datetime
import logging
import os
import zoneinfo

from peewee import DateTimeField, Model

# The columns of local time, frozen as they were when this migration was written.
LOCAL_TIMES = {
    "customer": ["created_at"],
    "churn_record": ["created_at", "confirmed_at"],
    "opportunity": ["created_at", "assigned_at"],
    "service_request": ["created_at", "assigned_at", "handled_at"],
    "status_change": ["changed_at"],
    "permission_change": ["changed_at"],
    "user": ["created_at", "last_failed_login_at", "locked_until"],
}
UTC = datetime.timezone.utc
log = logging.getLogger("crm.schema")


def to_utc(zone_name=None):
    """The conversion of a naive local time of ``zone_name`` (default: this process's
    local zone) to naive UTC."""
    if zone_name:
        zone = _zone(zone_name)
        return lambda wall: wall.replace(tzinfo=zone).astimezone(UTC).replace(tzinfo=None)
    return lambda wall: wall.astimezone(UTC).replace(tzinfo=None)  # naive = local time


def to_local(zone_name=None):
    """The opposite: naive UTC to a naive local time of ``zone_name`` (or this process's)."""
    zone = _zone(zone_name) if zone_name else None
    return lambda utc: utc.replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None)


def _zone(name):
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"UPGRADE_FROM_TIMEZONE={name!r} is not a time zone of the tz "
                         "database (e.g. Asia/Shanghai); nothing was converted") from None


def _zone_name():
    return os.environ.get("UPGRADE_FROM_TIMEZONE", "").strip() or None


def up(migrator, db):
    _convert(db, to_utc(_zone_name()), "converted to UTC from")


def down(migrator, db):
    _convert(db, to_local(_zone_name()), "converted from UTC back to")


def _convert(db, convert, done):
    changed = 0
    for table, columns in LOCAL_TIMES.items():
        frozen = _frozen(db, table, columns)
        for row in frozen.select(frozen.id, *[getattr(frozen, c) for c in columns]).tuples():
            new = {}
            for column, value in zip(columns, row[1:]):
                if isinstance(value, datetime.datetime):
                    try:
                        converted = convert(value)
                    except (OverflowError, ValueError):  # at the calendar's ends: kept
                        continue
                    if converted != value:
                        new[getattr(frozen, column)] = converted
            if new:
                frozen.update(new).where(frozen.id == row[0]).execute()
                changed += 1
    if changed:
        log.warning("stored times %s %s: %d rows", done,
                    _zone_name() or "this server's local zone", changed)


def _frozen(db, table, columns):
    """A model of ``table`` holding only its id and ``columns``, as they are in this step."""
    meta = type("Meta", (), {"database": db, "table_name": table})
    fields = {column: DateTimeField(null=True) for column in columns}
    return type(f"Frozen_{table}", (Model,), {**fields, "Meta": meta})
