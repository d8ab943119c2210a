"""Indexes for the lists at scale (ARCHITECTURE.md, "Lists at scale").

- "order" (customer_id, date, status): a customer's orders by date (his 历史订单), and a
  客户经理's order list (by 状态 too), which sorts the (date, id) pairs of his customers'
  orders read from this index alone before reading the page's rows.
- activity (customer_id, date): a customer's 交往记录 by date.
- "user" (full_name): lists sorted by 客户经理 (or 指派给, 处理人) walk the users in name
  order and each one's rows by the foreign key's index, stopping after a page.
- service_request (created_at, satisfaction): the home page's average 满意度 of a period
  from this index alone.
"""

INDEXES = [("order", ("customer_id", "date", "status")), ("activity", ("customer_id", "date")),
           ("user", ("full_name",)), ("service_request", ("created_at", "satisfaction"))]


def up(migrator, db):
    migrator.migrate(*[migrator.add_index(table, columns, False) for table, columns in INDEXES])


def down(migrator, db):
    migrator.migrate(*[migrator.drop_index(table, "_".join((table, *columns)))
                       for table, columns in INDEXES])
