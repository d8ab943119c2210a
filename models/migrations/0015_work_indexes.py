"""Indexes for the home page's counts of one user's work (ARCHITECTURE.md, "工作台").

- service_request (assigned_to_id, status): a 客户经理's services waiting for 处理 or
  反馈 (and each one's open services in the 销售主管's load), counted from this index
  alone instead of reading every service of that status.
- opportunity (assigned_to_id, status): the same for the opportunities he develops.
"""

INDEXES = [("service_request", ("assigned_to_id", "status")),
           ("opportunity", ("assigned_to_id", "status"))]


def up(migrator, db):
    migrator.migrate(*[migrator.add_index(table, columns, False) for table, columns in INDEXES])


def down(migrator, db):
    migrator.migrate(*[migrator.drop_index(table, "_".join((table, *columns)))
                       for table, columns in INDEXES])
