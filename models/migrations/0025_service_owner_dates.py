"""Indexes for a 客户经理's service lists (issue 9).

His services are those he created or was assigned (``ServiceRequest.owned_by``: an OR),
and each workflow list holds one status of them (服务创建 新创建, 服务处理 已分配, 服务反馈
已处理) in 创建时间 order. Through the keys' single-column indexes every such page read
all his 2,000 services of each side to keep one status and sort them (3–5 ms of SQL on
SQLite). (created_by_id, status, created_at) and (assigned_to_id, status, created_at)
hand each side's rows of one status in order, and count them from the index alone. They
replace the two single-column indexes and (assigned_to_id, status) of 0015, whose
look-ups (a user's services, his open ones, the foreign keys' checks) they answer too.
"""

TABLE = "service_request"
ADDED = (("created_by_id", "status", "created_at"), ("assigned_to_id", "status", "created_at"))
REPLACED = {"servicerequest_created_by_id": ("created_by_id",),
            "servicerequest_assigned_to_id": ("assigned_to_id",),
            "service_request_assigned_to_id_status": ("assigned_to_id", "status")}


def up(migrator, db):
    migrator.migrate(*[migrator.add_index(TABLE, columns, False) for columns in ADDED],
                     *[migrator.drop_index(TABLE, name) for name in REPLACED])


def down(migrator, db):
    # the names of the indexes replaced, as their migrations gave them
    for name, columns in REPLACED.items():
        db.execute_sql(f'CREATE INDEX "{name}" ON "{TABLE}" ({", ".join(columns)})')
    migrator.migrate(*[migrator.drop_index(TABLE, "_".join((TABLE, *columns)))
                       for columns in ADDED])
