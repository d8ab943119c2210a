"""An index for the service lists of one status, in 创建时间 order (issue 9).

service_request (status, created_at): 服务分配 lists the 2,000 新创建 services of 50,000,
which are the newest; through the 创建时间 index alone its page sorted by 创建时间 read
the 48,000 older ones first (33 ms), through this one it reads its 20 rows.
"""

INDEXES = [("service_request", ("status", "created_at"))]


def up(migrator, db):
    migrator.migrate(*[migrator.add_index(table, columns, False) for table, columns in INDEXES])


def down(migrator, db):
    migrator.migrate(*[migrator.drop_index(table, "_".join((table, *columns)))
                       for table, columns in INDEXES])
