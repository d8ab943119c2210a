"""Index 指派时间: the development list is sorted by it."""


def up(migrator, db):
    migrator.migrate(migrator.add_index('opportunity', ('assigned_at',), False))


def down(migrator, db):
    migrator.migrate(migrator.drop_index('opportunity', 'opportunity_assigned_at'))
