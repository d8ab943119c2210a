"""Indexes for the home page's short lists (ARCHITECTURE.md, "工作台") and a 客户经理's
customer list.

- opportunity (status, created_at): the oldest unassigned opportunities, the first five
  read in order from the index (by status alone, every unassigned one was read and sorted:
  8 ms at 2,000).
- opportunity (status, assigned_at): the developments longest in development, likewise.
- customer (manager_id, status, number): a 客户经理's 正常 customers, counted and paged in
  客户编号 order from the index (by manager alone his 4,000 customers were read and
  sorted for each page: 6 ms).
"""

INDEXES = [("opportunity", ("status", "created_at")), ("opportunity", ("status", "assigned_at")),
           ("customer", ("manager_id", "status", "number"))]


def up(migrator, db):
    migrator.migrate(*[migrator.add_index(table, columns, False) for table, columns in INDEXES])


def down(migrator, db):
    migrator.migrate(*[migrator.drop_index(table, "_".join((table, *columns)))
                       for table, columns in INDEXES])
