"""The admin panel: one ``Admin`` per app, its home page and the whole menu.

Menu categories follow SPEC.md's module order; each user sees only the items
his roles grant (Flask-Admin hides inaccessible views and empty categories).
"""
import os

from flask import current_app, redirect, request, url_for
from flask_admin import Admin, AdminIndexView, expose
from flask_admin.theme import Bootstrap4Theme
from flask_babel import get_locale
from flask_security import current_user
from markupsafe import Markup

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


MENUS_KEPT = 2000  # rendered menus kept per process (grants × languages × pages)


def main_menu(render):
    """The navbar's menu — ``render``, Flask-Admin's ``layout.menu`` — as it was rendered
    for the same grants, language and page. It depends on nothing else: an item is shown
    by its view's permission (``is_accessible``), marked by the page it is on, and named
    in the language; rendering it asked each of ~30 views (0.7 ms a page)."""
    user = current_user._get_current_object()
    key = (user.is_authenticated and user.grant_items(), str(get_locale()),
           request.endpoint, request.script_root)
    menus = current_app.extensions.setdefault("crm_menus", {})
    if key not in menus:
        if len(menus) >= MENUS_KEPT:
            menus.clear()
        menus[key] = Markup(render())
    return menus[key]


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
    # the to-do badge of the navbar, on every page (counted only where a page shows it),
    # and the menu, rendered once per grants, language and page
    app.context_processor(lambda: {"crm_todo": home.todo_badge, "crm_menu": main_menu})
    app.cli.add_command(home.send_digest)
    for module in MODULES:
        for view in module.views():
            admin.add_view(view)
        for command in getattr(module, "commands", list)():
            app.cli.add_command(command)
    return admin
