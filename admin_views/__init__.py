"""The admin panel: one ``Admin`` per app, its home page and the whole menu.

Menu categories follow SPEC.md's module order; each user sees only the items
his roles grant (Flask-Admin hides inaccessible views and empty categories).
"""
import os

from flask import redirect, request, url_for
from flask_admin import Admin, AdminIndexView, expose
from flask_admin.theme import Bootstrap4Theme
from flask_security import current_user

from . import basedata, customers, home, marketing, reports, security, service
from .base import _l, user_can

MODULES = [marketing, customers, service, reports, basedata, security]


class HomeView(AdminIndexView):
    """工作台, the page after login: the work waiting for the user (admin_views/home.py)."""

    def is_accessible(self):
        return current_user.is_authenticated

    def inaccessible_callback(self, name, **kwargs):
        return redirect(url_for("security.login", next=request.full_path))

    @expose("/")
    def index(self):
        granted = any(item.is_category() and item.get_children() for item in self.admin.menu())
        return self.render("admin/home.html", board=home.board(), granted=granted,
                           figures=home.figures(),
                           load=home.manager_load() if user_can("marketing.opportunity.assign")
                           else None,
                           administration=home.administration() if user_can("security.user")
                           else None,
                           audit=home.latest_audit() if user_can("security.audit") else None)


def init_admin(app):
    admin = Admin(
        app, name=_l("客户关系管理系统"),
        index_view=HomeView(name=_l("首页"), url="/admin"),
        theme=Bootstrap4Theme(base_template="admin/crm_base.html", swatch="default",
                              fluid=True),  # lists use the screen's width
        # Our "admin" catalog fills what Flask-Admin's own Chinese one lacks.
        translations_path=os.path.join(app.root_path, "translations"),
        # Every script tag of Flask-Admin's templates and ours carries the request's
        # CSP nonce (app.py: _secure_headers).
        csp_nonce_generator=app.jinja_env.globals["csp_nonce"],
    )
    # the to-do badge of the navbar, on every page (counted only where a page shows it)
    app.context_processor(lambda: {"crm_todo": home.todo_badge})
    app.cli.add_command(home.send_digest)
    for module in MODULES:
        for view in module.views():
            admin.add_view(view)
        for command in getattr(module, "commands", list)():
            app.cli.add_command(command)
    return admin
