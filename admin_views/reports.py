"""统计报表 pages. The four reports are gated here; their queries come in models/reports.py."""
from flask_admin import expose

from .base import CrmView, _l


class ReportView(CrmView):
    def __init__(self, permission, **kwargs):
        super().__init__(**kwargs)
        self.permission = permission

    @expose("/")
    def index(self):
        return self.render("admin/report.html", title=self.name)


def views():
    category = _l("统计报表")
    return [
        ReportView(f"reports.{slug}", name=name, category=category, endpoint=f"report_{slug}",
                   url=f"/admin/reports/{slug}")
        for slug, name in (
            ("contribution", _l("客户贡献分析")),
            ("composition", _l("客户构成分析")),
            ("service", _l("客户服务分析")),
            ("churn", _l("客户流失分析")),
        )
    ]
